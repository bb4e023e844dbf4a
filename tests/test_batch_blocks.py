"""Batches, the scenario engine and breakevens over spec v2 part C (price blocks, demand
response): hand-derived numbers.

The base is tests/test_blocks.py's mining site: 50 MW of ASICs at 20 J/TH, PUE 1, uptime
1, hashprice 40 USD/PH/day, so a hashing MW earns 730,000 USD a year and the break-even
power price is 730,000 / 8,760 = 83.33 USD/MWh. Blocks: off 0.7 at 50 USD/MWh, peak 0.25
at 80 (both hash), spike 0.05 at 300 (curtailed). One period, no discounting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import portfolio_opt as po
from portfolio_opt.batch.api import run_batch
from portfolio_opt.batch.breakeven import run_breakeven
from portfolio_opt.batch.paths import (
    apply_changes,
    apply_overrides,
    get_value,
    get_values,
    resolve,
    valid_paths,
)
from portfolio_opt.batch.spec import resolve_batch
from portfolio_opt.scenario import ScenarioEngine

BTC_YEAR = 730_000.0  # USD per hashing MW-year
BREAK_EVEN = BTC_YEAR / 8760.0  # 83.33 USD/MWh
H = 8760.0
PEAK = "sites[a].grid.price_usd_per_mwh[peak]"
SPIKE_SHARE = "market.blocks[spike].hours_share"
CREDIT = "sites[a].btc.demand_response.credit_usd_per_mw_year"
DR_MAX = "sites[a].btc.demand_response.max_mw"


def base_doc(*, dr: bool = False) -> dict[str, Any]:
    site: dict[str, Any] = {
        "id": "a", "capacity_mw": 100,
        "grid": {"capacity_mw": 100,
                 "price_usd_per_mwh": {"off": 50, "peak": 80, "spike": 300}},
        "btc": {"fleet_mw": 50, "efficiency_j_per_th": 20},
    }
    if dr:
        site["btc"]["demand_response"] = {"credit_usd_per_mw_year": 20_000, "max_mw": 30}
    return {
        "name": "blocks", "horizon": {"periods": 1},
        "market": {"hashprice_usd_per_ph_day": 40,
                   "blocks": [{"id": "off", "hours_share": 0.7},
                              {"id": "peak", "hours_share": 0.25},
                              {"id": "spike", "hours_share": 0.05}]},
        "sites": [site,
                  {"id": "b", "capacity_mw": 20,
                   "grid": {"capacity_mw": 20, "price_usd_per_mwh": 40},
                   "btc": {"fleet_mw": 20, "efficiency_j_per_th": 20}}],
        "sources": [{"id": "r", "capacity_mw": 0, "price_usd_per_mwh": 10}],
    }


def cold(inst: po.Instance) -> float:
    res = po.solve(inst, profile="exact", marginal_values=False)
    assert res.status == "optimal", res.message
    assert res.objective_npv_usd is not None
    return res.objective_npv_usd


def hand_npv(shares: dict[str, float], prices: dict[str, float], *,
             b_prices: dict[str, float] | None = None, credit: float = 0.0,
             dr_max: float = 0.0) -> float:
    """Site a hashes 50 MW in every block priced below 83.33 USD/MWh (and earns the DR
    credit on min(dr_max, 50) MW there); site b hashes 20 MW in every such block of its
    own prices (40 USD/MWh in every block unless given)."""
    b_prices = b_prices or dict.fromkeys(shares, 40.0)
    a = sum(h * (50 * (BTC_YEAR - H * prices[k]) + credit * min(dr_max, 50.0))
            for k, h in shares.items() if prices[k] < BREAK_EVEN)
    b = sum(h * 20 * (BTC_YEAR - H * b_prices[k])
            for k, h in shares.items() if b_prices[k] < BREAK_EVEN)
    return a + b


SHARES = {"off": 0.7, "peak": 0.25, "spike": 0.05}
PRICES = {"off": 50.0, "peak": 80.0, "spike": 300.0}


@pytest.fixture(scope="module")
def base() -> po.Instance:
    return po.Instance.model_validate(base_doc(dr=True))


# --- paths -----------------------------------------------------------------------------


def test_a_block_price_path_reaches_one_series_of_the_mapping(base: po.Instance) -> None:
    assert get_value(base, PEAK) == 80.0
    # a plain price reads as the same series in every block
    assert get_values(base, "sites[*].grid.price_usd_per_mwh[spike]") == {
        "sites[a].grid.price_usd_per_mwh[spike]": 300.0,
        "sites[b].grid.price_usd_per_mwh[spike]": 40.0}
    v = apply_overrides(base, {PEAK: 95.0})
    assert v.sites[0].grid is not None
    assert v.sites[0].grid.price_usd_per_mwh == {"off": 50.0, "peak": 95.0, "spike": 300.0}
    # scale, on every site: site b's plain 40 is expanded so only its spike block changes
    v = apply_overrides(base, {"sites[*].grid.price_usd_per_mwh[spike]": 2.0}, scale=True)
    assert [s.grid.price_usd_per_mwh for s in v.sites if s.grid] == [
        {"off": 50.0, "peak": 80.0, "spike": 600.0}, {"off": 40.0, "peak": 40.0, "spike": 80.0}]
    # a source, with a per-period list
    v = apply_overrides(base, {"sources[r].price_usd_per_mwh[peak]": [25.0]})
    assert v.sources[0].price_usd_per_mwh == {"off": 10.0, "peak": [25.0], "spike": 10.0}
    # demand response fields are ordinary paths
    assert get_value(base, CREDIT) == 20_000.0 and get_value(base, DR_MAX) == 30.0
    v = apply_overrides(base, {CREDIT: 1.5, DR_MAX: 0.5}, scale=True)
    assert v.sites[0].btc is not None and v.sites[0].btc.demand_response is not None
    assert v.sites[0].btc.demand_response.credit_usd_per_mw_year == 30_000.0
    assert v.sites[0].btc.demand_response.max_mw == 15.0
    paths = valid_paths(base)
    for p in (PEAK, "sources[*].price_usd_per_mwh[off]", SPIKE_SHARE, CREDIT):
        assert p in paths
    assert "market.blocks[*].hours_share" not in paths


@pytest.mark.parametrize(("path", "why"), [
    ("sites[a].grid.price_usd_per_mwh[night]",
     "the instance has no price block 'night' (blocks: off, peak, spike)"),
    ("sites[a].grid.price_usd_per_mwh[*]", "name one block (blocks: off, peak, spike)"),
    ("market.blocks[*].hours_share", "one block at a time"),
    ("sites[a].grid.capacity_mw[peak]", "is not a list of entities"),
])
def test_bad_block_paths_are_input_errors(base: po.Instance, path: str, why: str) -> None:
    with pytest.raises(po.InputError, match=r"nearest|one block") as info:
        resolve(base, path)
    assert why in str(info.value)


def test_a_block_path_on_an_instance_without_blocks(base: po.Instance) -> None:
    doc = base_doc()
    del doc["market"]["blocks"]
    doc["sites"][0]["grid"]["price_usd_per_mwh"] = 50
    with pytest.raises(po.InputError, match=r"the instance has no market\.blocks"):
        resolve(po.Instance.model_validate(doc), PEAK)


def test_a_share_rescales_the_other_blocks(base: po.Instance) -> None:
    v = apply_overrides(base, {SPIKE_SHARE: 0.24})
    shares = {b.id: b.hours_share for b in v.market.blocks or []}
    # off and peak keep their 0.7 : 0.25 ratio and take the other 0.76
    assert shares == pytest.approx({"off": 0.7 * 0.76 / 0.95, "peak": 0.25 * 0.76 / 0.95,
                                    "spike": 0.24}, rel=1e-15)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    v = apply_overrides(base, {SPIKE_SHARE: 3.0}, scale=True)  # 0.05 x 3
    assert v.market.blocks is not None and v.market.blocks[2].hours_share == pytest.approx(0.15)
    for bad in (0.0, 1.0, 1.2):
        with pytest.raises(po.InputError, match="strictly between 0 and 1"):
            apply_overrides(base, {SPIKE_SHARE: bad})


def test_batch_files_with_a_share_outside_0_1_or_an_unknown_block_exit_2(
        tmp_path: Path) -> None:
    path = tmp_path / "base.json"
    path.write_text(json.dumps(base_doc()), encoding="utf-8")
    bad = [
        {"path": SPIKE_SHARE, "values": [0.1, 1.0]},
        {"path": SPIKE_SHARE, "scale": [0.5, 20.0]},  # 0.05 x 20 = 1
        {"path": "sites[a].grid.price_usd_per_mwh[night]", "values": [1.0, 2.0]},
    ]
    for param in bad:
        with pytest.raises(po.InputError) as info:
            resolve_batch({"base": str(path), "method": "oat", "parameters": [param]})
        text = str(info.value)
        assert ("strictly between 0 and 1" in text
                or "(blocks: off, peak, spike)" in text), text
    ok = resolve_batch({"base": str(path), "method": "oat",
                        "parameters": [{"path": SPIKE_SHARE, "values": [0.01, 0.5]}]})
    assert ok.parameters[0].base_column == 0.05


# --- a sweep over a share ---------------------------------------------------------------


@pytest.fixture(scope="module")
def share_sweep(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("share_batch")
    path = folder / "base.json"
    path.write_text(json.dumps(base_doc()), encoding="utf-8")
    spec = {"base": str(path), "method": "oat", "solver_profile": "exact",
            "parameters": [{"path": SPIKE_SHARE, "values": [0.01, 0.2, 0.5]},
                           {"path": PEAK, "values": [60.0, 90.0]}]}
    return run_batch(spec, folder / "out", workers=1)


def test_a_sweep_over_a_share_gives_valid_scenarios_that_match_single_solves(
        share_sweep: Any) -> None:
    base = po.Instance.model_validate(base_doc())
    rows = share_sweep.results.set_index("scenario")
    assert share_sweep.complete and set(rows["status"]) == {"optimal"}
    assert len(rows) == 6
    seen = []
    for s in share_sweep.design.scenarios:
        inst = apply_changes(base, list(s.changes))
        shares = {b.id: b.hours_share for b in inst.market.blocks or []}
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
        prices = dict(PRICES)
        if s.varied == SPIKE_SHARE:
            ((_, x, _),) = s.changes
            assert shares["spike"] == x
            assert shares["off"] / shares["peak"] == pytest.approx(0.7 / 0.25, rel=1e-12)
            seen.append(x)
        elif s.varied == PEAK:
            ((_, prices["peak"], _),) = s.changes
        npv = float(rows.loc[s.id, "objective_npv_usd"])
        assert npv == pytest.approx(cold(inst), rel=1e-9, abs=1e-3)
        assert npv == pytest.approx(hand_npv(shares, prices), rel=1e-9)
        # the hand value, spelled out for the spike share x: off and peak hash in 1 - x
        if s.varied == SPIKE_SHARE:
            x = shares["spike"]
            k = (1 - x) / 0.95
            by_hand = 50 * (BTC_YEAR * (1 - x) - H * k * (0.7 * 50 + 0.25 * 80)) \
                + 20 * (BTC_YEAR - H * 40)
            assert npv == pytest.approx(by_hand, rel=1e-9)
    assert seen == [0.01, 0.2, 0.5]
    # one model, updated for every other scenario (a worker builds once)
    assert int(rows["model_built"].sum()) == 1


# --- the engine updates, never rebuilds, for part C values ------------------------------


def test_engine_updates_for_block_prices_shares_and_demand_response(base: po.Instance
                                                                    ) -> None:
    engine = ScenarioEngine(base, profile="exact")
    variants: list[dict[str, Any]] = [
        {}, {PEAK: 90.0}, {PEAK: 70.0, "sites[b].grid.price_usd_per_mwh[spike]": 100.0},
        {SPIKE_SHARE: 0.3}, {"market.blocks[off].hours_share": 0.5},
        {CREDIT: 80_000.0}, {DR_MAX: 45.0}, {CREDIT: 0.0, DR_MAX: 0.0},
        {"sources[r].price_usd_per_mwh[peak]": 5.0},
    ]
    for k, overrides in enumerate(variants):
        inst = apply_overrides(base, overrides) if overrides else base
        res = engine.solve(inst)
        assert res.status == "optimal"
        assert res.objective_npv_usd == pytest.approx(cold(inst), rel=1e-9, abs=1e-3)
        shares = {b.id: b.hours_share for b in inst.market.blocks or []}
        a_grid, b_grid = (s.grid for s in inst.sites)
        assert a_grid is not None and b_grid is not None
        dr = inst.sites[0].btc.demand_response  # type: ignore[union-attr]
        assert dr is not None
        b_price = b_grid.price_usd_per_mwh
        assert res.objective_npv_usd == pytest.approx(hand_npv(
            shares, dict(a_grid.price_usd_per_mwh),  # type: ignore[arg-type]
            b_prices=dict(b_price) if isinstance(b_price, dict) else None,  # type: ignore[arg-type]
            credit=dr.credit_usd_per_mw_year, dr_max=dr.max_mw), rel=1e-9)
        assert (engine.stats.rebuilds, engine.stats.updates) == (1, k), overrides
    # what changes structure rebuilds: demand response appearing at site b
    doc = base_doc(dr=True)
    doc["sites"][1]["btc"]["demand_response"] = {"credit_usd_per_mw_year": 10_000,
                                                 "max_mw": 5}
    inst = po.Instance.model_validate(doc)
    assert engine.solve(inst).objective_npv_usd == pytest.approx(cold(inst), abs=1e-3)
    assert engine.stats.rebuilds == 2


# --- breakevens on a block's price --------------------------------------------------------


def curtail_doc(credit: float = 0.0) -> dict[str, Any]:
    """Site a alone, 0.8 off-peak at 30 USD/MWh and 0.2 peak at the varied price."""
    doc = base_doc()
    doc["sites"] = doc["sites"][:1]
    doc["sources"] = []
    doc["market"]["blocks"] = [{"id": "off", "hours_share": 0.8},
                               {"id": "peak", "hours_share": 0.2}]
    doc["sites"][0]["grid"]["price_usd_per_mwh"] = 30  # plain: expanded by the path
    if credit:
        doc["sites"][0]["btc"]["demand_response"] = {"credit_usd_per_mw_year": credit,
                                                     "max_mw": 50}
    return doc


@pytest.mark.parametrize(("credit", "expected"), [
    (0.0, BREAK_EVEN),  # 730,000 / 8,760 = 83.33 USD/MWh
    # a DR credit of 87,600 USD per MW-year on all 50 MW (PUE 1) is worth 10 USD per MWh
    # hashed: hashing in the peak pays up to 93.33 USD/MWh
    (87_600.0, BREAK_EVEN + 10.0),
])
def test_breakeven_of_a_block_price_finds_where_mining_stops(credit: float,
                                                             expected: float) -> None:
    inst = po.Instance.model_validate(curtail_doc(credit))
    res = run_breakeven(inst, PEAK, 50, 150)
    assert res.tol == pytest.approx(0.1)
    assert len(res.table) == 1
    row = res.table.iloc[0]
    assert (row["site"], row["kind"], row["block"], row["direction"]) == (
        "a", "btc", "peak", "curtailed")
    assert abs(row["breakeven"] - expected) <= res.tol / 2
    assert row["bracket_low"] < expected < row["bracket_high"]
    assert row["verified"]
    # MW-periods hashing in the peak on each side, and the NPVs by hand at the bracket
    assert (row["ai_it_mw_periods_below"], row["ai_it_mw_periods_above"]) == (50.0, 0.0)
    off = 0.8 * 50 * (BTC_YEAR - H * 30 + credit)
    assert row["npv_above_usd"] == pytest.approx(off, rel=1e-9)
    assert row["npv_below_usd"] == pytest.approx(
        off + 0.2 * 50 * (BTC_YEAR - H * row["bracket_low"] + credit), rel=1e-9)
    assert res.rebuilds == 1
    assert "mining site" not in res.message
    scan = res.scan[res.scan["kind"] == "btc"]
    assert set(scan["block"]) == {"peak"}


def test_no_btc_rows_for_a_price_of_every_block() -> None:
    inst = po.Instance.model_validate(curtail_doc())
    res = run_breakeven(inst, "sites[a].grid.price_usd_per_mwh", 50, 150, grid=3,
                        verify=False)
    assert res.table.empty and "btc" not in set(res.scan["kind"])
