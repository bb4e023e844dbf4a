"""Spec v2, part C (price blocks and demand response): hand-derived numbers.

One mining site: 50 MW of ASICs at 20 J/TH, PUE 1, uptime 1; hashprice 40 USD/PH/day.
1 MW at 20 J/TH is 50 PH/s, so it earns 40 * 50 = 2,000 USD a day, 730,000 USD a year,
83.33 USD per MWh hashed: the break-even power price. A block priced above it is
curtailed, one below it hashes.
"""

from __future__ import annotations

from typing import Any

import pytest

import portfolio_opt

BTC_YEAR = 730_000.0  # USD per MW-year
BREAK_EVEN = BTC_YEAR / 8760.0  # 83.33 USD/MWh


def doc(price: Any, blocks: list[dict] | None, *, dr: dict | None = None,
        ai: bool = False) -> dict[str, Any]:
    site: dict[str, Any] = {
        "id": "a", "capacity_mw": 100,
        "grid": {"capacity_mw": 100, "price_usd_per_mwh": price},
        "btc": {"fleet_mw": 50, "efficiency_j_per_th": 20},
    }
    if dr:
        site["btc"]["demand_response"] = dr
    d: dict[str, Any] = {
        "name": "blocks", "horizon": {"periods": 1},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [site],
    }
    if blocks is not None:
        d["market"]["blocks"] = blocks
    if ai:
        site["ai"] = {"max_it_mw": 10, "existing_it_mw": 10, "block_it_mw": 10,
                      "capex_usd_per_it_mw": 0, "pue": 1.0}
        d["contracts"] = [{"id": "firm", "tenant": "t", "it_mw": {"min": 10, "max": 10},
                           "rate_usd_per_kw_month": 100, "start_period": 1,
                           "term_periods": 1, "committed": True}]
    return d


THREE = [{"id": "off", "hours_share": 0.7}, {"id": "peak", "hours_share": 0.25},
         {"id": "spike", "hours_share": 0.05}]


def solve(d: dict) -> Any:
    res = portfolio_opt.solve(d, profile="exact")
    assert res.status == "optimal", res.message
    return res


def by_block(res: Any, column: str) -> dict[str, float]:
    spb = res.site_period_blocks
    return dict(zip(spb["block"], spb[column], strict=True))


def test_break_even_price_by_hand():
    assert round(BREAK_EVEN, 3) == 83.333


@pytest.mark.parametrize(("spike", "hashes"), [(BREAK_EVEN - 0.5, True), (BREAK_EVEN + 0.5, False),
                                               (300.0, False)])
def test_curtails_exactly_in_blocks_above_break_even(spike, hashes):
    # off 50 and peak 80 are below 83.33: hash; the spike block hashes only below it.
    res = solve(doc({"off": 50, "peak": 80, "spike": spike}, THREE))
    mw = by_block(res, "btc_mw")
    assert mw["off"] == pytest.approx(50) and mw["peak"] == pytest.approx(50)
    assert mw["spike"] == pytest.approx(50 if hashes else 0, abs=1e-6)
    share = 0.95 + (0.05 if hashes else 0.0)
    energy = 50 * 8760 * (0.7 * 50 + 0.25 * 80 + (0.05 * spike if hashes else 0.0))
    assert res.objective_npv_usd == pytest.approx(BTC_YEAR * 50 * share - energy, rel=1e-9)
    # site_periods reports the share-weighted average
    assert res.site_periods["btc_mw"].iloc[0] == pytest.approx(50 * share)


def test_demand_response_credit_by_hand():
    # off 0.8 at 30 (hash), peak 0.2 at 200 (curtail). DR: 50,000 USD per MW-year, at most
    # 30 MW, and only where hashing: 30 MW in the off block, 0 in the curtailed peak.
    # DR_t = ypp * sum_b h_b * credit * dr = 0.8 * 50,000 * 30 = 1.2 MUSD.
    blocks = [{"id": "off", "hours_share": 0.8}, {"id": "peak", "hours_share": 0.2}]
    res = solve(doc({"off": 30, "peak": 200}, blocks,
                    dr={"credit_usd_per_mw_year": 50_000, "max_mw": 30}))
    assert by_block(res, "dr_mw") == pytest.approx({"off": 30, "peak": 0})
    assert res.cashflows["dr_credit"].iloc[0] == pytest.approx(1_200_000)
    npv = BTC_YEAR * 50 * 0.8 - 30 * 8760 * 50 * 0.8 + 1_200_000
    assert npv == pytest.approx(19_888_000)
    assert res.objective_npv_usd == pytest.approx(npv, rel=1e-12)
    assert res.site_periods["dr_mw"].iloc[0] == pytest.approx(24.0)  # 0.8 * 30


def test_demand_response_without_blocks_is_capped_by_the_hashing_load():
    # One implicit block; max_mw 80 > 50 MW * PUE 1.1 = 55 gross MW hashing.
    d = doc(30, None, dr={"credit_usd_per_mw_year": 20_000, "max_mw": 80})
    d["sites"][0]["btc"]["pue"] = 1.1
    res = solve(d)
    assert res.site_period_blocks is None  # no blocks, no site_period_blocks.csv
    assert res.cashflows["dr_credit"].iloc[0] == pytest.approx(20_000 * 55)
    assert res.objective_npv_usd == pytest.approx(
        BTC_YEAR * 50 - 55 * 8760 * 30 + 20_000 * 55, rel=1e-12)


def test_one_block_equals_v1():
    v1 = solve(doc(30, None))
    one = solve(doc({"all": 30}, [{"id": "all", "hours_share": 1.0}]))
    assert one.objective_npv_usd == pytest.approx(v1.objective_npv_usd, rel=1e-12)
    assert v1.objective_npv_usd == pytest.approx(BTC_YEAR * 50 - 50 * 8760 * 30)


def test_two_blocks_at_equal_prices_equal_v1():
    v1 = solve(doc(30, None, ai=True))
    two = solve(doc(30, [{"id": "x", "hours_share": 0.4}, {"id": "y", "hours_share": 0.6}],
                    ai=True))
    assert two.objective_npv_usd == pytest.approx(v1.objective_npv_usd, rel=1e-12)
    for col in ("btc_revenue", "energy_cost", "ai_revenue"):
        assert two.cashflows[col].iloc[0] == pytest.approx(v1.cashflows[col].iloc[0])


def test_blocks_beat_the_averaged_price():
    # Off 0.8 at 30 and peak 0.2 at 200 average to 64 USD/MWh, below break-even: with one
    # average price the site hashes all year, 730,000 * 50 - 64 * 8760 * 50 = 8.468 MUSD;
    # with the blocks it curtails the peak: 29.2 - 10.512 = 18.688 MUSD.
    blocks = [{"id": "off", "hours_share": 0.8}, {"id": "peak", "hours_share": 0.2}]
    averaged = solve(doc(64, None))
    blocked = solve(doc({"off": 30, "peak": 200}, blocks))
    assert averaged.objective_npv_usd == pytest.approx(8_468_000)
    assert blocked.objective_npv_usd == pytest.approx(18_688_000)
    assert blocked.objective_npv_usd > averaged.objective_npv_usd


def test_ai_load_is_firm_through_an_expensive_block():
    # 10 IT MW served in every block, 1,000 USD/MWh in the 5 % spike block included:
    # energy 10 * 8760 * (0.95 * 30 + 0.05 * 1000) = 6.877 MUSD; lease 12 MUSD;
    # mining curtails in the spike block only.
    blocks = [{"id": "base", "hours_share": 0.95}, {"id": "spike", "hours_share": 0.05}]
    res = solve(doc({"base": 30, "spike": 1000}, blocks, ai=True))
    assert by_block(res, "btc_mw") == pytest.approx({"base": 50, "spike": 0}, abs=1e-6)
    assert by_block(res, "grid_import_mw") == pytest.approx({"base": 60, "spike": 10})
    ai_energy = 10 * 8760 * (0.95 * 30 + 0.05 * 1000)
    assert ai_energy == pytest.approx(6_876_600)
    btc = BTC_YEAR * 50 * 0.95 - 50 * 8760 * 0.95 * 30
    assert res.objective_npv_usd == pytest.approx(12e6 - ai_energy + btc, rel=1e-12)


def test_block_prices_for_a_source_and_a_plain_series():
    # A source priced per block feeds a grid-less site over a lossless link; the site's
    # price is a plain series, the same in every block.
    blocks = [{"id": "off", "hours_share": 0.5}, {"id": "peak", "hours_share": 0.5}]
    d = doc(30, blocks)
    d["sites"].append({"id": "b", "capacity_mw": 50,
                       "btc": {"fleet_mw": 20, "efficiency_j_per_th": 20}})
    d["sources"] = [{"id": "wind", "capacity_mw": 40,
                     "price_usd_per_mwh": {"off": 10, "peak": 100}}]
    d["links"] = [{"from": "wind", "to": "b", "kind": "power", "capacity_mw": 40}]
    res = solve(d)
    mw = res.site_period_blocks.set_index(["site", "block"])["btc_mw"]
    assert mw["b", "off"] == pytest.approx(20) and mw["b", "peak"] == pytest.approx(0)
    npv = BTC_YEAR * 50 - 50 * 8760 * 30 + 0.5 * (BTC_YEAR * 20 - 20 * 8760 * 10)
    assert res.objective_npv_usd == pytest.approx(npv, rel=1e-12)


def test_site_period_blocks_file_only_with_blocks(tmp_path):
    blocks = [{"id": "off", "hours_share": 0.8}, {"id": "peak", "hours_share": 0.2}]
    solve(doc({"off": 30, "peak": 200}, blocks)).write(tmp_path)
    assert (tmp_path / "site_period_blocks.csv").is_file()
    solve(doc(30, None)).write(tmp_path)
    assert not (tmp_path / "site_period_blocks.csv").exists()  # stale file removed


@pytest.mark.parametrize(("blocks", "price", "needle"), [
    ([{"id": "off", "hours_share": 0.7}, {"id": "peak", "hours_share": 0.2}], 30,
     "expected hours shares that sum to 1 (within 1e-9), not 0.9"),
    (THREE, {"off": 30, "peak": 80}, "it misses 'spike'"),
    (THREE, {"off": 30, "peak": 80, "spike": 90, "night": 20}, "it names 'night', not a block"),
    (None, {"off": 30}, "a mapping {block: series} needs market.blocks"),
    ([{"id": "off", "hours_share": 0.5}, {"id": "off", "hours_share": 0.5}], 30,
     "expected each block id once, not 2 times"),
    ([{"id": "off", "hours_share": 0}, {"id": "peak", "hours_share": 1}], 30,
     "expected a number > 0 and <= 1"),
])
def test_bad_blocks_are_input_errors(blocks, price, needle):
    with pytest.raises(portfolio_opt.InputError) as err:
        portfolio_opt.solve(doc(price, blocks))
    assert needle in str(err.value)


def test_bad_demand_response_is_an_input_error():
    with pytest.raises(portfolio_opt.InputError) as err:
        portfolio_opt.solve(doc(30, None, dr={"credit_usd_per_mw_year": 10, "max": 5}))
    assert "btc.demand_response" in str(err.value)
