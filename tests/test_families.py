"""One tiny instance per constraint family and objective term, optimum derived by hand.

Every test builds a plain dict, solves it with the ``exact`` profile and compares the NPV
(and the decisions that make it) with the arithmetic in its comment. Shared numbers:

* hashprice 40 USD/PH/day and 20 J/TH (= 50 PH/s per MW): BTC revenue per hashing MW-year
  = 40 * 1000/20 * 365 = 730,000 USD (uptime 1).
* grid price 50 USD/MWh: 50 * 8760 = 438,000 USD per MW-year;
  20 USD/MWh: 175,200; 10 USD/MWh: 87,600.
* lease rate 100 USD/kW-month: 100 * 12000 = 1,200,000 USD per IT MW-year.

Unless a test says otherwise: discount_rate 0, years_per_period 1, PUEs 1, no opex.
"""

from __future__ import annotations

from typing import Any

import pytest

import portfolio_opt

HP = 40.0
EFF = 20.0
BTC_REV = 730_000.0  # per MW-year at HP/EFF
E50 = 438_000.0
E20 = 175_200.0
E10 = 87_600.0
LEASE100 = 1_200_000.0  # per IT MW-year at 100 USD/kW-month


# --------------------------------------------------------------------------- helpers


def inst(
    sites: list[dict[str, Any]],
    *,
    periods: int = 1,
    ypp: float = 1.0,
    rate: float = 0.0,
    hashprice: Any = HP,
    contracts: list[dict[str, Any]] | None = None,
    sources: list[dict[str, Any]] | None = None,
    links: list[dict[str, Any]] | None = None,
    limits: dict[str, Any] | None = None,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "family",
        "horizon": {"periods": periods, "years_per_period": ypp, "discount_rate": rate},
        "market": {"hashprice_usd_per_ph_day": hashprice},
        "sites": sites,
    }
    if contracts:
        d["contracts"] = contracts
    if sources:
        d["sources"] = sources
    if links:
        d["links"] = links
    if limits:
        d["limits"] = limits
    return d


def site(
    sid: str,
    capacity: float = 100.0,
    *,
    grid: tuple[float, Any] | None = (100.0, 50.0),
    btc: dict[str, Any] | None = None,
    ai: dict[str, Any] | None = None,
) -> dict[str, Any]:
    s: dict[str, Any] = {"id": sid, "capacity_mw": capacity}
    if grid is not None:
        s["grid"] = {"capacity_mw": grid[0], "price_usd_per_mwh": grid[1]}
    if btc is not None:
        s["btc"] = {"efficiency_j_per_th": EFF, **btc}
    if ai is not None:
        s["ai"] = {"capex_usd_per_it_mw": 0.0, "pue": 1.0, **ai}
    return s


def existing(mw: float, **kw: Any) -> dict[str, Any]:
    """An AI block with ``mw`` of existing halls and no room for more."""
    return {"max_it_mw": mw, "existing_it_mw": mw, "block_it_mw": 10.0, **kw}


def contract(cid: str, mw: float | tuple[float, float], *, rate: float = 100.0,
             start: int = 1, term: int = 1, tenant: str | None = None,
             **kw: Any) -> dict[str, Any]:
    lo, hi = (mw, mw) if isinstance(mw, (int, float)) else mw
    return {"id": cid, "tenant": tenant or f"tenant-{cid}", "it_mw": {"min": lo, "max": hi},
            "rate_usd_per_kw_month": rate, "start_period": start, "term_periods": term, **kw}


def solve(d: dict[str, Any]) -> portfolio_opt.Result:
    res = portfolio_opt.solve(d, profile="exact")
    assert res.status == "optimal", res.message
    return res


def npv_ok(res: portfolio_opt.Result, expected: float) -> None:
    assert res.objective_npv_usd == pytest.approx(expected, rel=1e-6, abs=1.0)
    # the reported NPV is the discounted sum of the cash flows
    assert res.cashflows["discounted"].sum() == pytest.approx(expected, rel=1e-6, abs=1.0)


def col(res: portfolio_opt.Result, s: str, column: str) -> list[float]:
    sp = res.site_periods
    return [float(x) for x in sp[sp["site"] == s].sort_values("period")[column]]


def cash(res: portfolio_opt.Result, column: str) -> list[float]:
    return [float(x) for x in res.cashflows.sort_values("period")[column]]


def approx_list(values: list[float]) -> Any:
    return pytest.approx(values, rel=1e-6, abs=1e-6)


def accepted(res: portfolio_opt.Result, cid: str) -> bool:
    row = res.contracts[res.contracts["contract"] == cid]
    assert len(row) == 1
    return bool(row["accepted"].iloc[0])


def contract_row(res: portfolio_opt.Result, cid: str) -> dict[str, Any]:
    row = res.contracts[res.contracts["contract"] == cid]
    assert len(row) == 1
    return dict(row.iloc[0])


def served(res: portfolio_opt.Result, cid: str) -> dict[tuple[str, int], float]:
    csp = res.contract_site_periods
    rows = csp[csp["contract"] == cid]
    return {(str(r.site), int(r.period)): float(r.it_mw) for r in rows.itertuples()}


# --------------------------------------------------------------------------- BTC terms


def test_btc_revenue_energy_and_opex():
    # 10 MW fleet, grid 50 USD/MWh, opex 100,000 USD/MW-year, 2 yearly periods.
    # per MW-year: revenue 730,000 - energy 438,000 - opex 100,000 = 192,000 > 0: hash all.
    # NPV = 10 MW * 192,000 * 2 = 3,840,000.
    d = inst([site("a", btc={"fleet_mw": 10, "opex_usd_per_mw_year": 100_000})], periods=2)
    res = solve(d)
    npv_ok(res, 3_840_000)
    assert col(res, "a", "btc_mw") == approx_list([10, 10])
    assert cash(res, "btc_revenue") == approx_list([7_300_000] * 2)
    assert cash(res, "energy_cost") == approx_list([4_380_000] * 2)
    assert cash(res, "opex") == approx_list([1_000_000] * 2)
    assert col(res, "a", "grid_import_mw") == approx_list([10, 10])


def test_btc_terms_scale_with_years_per_period():
    # ypp = 2: D = 730 days, H = 17,520 h. Per period and MW:
    # revenue 40 * 50 * 730 = 1,460,000; energy 50 * 17,520 = 876,000; opex 2 * 100,000.
    # NPV = 10 * (1,460,000 - 876,000 - 200,000) * 2 periods = 7,680,000.
    d = inst([site("a", btc={"fleet_mw": 10, "opex_usd_per_mw_year": 100_000})],
             periods=2, ypp=2)
    res = solve(d)
    npv_ok(res, 7_680_000)
    assert cash(res, "btc_revenue") == approx_list([14_600_000] * 2)
    assert cash(res, "energy_cost") == approx_list([8_760_000] * 2)
    assert cash(res, "opex") == approx_list([2_000_000] * 2)
    assert list(res.site_periods["year"]) == [2026, 2028]


def test_btc_off_when_energy_costs_more_than_revenue():
    # grid 80 USD/MWh: energy 80 * 8760 = 700,800 + opex 100,000 > 730,000: mine nothing.
    d = inst([site("a", grid=(100, 80),
                   btc={"fleet_mw": 10, "opex_usd_per_mw_year": 100_000})])
    res = solve(d)
    npv_ok(res, 0)
    assert col(res, "a", "btc_mw") == approx_list([0])


def test_uptime_derates_revenue_only():
    # uptime 0.5, grid 20 USD/MWh: revenue 0.5 * 730,000 = 365,000 per MW, energy paid on
    # the full MW: 175,200. NPV = 10 * (365,000 - 175,200) = 1,898,000.
    d = inst([site("a", grid=(100, 20), btc={"fleet_mw": 10, "uptime": 0.5})])
    res = solve(d)
    npv_ok(res, 1_898_000)
    assert cash(res, "btc_revenue") == approx_list([3_650_000])
    assert cash(res, "energy_cost") == approx_list([1_752_000])


def test_uptime_can_make_mining_unprofitable():
    # grid 50: uptime 1 earns 730,000 - 438,000 > 0, uptime 0.5 earns 365,000 - 438,000 < 0.
    full = solve(inst([site("a", btc={"fleet_mw": 10})]))
    half = solve(inst([site("a", btc={"fleet_mw": 10, "uptime": 0.5})]))
    npv_ok(full, 10 * (BTC_REV - E50))
    npv_ok(half, 0)
    assert col(half, "a", "btc_mw") == approx_list([0])


def test_btc_pue_in_envelope_and_power():
    # pue 1.2, capacity 10.8 MW: 1.2 * btc <= 10.8 -> btc <= 9 (fleet 10).
    # per IT MW: 730,000 - 1.2 * 438,000 = 204,400. NPV = 9 * 204,400 = 1,839,600;
    # gross load and grid import 10.8 MW.
    d = inst([site("a", 10.8, btc={"fleet_mw": 10, "pue": 1.2})])
    res = solve(d)
    npv_ok(res, 1_839_600)
    assert col(res, "a", "btc_mw") == approx_list([9])
    assert col(res, "a", "gross_load_mw") == approx_list([10.8])
    assert col(res, "a", "grid_import_mw") == approx_list([10.8])


def test_btc_pue_limited_by_grid_power():
    # capacity 100 but grid 6 MW: 1.2 * btc <= 6 -> btc = 5. NPV = 5 * 204,400 = 1,022,000.
    d = inst([site("a", grid=(6, 50), btc={"fleet_mw": 10, "pue": 1.2})])
    res = solve(d)
    npv_ok(res, 1_022_000)
    assert col(res, "a", "btc_mw") == approx_list([5])


def test_fleet_bound_and_expansion_bought_in_first_period():
    # fleet 10, expansion max 5 at 300,000 USD/MW, 2 periods, margin 192,000 per MW-year.
    # a MW bought in period 1 earns 2 * 192,000 = 384,000 > 300,000: buy all 5 then;
    # bought in period 2 it would earn 192,000 < 300,000. Hashing = 15 in both periods.
    # NPV = 15 * 192,000 * 2 - 5 * 300,000 = 5,760,000 - 1,500,000 = 4,260,000.
    d = inst([site("a", btc={"fleet_mw": 10, "opex_usd_per_mw_year": 100_000,
                             "expansion": {"max_mw": 5, "capex_usd_per_mw": 300_000}})],
             periods=2)
    res = solve(d)
    npv_ok(res, 4_260_000)
    assert col(res, "a", "btc_bought_mw") == approx_list([5, 0])
    assert col(res, "a", "btc_mw") == approx_list([15, 15])
    assert cash(res, "capex") == approx_list([1_500_000, 0])


def test_expansion_serves_from_the_period_bought():
    # one period, capex 150,000 < margin 192,000: buying pays only if the ASICs hash in the
    # period they are bought. NPV = 15 * 192,000 - 5 * 150,000 = 2,130,000.
    d = inst([site("a", btc={"fleet_mw": 10, "opex_usd_per_mw_year": 100_000,
                             "expansion": {"max_mw": 5, "capex_usd_per_mw": 150_000}})])
    res = solve(d)
    npv_ok(res, 2_130_000)
    assert col(res, "a", "btc_bought_mw") == approx_list([5])
    assert col(res, "a", "btc_mw") == approx_list([15])


def test_expansion_too_expensive_is_not_bought():
    # capex 250,000 > one period's margin 192,000: keep the 10 MW fleet. NPV = 1,920,000.
    d = inst([site("a", btc={"fleet_mw": 10, "opex_usd_per_mw_year": 100_000,
                             "expansion": {"max_mw": 5, "capex_usd_per_mw": 250_000}})])
    res = solve(d)
    npv_ok(res, 1_920_000)
    assert col(res, "a", "btc_bought_mw") == approx_list([0])


# --------------------------------------------------------------------------- AI halls


def test_halls_are_whole_blocks():
    # a 30 MW contract with 20 MW halls needs 2 halls (40 MW reserved). Lead 0, pue 1.
    # revenue 30 * 1,200,000 = 36,000,000; energy 30 * 438,000 = 13,140,000;
    # capex 2 * 20 * 100,000 = 4,000,000. NPV = 18,860,000.
    d = inst([site("a", ai={"max_it_mw": 60, "block_it_mw": 20, "capex_usd_per_it_mw": 100_000,
                            "lead_time_periods": 0})],
             contracts=[contract("k", 30)])
    res = solve(d)
    npv_ok(res, 18_860_000)
    assert col(res, "a", "halls_started") == [2]
    assert col(res, "a", "ai_reserved_it_mw") == approx_list([40])
    assert col(res, "a", "ai_available_it_mw") == approx_list([40])
    assert col(res, "a", "ai_served_it_mw") == approx_list([30])
    assert cash(res, "capex") == approx_list([4_000_000])


def test_most_halls_is_the_floor_of_room_over_block():
    # max_it_mw 50, block 20: floor(50 / 20) = 2 halls = 40 MW, though the offer takes 60.
    # price 0, capex 0: NPV = 40 * 1,200,000 = 48,000,000.
    d = inst([site("a", grid=(100, 0), ai={"max_it_mw": 50, "block_it_mw": 20,
                                          "lead_time_periods": 0})],
             contracts=[contract("k", (0, 60))])
    res = solve(d)
    npv_ok(res, 48_000_000)
    assert col(res, "a", "halls_started") == [2]
    assert contract_row(res, "k")["it_mw"] == pytest.approx(40)


@pytest.mark.parametrize(
    ("max_it", "existing_mw", "halls"),
    [
        # (0.3 - 0) / 0.1 = 2.9999999999999996 in floats; floor(... + 1e-9) = 3
        (0.3, 0.0, 3),
        # (0.7 - 0.4) / 0.1 = 2.999999999999999; floor(... + 1e-9) = 3
        (0.7, 0.4, 3),
    ],
)
def test_most_halls_float_edge(max_it, existing_mw, halls):
    # block 0.1 MW, lead 0, price 0, capex 0; the offer takes up to 1 MW at 100 USD/kW-month.
    # served = existing + 0.1 * halls; NPV = served * 1,200,000.
    d = inst([site("a", grid=(100, 0), ai={"max_it_mw": max_it, "existing_it_mw": existing_mw,
                                          "block_it_mw": 0.1, "lead_time_periods": 0})],
             contracts=[contract("k", (0, 1))])
    res = solve(d)
    served_mw = existing_mw + 0.1 * halls
    npv_ok(res, served_mw * LEASE100)
    assert col(res, "a", "halls_started") == [halls]
    assert col(res, "a", "ai_served_it_mw") == approx_list([served_mw])


def _lead_site(lead: int, **kw: Any) -> dict[str, Any]:
    # 10 MW halls at 200,000 USD/MW (2,000,000 per hall), pue 1.3, opex 50,000 per
    # available IT MW-year, grid 50 USD/MWh; 13 MW drawn per served hall.
    return site("a", 20, ai={"max_it_mw": 10, "block_it_mw": 10,
                             "capex_usd_per_it_mw": 200_000, "pue": 1.3,
                             "opex_usd_per_it_mw_year": 50_000,
                             "lead_time_periods": lead, **kw})


def test_lead_time_one():
    # contract 10 MW, periods 2-3; a hall started in t serves from t + 1, so it starts in 1.
    # revenue 2 * 12,000,000; energy 2 * 13 * 438,000 = 11,388,000; opex only while the hall
    # is available (periods 2, 3): 2 * 10 * 50,000 = 1,000,000; capex 2,000,000.
    # NPV = 24,000,000 - 11,388,000 - 1,000,000 - 2,000,000 = 9,612,000.
    d = inst([_lead_site(1)], periods=3, contracts=[contract("k", 10, start=2, term=2)])
    res = solve(d)
    npv_ok(res, 9_612_000)
    assert col(res, "a", "halls_started") == [1, 0, 0]
    assert col(res, "a", "ai_reserved_it_mw") == approx_list([10, 10, 10])
    assert col(res, "a", "ai_available_it_mw") == approx_list([0, 10, 10])
    assert col(res, "a", "gross_load_mw") == approx_list([0, 13, 13])
    assert cash(res, "opex") == approx_list([0, 500_000, 500_000])
    assert cash(res, "capex") == approx_list([2_000_000, 0, 0])


def test_lead_time_two():
    # contract 10 MW in period 3 only; lead 2: the hall starts in period 1.
    # NPV = 12,000,000 - 13 * 438,000 - 10 * 50,000 - 2,000,000 = 3,806,000.
    d = inst([_lead_site(2)], periods=3, contracts=[contract("k", 10, start=3, term=1)])
    res = solve(d)
    npv_ok(res, 3_806_000)
    assert col(res, "a", "halls_started") == [1, 0, 0]
    assert col(res, "a", "ai_available_it_mw") == approx_list([0, 0, 10])


def test_lead_time_zero():
    # lead 0: a hall started in period 1 serves in period 1.
    # NPV = 12,000,000 - 5,694,000 - 500,000 - 2,000,000 = 3,806,000.
    d = inst([_lead_site(0)], contracts=[contract("k", 10)])
    res = solve(d)
    npv_ok(res, 3_806_000)
    assert col(res, "a", "halls_started") == [1]
    assert accepted(res, "k")


def test_lead_time_rules_out_an_early_contract():
    # lead 1 and a contract from period 1: no hall can be ready, so it is declined.
    d = inst([_lead_site(1)], periods=2, contracts=[contract("k", 10, start=1, term=2)])
    res = solve(d)
    npv_ok(res, 0)
    assert not accepted(res, "k")
    assert col(res, "a", "halls_started") == [0, 0]


def test_existing_halls_opex_makes_the_empty_plan_negative():
    # 10 MW of existing halls, opex 50,000 per MW-year, nothing to do, 2 periods:
    # NPV = -2 * 10 * 50,000 = -1,000,000 (plan-independent, but part of the objective).
    d = inst([site("a", ai=existing(10, opex_usd_per_it_mw_year=50_000))], periods=2)
    res = solve(d)
    npv_ok(res, -1_000_000)
    assert col(res, "a", "ai_available_it_mw") == approx_list([10, 10])
    assert cash(res, "opex") == approx_list([500_000, 500_000])


def test_existing_halls_serve_from_period_one():
    # existing 10 MW (lead 1 irrelevant for them), pue 1.3, contract 10 MW over periods 1-2.
    # revenue 24,000,000; energy 2 * 13 * 438,000 = 11,388,000; opex 1,000,000; no capex.
    # NPV = 11,612,000.
    d = inst([site("a", ai=existing(10, pue=1.3, opex_usd_per_it_mw_year=50_000,
                                    lead_time_periods=1))],
             periods=2, contracts=[contract("k", 10, term=2)])
    res = solve(d)
    npv_ok(res, 11_612_000)
    assert served(res, "k") == {("a", 1): pytest.approx(10), ("a", 2): pytest.approx(10)}
    assert cash(res, "capex") == approx_list([0, 0])


def test_fixed_capex_paid_once_with_the_first_hall():
    # existing 0, fixed 5,000,000, halls of 10 MW at 200,000/MW, lead 0, pue 1.3,
    # opex 10,000 per available MW-year, grid 50. Contract A 10 MW in periods 1-2,
    # contract B 10 MW in period 2. Halls: one in 1, one in 2 (earlier would add opex).
    # revenue 24,000,000 + 12,000,000; energy (13 + 26) * 438,000 = 17,082,000;
    # opex (10 + 20) * 10,000 = 300,000; capex 2 * 2,000,000 + 5,000,000 (once) = 9,000,000.
    # NPV = 36,000,000 - 17,082,000 - 300,000 - 9,000,000 = 9,618,000.
    d = inst([site("a", ai={"max_it_mw": 20, "block_it_mw": 10, "capex_usd_per_it_mw": 200_000,
                            "fixed_capex_usd": 5_000_000, "lead_time_periods": 0, "pue": 1.3,
                            "opex_usd_per_it_mw_year": 10_000})],
             periods=2,
             contracts=[contract("A", 10, term=2), contract("B", 10, start=2)])
    res = solve(d)
    npv_ok(res, 9_618_000)
    assert col(res, "a", "halls_started") == [1, 1]
    assert cash(res, "capex") == approx_list([7_000_000, 2_000_000])


def test_no_fixed_capex_where_halls_already_exist():
    # existing 10, room for one more hall at 2,000,000, fixed 5,000,000 not due (the site
    # already hosts AI). Contract 20 MW in period 1, lead 0, pue 1.3.
    # NPV = 24,000,000 - 26 * 438,000 - 2,000,000 = 10,612,000.
    d = inst([site("a", ai={"max_it_mw": 20, "existing_it_mw": 10, "block_it_mw": 10,
                            "capex_usd_per_it_mw": 200_000, "fixed_capex_usd": 5_000_000,
                            "lead_time_periods": 0, "pue": 1.3})],
             contracts=[contract("k", 20)])
    res = solve(d)
    npv_ok(res, 10_612_000)
    assert col(res, "a", "halls_started") == [1]
    assert cash(res, "capex") == approx_list([2_000_000])


def test_fixed_capex_can_make_conversion_unprofitable():
    # as above but existing 0: a 20 MW contract needs 2 halls (4,000,000) plus the fixed
    # 20,000,000: 24,000,000 - 11,388,000 - 24,000,000 < 0, so decline. NPV = 0.
    d = inst([site("a", ai={"max_it_mw": 20, "block_it_mw": 10, "capex_usd_per_it_mw": 200_000,
                            "fixed_capex_usd": 20_000_000, "lead_time_periods": 0,
                            "pue": 1.3})],
             contracts=[contract("k", 20)])
    res = solve(d)
    npv_ok(res, 0)
    assert not accepted(res, "k")


def test_fixed_capex_counts_in_the_per_period_budget_of_the_first_hall():
    # existing 0, one 10 MW hall at 100,000/MW (1,000,000) + fixed 5,000,000, lead 0,
    # pue 1, price 0; contract 10 MW in period 2 only (12,000,000).
    # per-period budget [5,000,000, 1,000,000]: a hall started in period 1 costs 6,000,000
    # there (> 5,000,000), in period 2 costs 6,000,000 there (> 1,000,000). No hall can be
    # built: NPV = 0. (Booking the fixed part in period 1 and the hall in period 2 would
    # give 6,000,000, but the spec pays fixed capex in the period the first hall starts;
    # an earlier model allowed exactly that.)
    d = inst([site("a", grid=(100, 0),
                   ai={"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 100_000,
                       "fixed_capex_usd": 5_000_000, "lead_time_periods": 0})],
             periods=2, contracts=[contract("k", 10, start=2)],
             limits={"capex_budget_usd_per_period": [5_000_000, 1_000_000]})
    res = solve(d)
    capex = cash(res, "capex")
    assert capex[0] <= 5_000_000 + 1e-6 and capex[1] <= 1_000_000 + 1e-6
    npv_ok(res, 0)


def _envelope_instance(rate: float) -> dict[str, Any]:
    # capacity 100, grid 100 MW at 50, 100 MW fleet (margin 730,000 - 438,000 - 100,000 =
    # 192,000 per MW-year). One 20 MW hall, pue 1.25, lead 1, capex 0; contract 20 MW in
    # period 2. The hall starts in period 1 and reserves 25 MW from then on.
    return inst([site("a", btc={"fleet_mw": 100, "opex_usd_per_mw_year": 100_000},
                      ai={"max_it_mw": 20, "block_it_mw": 20, "pue": 1.25,
                          "lead_time_periods": 1})],
                periods=2, contracts=[contract("k", 20, rate=rate, start=2)])


def test_envelope_reserved_hall_holds_power_before_it_draws():
    # accept at 100: btc <= 100 - 25 = 75 in both periods (the hall holds its 25 MW while
    # under construction but draws nothing in period 1).
    # NPV = 75 * 192,000 * 2 + 24,000,000 - 25 * 438,000 = 28,800,000 + 24,000,000
    #       - 10,950,000 = 41,850,000  (> 38,400,000 for mining only).
    res = solve(_envelope_instance(100))
    npv_ok(res, 41_850_000)
    assert accepted(res, "k")
    assert col(res, "a", "halls_started") == [1, 0]
    assert col(res, "a", "btc_mw") == approx_list([75, 75])
    assert col(res, "a", "gross_load_mw") == approx_list([75, 100])
    assert col(res, "a", "grid_import_mw") == approx_list([75, 100])


def test_envelope_cost_of_reserving_can_decline_a_contract():
    # at 50 USD/kW-month: 75 * 192,000 * 2 + 12,000,000 - 10,950,000 = 29,850,000
    # < 100 * 192,000 * 2 = 38,400,000: keep mining, no hall.
    res = solve(_envelope_instance(50))
    npv_ok(res, 38_400_000)
    assert not accepted(res, "k")
    assert col(res, "a", "halls_started") == [0, 0]
    assert col(res, "a", "btc_mw") == approx_list([100, 100])


# --------------------------------------------------------------------------- contracts


def test_contract_min_above_capacity_is_declined():
    # 10 MW existing (price 0); offer min 12: cannot fit. NPV = 0.
    d = inst([site("a", grid=(100, 0), ai=existing(10))], contracts=[contract("k", (12, 15))])
    res = solve(d)
    npv_ok(res, 0)
    assert not accepted(res, "k")


def test_contract_sized_between_min_and_max():
    # 10 MW existing, offer 5-15: takes 10. NPV = 10 * 1,200,000 = 12,000,000.
    d = inst([site("a", grid=(100, 0), ai=existing(10))], contracts=[contract("k", (5, 15))])
    res = solve(d)
    npv_ok(res, 12_000_000)
    assert contract_row(res, "k")["it_mw"] == pytest.approx(10)


def test_contract_max_binds():
    # 20 MW existing, offer 5-15: takes 15. NPV = 18,000,000.
    d = inst([site("a", grid=(100, 0), ai=existing(20))], contracts=[contract("k", (5, 15))])
    res = solve(d)
    npv_ok(res, 18_000_000)
    assert contract_row(res, "k")["it_mw"] == pytest.approx(15)
    assert contract_row(res, "k")["sites"] == "a"


def test_escalator_with_two_year_periods():
    # ypp 2, rate 100, escalator 10 %, 10 MW over both periods, price 0.
    # period 1: 100 * 1.1^0 * 12000 * 2 * 10 = 24,000,000
    # period 2: 100 * 1.1^2 * 12000 * 2 * 10 = 29,040,000;  NPV = 53,040,000.
    d = inst([site("a", grid=(100, 0), ai=existing(10))], periods=2, ypp=2,
             contracts=[contract("k", 10, term=2, escalator=0.1)])
    res = solve(d)
    npv_ok(res, 53_040_000)
    assert cash(res, "ai_revenue") == approx_list([24_000_000, 29_040_000])


def test_term_clipped_at_horizon_and_start_period():
    # 3 periods, 10 MW existing, price 0. k1: period 1 only. k2: starts in 2, term 5 is
    # clipped to periods 2-3, escalator 10 % from its own start:
    # k2 = 12,000,000 * 1.1^0 + 12,000,000 * 1.1^1 = 25,200,000; k1 = 12,000,000.
    # NPV = 37,200,000.
    d = inst([site("a", grid=(100, 0), ai=existing(10))], periods=3,
             contracts=[contract("k1", 10), contract("k2", 10, start=2, term=5,
                                                      escalator=0.1)])
    res = solve(d)
    npv_ok(res, 37_200_000)
    assert set(served(res, "k1")) == {("a", 1)}
    assert set(served(res, "k2")) == {("a", 2), ("a", 3)}
    assert contract_row(res, "k2")["npv_usd"] == pytest.approx(25_200_000)


def _two_priced_sites() -> list[dict[str, Any]]:
    # a: grid 50 USD/MWh, b: grid 10 USD/MWh; 10 MW existing each, pue 1.
    return [site("a", grid=(100, 50), ai=existing(10)),
            site("b", grid=(100, 10), ai=existing(10))]


def test_eligible_explicit_list():
    # only a is eligible: NPV = 12,000,000 - 10 * 438,000 = 7,620,000.
    d = inst(_two_priced_sites(), contracts=[contract("k", 10, eligible={"sites": ["a"]})])
    res = solve(d)
    npv_ok(res, 7_620_000)
    assert contract_row(res, "k")["sites"] == "a"


def test_eligible_default_is_every_ai_site():
    # both eligible: the cheaper b serves. NPV = 12,000,000 - 10 * 87,600 = 11,124,000.
    d = inst(_two_priced_sites(), contracts=[contract("k", 10)])
    res = solve(d)
    npv_ok(res, 11_124_000)
    assert contract_row(res, "k")["sites"] == "b"


def _near_instance(near: dict[str, Any]) -> dict[str, Any]:
    # x: reference site without ai. Fiber: x-a 0.3 ms, x-hub 0.1 (and a slower parallel
    # x-hub link of 5 ms), hub-b 0.2 (hub is a source), b-c 0.05. Shortest latencies from
    # x: a 0.3, b 0.1 + 0.2 = 0.30000000000000004 in floats, c 0.35. A power link x-c
    # (capacity 0) carries no latency: it must not make c "near".
    # Prices: a 50, b 20, c 0 USD/MWh.
    return inst(
        [site("x", grid=None),
         site("a", grid=(100, 50), ai=existing(10)),
         site("b", grid=(100, 20), ai=existing(10)),
         site("c", grid=(100, 0), ai=existing(10))],
        sources=[{"id": "hub", "capacity_mw": 0, "price_usd_per_mwh": 0}],
        links=[{"from": "x", "to": "a", "kind": "fiber", "latency_ms": 0.3},
               {"from": "x", "to": "hub", "kind": "fiber", "latency_ms": 0.1},
               {"id": "x-hub-slow", "from": "x", "to": "hub", "kind": "fiber",
                "latency_ms": 5},
               {"from": "x", "to": "c", "kind": "power", "capacity_mw": 0},
               {"from": "hub", "to": "b", "kind": "fiber", "latency_ms": 0.2},
               {"from": "b", "to": "c", "kind": "fiber", "latency_ms": 0.05}],
        contracts=[contract("k", 10, eligible={"near": near})],
    )


def test_eligible_near_through_an_intermediate_node_with_tolerance():
    # max 0.3 ms: a (0.3, on the limit) and b (0.30000000000000004, within 1e-9) are
    # eligible, c (0.35) is not. b is cheapest of the two:
    # NPV = 12,000,000 - 10 * 175,200 = 10,248,000.
    res = solve(_near_instance({"site": "x", "max_latency_ms": 0.3}))
    npv_ok(res, 10_248_000)
    assert contract_row(res, "k")["sites"] == "b"


def test_eligible_near_wider_radius_reaches_further():
    # max 0.35 ms: c becomes eligible (x-hub-b-c = 0.1 + 0.2 + 0.05) and costs nothing.
    # NPV = 12,000,000.
    res = solve(_near_instance({"site": "x", "max_latency_ms": 0.35}))
    npv_ok(res, 12_000_000)
    assert contract_row(res, "k")["sites"] == "c"


def test_eligible_near_reference_site_itself():
    # near c with 0 ms: only c itself (distance 0). NPV = 12,000,000.
    res = solve(_near_instance({"site": "c", "max_latency_ms": 0}))
    npv_ok(res, 12_000_000)
    assert contract_row(res, "k")["sites"] == "c"


def test_eligible_near_excludes_everything_but_the_closest():
    # near a with 0.1 ms: only a (its neighbours are 0.3 away). NPV = 7,620,000.
    res = solve(_near_instance({"site": "a", "max_latency_ms": 0.1}))
    npv_ok(res, 7_620_000)
    assert contract_row(res, "k")["sites"] == "a"


@pytest.mark.parametrize(("max_sites", "expected"), [(1, 0.0), (2, 24_000_000.0)])
def test_max_sites_allows_a_split(max_sites, expected):
    # 20 MW offer, two sites with 10 MW existing each, price 0. One site cannot hold it;
    # two can (10 + 10): NPV = 20 * 1,200,000 = 24,000,000.
    d = inst([site("a", grid=(100, 0), ai=existing(10)),
              site("b", grid=(100, 0), ai=existing(10))],
             contracts=[contract("k", 20, max_sites=max_sites)])
    res = solve(d)
    npv_ok(res, expected)
    assert accepted(res, "k") == (max_sites == 2)
    if max_sites == 2:
        assert served(res, "k") == {("a", 1): pytest.approx(10), ("b", 1): pytest.approx(10)}


@pytest.mark.parametrize(("max_sites", "expected"), [(1, 19_620_000.0), (2, 24_000_000.0)])
def test_max_sites_counts_over_the_whole_term(max_sites, expected):
    # 10 MW over 2 periods. a costs [0, 50], b [50, 0], c [100, 100] USD/MWh; 10 MW existing
    # each. max_sites 1: one site all term, cheapest is a or b: 24,000,000 - 10 * 438,000
    # = 19,620,000. max_sites 2: a in period 1, b in period 2: 24,000,000.
    d = inst([site("a", grid=(100, [0, 50]), ai=existing(10)),
              site("b", grid=(100, [50, 0]), ai=existing(10)),
              site("c", grid=(100, 100), ai=existing(10))],
             periods=2, contracts=[contract("k", 10, term=2, max_sites=max_sites)])
    res = solve(d)
    npv_ok(res, expected)
    where = served(res, "k")
    assert len({s for s, _ in where}) == max_sites
    if max_sites == 2:
        assert where == {("a", 1): pytest.approx(10), ("b", 2): pytest.approx(10)}


def test_committed_contract_is_served_even_at_a_loss():
    # rate 1: revenue 10 * 1 * 12000 = 120,000; energy 10 * 438,000 = 4,380,000.
    # committed: NPV = -4,260,000; as an offer it would be declined (NPV 0).
    sites = [site("a", ai=existing(10))]
    res = solve(inst(sites, contracts=[contract("k", 10, rate=1, committed=True)]))
    npv_ok(res, -4_260_000)
    assert accepted(res, "k")
    assert served(res, "k") == {("a", 1): pytest.approx(10)}
    offer = solve(inst(sites, contracts=[contract("k", 10, rate=1)]))
    npv_ok(offer, 0)
    assert not accepted(offer, "k")


# --------------------------------------------------------------------------- power network


def _fed_by_source(link: dict[str, Any], cap: Any = 20, price: Any = 20,
                   periods: int = 1) -> dict[str, Any]:
    # site s: 10 MW fleet, no grid; source g feeds it only through ``link``.
    return inst([site("s", grid=None, btc={"fleet_mw": 10})],
                sources=[{"id": "g", "capacity_mw": cap, "price_usd_per_mwh": price}],
                links=[link], periods=periods)


def test_power_balance_with_link_loss():
    # directed g -> s, capacity 20, loss 0.2. Delivering 10 MW takes 12.5 MW in:
    # energy 12.5 * 8760 * 20 = 2,190,000. NPV = 7,300,000 - 2,190,000 = 5,110,000.
    res = solve(_fed_by_source({"from": "g", "to": "s", "kind": "power", "capacity_mw": 20,
                                "loss": 0.2, "directed": True}))
    npv_ok(res, 5_110_000)
    assert list(res.flows["flow_mw"]) == approx_list([12.5])
    assert col(res, "s", "btc_mw") == approx_list([10])
    assert cash(res, "energy_cost") == approx_list([2_190_000])


def test_link_capacity_bounds_power_entering_the_link():
    # capacity 10, loss 0.2: s receives 8 MW -> btc 8.
    # NPV = 8 * 730,000 - 10 * 175,200 = 5,840,000 - 1,752,000 = 4,088,000.
    res = solve(_fed_by_source({"from": "g", "to": "s", "kind": "power", "capacity_mw": 10,
                                "loss": 0.2, "directed": True}))
    npv_ok(res, 4_088_000)
    assert col(res, "s", "btc_mw") == approx_list([8])


def test_directed_link_carries_no_reverse_flow():
    # the link is directed s -> g: g cannot feed s. NPV = 0, nothing hashes.
    res = solve(_fed_by_source({"from": "s", "to": "g", "kind": "power", "capacity_mw": 20,
                                "directed": True}))
    npv_ok(res, 0)
    assert col(res, "s", "btc_mw") == approx_list([0])
    assert list(res.flows["flow_mw"]) == approx_list([0])


def test_undirected_link_carries_flow_against_its_written_direction():
    # same link undirected (loss 0): NPV = 10 * (730,000 - 175,200) = 5,548,000,
    # flow 10 on the arc g -> s.
    res = solve(_fed_by_source({"from": "s", "to": "g", "kind": "power", "capacity_mw": 20}))
    npv_ok(res, 5_548_000)
    flows = res.flows
    assert len(flows) == 2
    back = flows[(flows["from"] == "g") & (flows["to"] == "s")]
    assert list(back["flow_mw"]) == approx_list([10])


def test_wheeling_through_an_intermediate_site():
    # g -> m -> s, each undirected with loss 0.1; m has capacity_mw 0 and no grid (wheeling
    # is limited by links only). Delivering 10 MW takes 10 / 0.81 MW from g:
    # energy = 10 / 0.81 * 8760 * 20 = 1,752,000 / 0.81. NPV = 7,300,000 - that.
    d = inst([site("m", 0, grid=None), site("s", grid=None, btc={"fleet_mw": 10})],
             sources=[{"id": "g", "capacity_mw": 20, "price_usd_per_mwh": 20}],
             links=[{"from": "g", "to": "m", "kind": "power", "capacity_mw": 20, "loss": 0.1},
                    {"from": "m", "to": "s", "kind": "power", "capacity_mw": 20,
                     "loss": 0.1}])
    res = solve(d)
    npv_ok(res, 7_300_000 - 1_752_000 / 0.81)
    flows = res.flows.set_index(["from", "to"])["flow_mw"]
    assert flows["g", "m"] == pytest.approx(10 / 0.81)
    assert flows["m", "s"] == pytest.approx(10 / 0.9)
    assert col(res, "m", "gross_load_mw") == approx_list([0])


def test_wheeling_a_grid_connection_to_a_neighbour():
    # site a has a 50 MW grid at 10 USD/MWh and no load; s (no grid, 10 MW fleet) is linked
    # to a. NPV = 10 * (730,000 - 87,600) = 6,424,000; a imports 10 MW.
    d = inst([site("a", 0, grid=(50, 10)), site("s", grid=None, btc={"fleet_mw": 10})],
             links=[{"from": "a", "to": "s", "kind": "power", "capacity_mw": 20}])
    res = solve(d)
    npv_ok(res, 6_424_000)
    assert col(res, "a", "grid_import_mw") == approx_list([10])
    assert col(res, "a", "gross_load_mw") == approx_list([0])


def test_source_capacity_and_price_series():
    # g: capacity [5, 10, 10] MW, price [10, 30, 90] USD/MWh, lossless link.
    # p1: 5 MW * (730,000 - 87,600) = 3,212,000; p2: 10 * (730,000 - 262,800) = 4,672,000;
    # p3: 90 * 8760 = 788,400 > 730,000: nothing. NPV = 7,884,000.
    res = solve(_fed_by_source({"from": "g", "to": "s", "kind": "power", "capacity_mw": 100},
                               cap=[5, 10, 10], price=[10, 30, 90], periods=3))
    npv_ok(res, 7_884_000)
    assert col(res, "s", "btc_mw") == approx_list([5, 10, 0])


def test_site_without_grid_or_links_draws_nothing():
    # a 10 MW fleet and 10 MW of existing halls, but no grid and no links: nothing can run.
    d = inst([site("s", grid=None, btc={"fleet_mw": 10}, ai=existing(10))],
             contracts=[contract("k", 10)])
    res = solve(d)
    npv_ok(res, 0)
    assert col(res, "s", "btc_mw") == approx_list([0])
    assert col(res, "s", "gross_load_mw") == approx_list([0])
    assert not accepted(res, "k")


def test_grid_price_series():
    # grid price [20, 90]: period 1 mines, 10 * (730,000 - 175,200) = 5,548,000; period 2
    # costs 90 * 8760 = 788,400 > 730,000 per MW: off. NPV = 5,548,000.
    res = solve(inst([site("a", grid=(100, [20, 90]), btc={"fleet_mw": 10})], periods=2))
    npv_ok(res, 5_548_000)
    assert col(res, "a", "btc_mw") == approx_list([10, 0])


# --------------------------------------------------------------------------- limits


def _expansion_site(capex: float = 150_000) -> dict[str, Any]:
    # margin 192,000 per MW-year (grid 50, opex 100,000); fleet 0, up to 20 MW to buy.
    return site("a", btc={"fleet_mw": 0, "opex_usd_per_mw_year": 100_000,
                          "expansion": {"max_mw": 20, "capex_usd_per_mw": capex}})


def test_total_capex_budget():
    # each MW bought earns 192,000 - 150,000 = 42,000 in one period.
    # no budget: 20 MW -> 840,000; budget 1,500,000 -> 10 MW -> 420,000.
    free = solve(inst([_expansion_site()]))
    npv_ok(free, 840_000)
    capped = solve(inst([_expansion_site()], limits={"capex_budget_usd": 1_500_000}))
    npv_ok(capped, 420_000)
    assert col(capped, "a", "btc_bought_mw") == approx_list([10])
    assert sum(cash(capped, "capex")) <= 1_500_000 + 1e-6


def test_per_period_capex_budget_spreads_halls():
    # one site, 2 halls of 10 MW at 200,000/MW (2,000,000 each), lead 0, price 0, pue 1.
    # A: 10 MW periods 1-2 at 100 (24,000,000); B: 10 MW periods 1-2 at 90 (21,600,000);
    # C: 10 MW period 2 at 50 (6,000,000).
    # no limit: 2 halls in period 1, A + B: 45,600,000 - 4,000,000 = 41,600,000.
    # per period 2,000,000: one hall in 1 (A, the better), one in 2 (C):
    # 24,000,000 + 6,000,000 - 4,000,000 = 26,000,000.
    d = inst([site("a", grid=(100, 0), ai={"max_it_mw": 20, "block_it_mw": 10,
                                          "capex_usd_per_it_mw": 200_000,
                                          "lead_time_periods": 0})],
             periods=2,
             contracts=[contract("A", 10, term=2), contract("B", 10, rate=90, term=2),
                        contract("C", 10, rate=50, start=2)])
    free = solve(d)
    npv_ok(free, 41_600_000)
    assert col(free, "a", "halls_started") == [2, 0]
    d["limits"] = {"capex_budget_usd_per_period": 2_000_000}
    capped = solve(d)
    npv_ok(capped, 26_000_000)
    assert col(capped, "a", "halls_started") == [1, 1]
    assert accepted(capped, "A") and not accepted(capped, "B") and accepted(capped, "C")
    assert cash(capped, "capex") == approx_list([2_000_000, 2_000_000])


def test_max_tenant_share():
    # 20 MW existing, price 0. x (tenant X) 0-20 MW at 100, y (tenant Y) 0-20 MW at 50.
    # no limit: x takes 20 -> 24,000,000.
    # share 0.6: x <= 0.6 (x + y), x + y <= 20 -> x = 12, y = 8:
    # 12 * 1,200,000 + 8 * 600,000 = 14,400,000 + 4,800,000 = 19,200,000.
    d = inst([site("a", grid=(100, 0), ai=existing(20))],
             contracts=[contract("x", (0, 20), tenant="X"),
                        contract("y", (0, 20), rate=50, tenant="Y")])
    npv_ok(solve(d), 24_000_000)
    d["limits"] = {"max_tenant_share": 0.6}
    res = solve(d)
    npv_ok(res, 19_200_000)
    assert contract_row(res, "x")["it_mw"] == pytest.approx(12)
    assert contract_row(res, "y")["it_mw"] == pytest.approx(8)


@pytest.mark.parametrize(("cap", "expected"),
                         [(0, 0.0), (1, 12_000_000.0), (2, 21_600_000.0), (3, 28_800_000.0)])
def test_max_contracts(cap, expected):
    # 30 MW existing, price 0; three 10 MW offers at 100, 80, 60 (12.0, 9.6, 7.2 MUSD):
    # the best `cap` of them are taken.
    d = inst([site("a", grid=(100, 0), ai=existing(30))],
             contracts=[contract("p", 10), contract("q", 10, rate=80),
                        contract("r", 10, rate=60)],
             limits={"max_contracts": cap})
    res = solve(d)
    npv_ok(res, expected)
    taken = [c for c in ("p", "q", "r") if accepted(res, c)]
    assert taken == ["p", "q", "r"][:cap]


# --------------------------------------------------------------------------- discounting


def test_discounting_operating_at_end_capex_at_start():
    # r = 10 %, ypp 2, 2 periods. Per MW and period: revenue 1,460,000 - energy 876,000
    # - opex 200,000 = 384,000, discounted by 1.1^-2 (period 1) and 1.1^-4 (period 2).
    # Capex 300,000/MW bought in period 1 is discounted by 1.1^0 = 1:
    # per MW: -300,000 + 384,000/1.21 + 384,000/1.4641 = 279,632.2 > 0 (buying in period 2
    # gives -300,000/1.21 + 384,000/1.4641 = 14,342.9, less): buy all 10 in period 1.
    # fleet 5 adds 5 * 384,000 * (1/1.21 + 1/1.4641).
    d = inst([site("a", btc={"fleet_mw": 5, "opex_usd_per_mw_year": 100_000,
                             "expansion": {"max_mw": 10, "capex_usd_per_mw": 300_000}})],
             periods=2, ypp=2, rate=0.1)
    res = solve(d)
    expected = 15 * 384_000 * (1 / 1.1**2 + 1 / 1.1**4) - 10 * 300_000
    npv_ok(res, expected)
    assert col(res, "a", "btc_bought_mw") == approx_list([10, 0])
    assert cash(res, "discounted") == approx_list(
        [15 * 384_000 / 1.1**2 - 3_000_000, 15 * 384_000 / 1.1**4])


def test_discounting_lease_revenue_and_hall_capex():
    # r = 10 %, ypp 2, price 0, pue 1. 10 MW existing + one 10 MW hall at 200,000/MW, lead 0.
    # a: 10 MW both periods, 24,000,000 per period (100 * 12000 * 2 * 10).
    # b: 10 MW in period 2: needs the hall, best started in period 2 (capex at 1.1^-2).
    # NPV = 24M/1.1^2 + 48M/1.1^4 - 2M/1.1^2.
    d = inst([site("a", grid=(100, 0), ai={"max_it_mw": 20, "existing_it_mw": 10,
                                          "block_it_mw": 10, "capex_usd_per_it_mw": 200_000,
                                          "lead_time_periods": 0})],
             periods=2, ypp=2, rate=0.1,
             contracts=[contract("a", 10, term=2), contract("b", 10, start=2)])
    res = solve(d)
    npv_ok(res, 24e6 / 1.1**2 + 48e6 / 1.1**4 - 2e6 / 1.1**2)
    assert col(res, "a", "halls_started") == [0, 1]
    assert contract_row(res, "a")["npv_usd"] == pytest.approx(24e6 / 1.1**2 + 24e6 / 1.1**4)
    assert contract_row(res, "b")["npv_usd"] == pytest.approx(24e6 / 1.1**4)


# --------------------------------------------------------------------------- infeasible


def _infeasible(d: dict[str, Any]) -> portfolio_opt.Result:
    res = portfolio_opt.solve(d, profile="exact")
    assert res.status == "infeasible"
    assert res.objective_npv_usd is None
    return res


def test_infeasible_committed_contract_without_capacity():
    # committed 20 MW, the only site holds 10 MW and cannot build. No plan exists.
    d = inst([site("a", ai=existing(10))],
             contracts=[contract("big-anchor", 20, committed=True), contract("offer", 5)])
    res = _infeasible(d)
    assert "big-anchor" in res.message
    assert "offer" not in res.message


def test_infeasible_more_committed_than_max_contracts():
    d = inst([site("a", ai=existing(30))],
             contracts=[contract("c-one", 10, committed=True),
                        contract("c-two", 10, committed=True)],
             limits={"max_contracts": 1})
    res = _infeasible(d)
    assert "c-one" in res.message and "c-two" in res.message
    assert "max_contracts" in res.message


def test_infeasible_committed_contract_beyond_budget():
    # the committed contract needs a hall (2,000,000) but the budget is 1,000,000.
    d = inst([site("a", ai={"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 200_000,
                            "lead_time_periods": 0})],
             contracts=[contract("needs-hall", 10, committed=True)],
             limits={"capex_budget_usd": 1_000_000})
    res = _infeasible(d)
    assert "needs-hall" in res.message


def test_infeasible_committed_contract_without_power():
    # halls exist but the site has neither grid nor links.
    d = inst([site("a", grid=None, ai=existing(10))],
             contracts=[contract("dark", 10, committed=True)])
    res = _infeasible(d)
    assert "dark" in res.message
