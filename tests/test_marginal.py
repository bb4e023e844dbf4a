"""Marginal values: hand-derived slopes, and finite differences of the fixed-integer LP.

Shared numbers (discount 0, one-year periods, uptime 1, no opex unless a test says so):

* hashprice 40 USD/PH/day at 20 J/TH = 50 PH/s per MW: 40 * 50 * 365 = 730,000 USD of BTC
  revenue per hashing MW and period;
* grid at 20 USD/MWh: 20 * 8760 = 175,200 USD per MW drawn for a period;
* a lease at 100 USD/kW-month: 100 * 12,000 = 1,200,000 USD per IT MW and period.

The finite differences change one number of the instance by +-delta, rebuild the model,
hold every integer decision (halls, first halls, accepted contracts, serving sites) at the
base plan's values and re-solve the LP with the production solver path. For a maximised
LP the NPV is concave in each of these numbers, so every valid dual lies between the right
and the left difference quotient, for any delta; where the LP is not degenerate the three
agree. ``value_next_unit_usd`` (one whole unit more, re-solved in place) must equal the
right quotient for a delta of one unit.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import portfolio_opt as po
from portfolio_opt.api import build, result_from_solve
from portfolio_opt.constants import MARGINAL_COLUMNS
from portfolio_opt.solver import PersistentHighs, solver_options

BTC = 730_000.0
GRID20 = 175_200.0
LEASE = 1_200_000.0
INTEGERS = ("halls", "first_hall", "accept", "uses")


# --------------------------------------------------------------------------- helpers


def instance(sites: list[dict[str, Any]], periods: int = 2, **extra: Any) -> dict[str, Any]:
    return {"name": "mv", "horizon": {"periods": periods, **extra.pop("horizon", {})},
            "market": {"hashprice_usd_per_ph_day": 40}, "sites": sites, **extra}


def miner(sid: str = "mine", capacity: float = 100, grid: float | None = 100, **btc: Any
          ) -> dict[str, Any]:
    s: dict[str, Any] = {"id": sid, "capacity_mw": capacity,
                         "btc": {"fleet_mw": 100, "efficiency_j_per_th": 20, **btc}}
    if grid is not None:
        s["grid"] = {"capacity_mw": grid, "price_usd_per_mwh": 20}
    return s


def solve(data: dict[str, Any]) -> tuple[po.Result, Any]:
    """Solve with marginal values; return the result and the solved Pyomo model."""
    built = build(data)
    result = result_from_solve(built, PersistentHighs(built.pyomo), solver_options("exact"),
                               "exact", marginals=True)
    assert result.status == "optimal", result.message
    assert result.marginal_values is not None
    return result, built.pyomo


def value(result: po.Result, kind: str, entity: str, period: int | None = None,
          direction: str = "", column: str = "value_usd_per_unit") -> float:
    mv = result.marginal_values
    assert mv is not None
    rows = mv[(mv.kind == kind) & (mv.entity == entity) & (mv.direction == direction)]
    rows = rows[rows.period.isna()] if period is None else rows[rows.period == period]
    assert len(rows) == 1, (kind, entity, period, direction)
    return float(rows.iloc[0][column])


def next_unit(result: po.Result, kind: str, entity: str, period: int | None = None,
              direction: str = "") -> float:
    return value(result, kind, entity, period, direction, column="value_next_unit_usd")


def fixed_npv(data: dict[str, Any], base: Any) -> float:
    """NPV (USD, model objective) of ``data`` with the integers of ``base`` held fixed."""
    built = build(data)
    m = built.pyomo
    for name in INTEGERS:
        var, ref = getattr(m, name), getattr(base, name)
        for idx in var:
            var[idx].fix(round(ref[idx].value or 0.0))
    outcome = PersistentHighs(m).solve(solver_options("exact"))
    assert outcome.status == "optimal"
    return float(outcome.objective) * 1e6


def quotients(data: dict[str, Any], base: Any, change: Callable[[dict[str, Any], float], bool],
              delta: float) -> tuple[float | None, float | None]:
    """(right, left) difference quotients of the fixed-integer NPV; None where not valid."""
    mid = fixed_npv(data, base)
    out: list[float | None] = []
    for sign in (+1, -1):
        d = copy.deepcopy(data)
        if not change(d, sign * delta):
            out.append(None)
            continue
        out.append(sign * (fixed_npv(d, base) - mid) / delta)
    return out[0], out[1]


def setter(*path: Any, period: int | None = None, periods: int = 0
           ) -> Callable[[dict[str, Any], float], bool]:
    """Add delta to the number at ``path`` (one period of a series when ``period`` is set)."""
    def change(d: dict[str, Any], delta: float) -> bool:
        holder = d
        for key in path[:-1]:
            holder = holder[key]
        old = holder[path[-1]]
        if period is not None:
            series = list(old) if isinstance(old, list) else [old] * periods
            series[period - 1] += delta
            if series[period - 1] < 0:
                return False
            holder[path[-1]] = series
            return True
        if old + delta < 0:
            return False
        holder[path[-1]] = old + delta
        return True
    return change


def assert_quotients(right: float | None, left: float | None, expected: float) -> None:
    """Both difference quotients equal the hand-derived slope (a non-degenerate LP)."""
    assert right == pytest.approx(expected, rel=1e-7)
    assert left == pytest.approx(expected, rel=1e-7)


# --------------------------------------------------------------------------- hand-derived


def test_capacity_limited_miner_earns_its_margin_over_pue_per_mw():
    # 50 MW site, ASICs at btc.pue 1.25: 40 MW hash. One more MW of capacity hashes
    # 1/1.25 MW more: (730,000 - 1.25 * 175,200) / 1.25 = 408,800 USD per period.
    data = instance([miner(capacity=50, pue=1.25)])
    res, base = solve(data)
    per_mw = (BTC - 1.25 * GRID20) / 1.25
    assert value(res, "site_capacity", "mine", 1) == pytest.approx(per_mw, rel=1e-9)
    assert value(res, "site_capacity", "mine", 2) == pytest.approx(per_mw, rel=1e-9)
    assert value(res, "site_capacity", "mine") == pytest.approx(2 * per_mw, rel=1e-9)
    assert value(res, "grid_capacity", "mine") == 0.0  # 50 MW drawn of 100
    assert value(res, "btc_fleet", "mine") == 0.0  # 100 MW installed, 40 hashing
    right, left = quotients(data, base, setter("sites", 0, "capacity_mw"), 0.5)
    assert_quotients(right, left, 2 * per_mw)
    assert next_unit(res, "site_capacity", "mine") == pytest.approx(2 * per_mw, rel=1e-7)
    assert next_unit(res, "grid_capacity", "mine") == 0.0


def test_grid_limited_miner_and_discounting():
    # 50 MW of grid for 100 MW of ASICs: one more grid MW hashes one more MW, worth
    # 730,000 - 175,200 = 554,800 per period, discounted at 10 % to the end of each period.
    data = instance([miner(grid=50)], horizon={"discount_rate": 0.1})
    res, base = solve(data)
    margin = BTC - GRID20
    assert value(res, "grid_capacity", "mine", 1) == pytest.approx(margin / 1.1, rel=1e-9)
    assert value(res, "grid_capacity", "mine", 2) == pytest.approx(margin / 1.1**2, rel=1e-9)
    assert value(res, "site_capacity", "mine") == 0.0
    right, left = quotients(data, base, setter("sites", 0, "grid", "capacity_mw"), 1.0)
    assert_quotients(right, left, margin / 1.1 + margin / 1.1**2)


def test_fleet_limited_miner():
    # 30 MW of ASICs on a 100 MW site: one more ASIC MW earns 554,800 in each period.
    data = instance([miner(fleet_mw=30)])
    res, base = solve(data)
    assert value(res, "btc_fleet", "mine") == pytest.approx(2 * (BTC - GRID20), rel=1e-9)
    right, left = quotients(data, base, setter("sites", 0, "btc", "fleet_mw"), 1.0)
    assert_quotients(right, left, 2 * (BTC - GRID20))


def test_power_link_from_a_source():
    # No grid at the mine: power comes from 'plant' (10 USD/MWh = 87,600 per MW-period)
    # through a 50 MW link losing 10 %: 45 MW hash. One more MW of link capacity buys one
    # more MW at the plant and delivers 0.9 MW: 0.9 * 730,000 - 87,600 = 569,400 per period.
    data = instance([miner(grid=None)],
                    sources=[{"id": "plant", "capacity_mw": 80, "price_usd_per_mwh": 10}],
                    links=[{"id": "line", "from": "plant", "to": "mine", "kind": "power",
                            "capacity_mw": 50, "loss": 0.1}])
    res, base = solve(data)
    per = 0.9 * BTC - 87_600
    assert value(res, "link_capacity", "line", 1, "plant->mine") == pytest.approx(per, rel=1e-9)
    assert value(res, "link_capacity", "line", None, "mine->plant") == 0.0
    assert value(res, "link_capacity", "line") == pytest.approx(2 * per, rel=1e-9)
    assert value(res, "source_capacity", "plant") == 0.0  # 50 of 80 MW used
    right, left = quotients(data, base, setter("links", 0, "capacity_mw"), 1.0)
    assert_quotients(right, left, 2 * per)
    assert next_unit(res, "link_capacity", "line") == pytest.approx(2 * per, rel=1e-7)


def test_total_budget_buying_asics():
    # 10 MW of ASICs, up to 50 MW more at 1 MUSD/MW, 20 MUSD budget: 20 MW bought in
    # period 1, each earning 2 * 554,800 = 1,109,600. One more budget USD buys 1e-6 MW:
    # 1,109,600 / 1e6 - 1 = 0.1096 USD of NPV per USD.
    data = instance([miner(fleet_mw=10, expansion={"max_mw": 50, "capex_usd_per_mw": 1e6})],
                    limits={"capex_budget_usd": 20e6})
    res, base = solve(data)
    assert value(res, "capex_budget", "limits") == pytest.approx(0.1096, rel=1e-9)
    right, left = quotients(data, base, setter("limits", "capex_budget_usd"), 1e6)
    assert_quotients(right, left, 0.1096)
    assert next_unit(res, "capex_budget", "limits") == pytest.approx(0.1096, rel=1e-7)


def test_per_period_budget():
    # 5 MUSD a period: 5 MW bought in period 1 (0.1096 per USD as above); buying in period 2
    # would earn 554,800 per MW for 1 MUSD, so the period-2 budget is unused and worth 0.
    data = instance([miner(fleet_mw=10, expansion={"max_mw": 50, "capex_usd_per_mw": 1e6})],
                    limits={"capex_budget_usd_per_period": 5e6})
    res, base = solve(data)
    assert value(res, "capex_budget_period", "limits", 1) == pytest.approx(0.1096, rel=1e-9)
    assert value(res, "capex_budget_period", "limits", 2) == 0.0
    for t, expected in ((1, 0.1096), (2, 0.0)):
        change = setter("limits", "capex_budget_usd_per_period", period=t, periods=2)
        right, left = quotients(data, base, change, 1e5)
        assert right == pytest.approx(expected, abs=1e-9)
        assert left is not None and left >= expected - 1e-9


def ai_site(**ai: Any) -> dict[str, Any]:
    return {"id": "campus", "capacity_mw": 100,
            "grid": {"capacity_mw": 100, "price_usd_per_mwh": ai.pop("price", 20)},
            "ai": {"max_it_mw": 20, "block_it_mw": 10, "capex_usd_per_it_mw": 0,
                   "lead_time_periods": 0, "pue": 1.2, **ai}}


def lease(**c: Any) -> dict[str, Any]:
    return {"id": "lease", "tenant": "acme", "it_mw": {"min": 0, "max": 10},
            "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 2, **c}


def test_contract_max_is_worth_its_lease_margin():
    # 20 IT MW already built; the lease takes its 10 IT MW max. One more IT MW earns
    # 1,200,000 - 1.2 * 175,200 = 989,760 per period, two periods.
    data = instance([ai_site(existing_it_mw=20)], contracts=[lease()])
    res, base = solve(data)
    expected = 2 * (LEASE - 1.2 * GRID20)
    assert value(res, "contract_it_mw_max", "lease") == pytest.approx(expected, rel=1e-9)
    assert value(res, "contract_it_mw_min", "lease") == 0.0
    right, left = quotients(data, base, setter("contracts", 0, "it_mw", "max"), 1.0)
    assert_quotients(right, left, expected)


def test_committed_minimum_of_a_losing_lease():
    # At 10 USD/kW-month a lease earns 120,000 per IT MW-period but its power costs
    # 210,240: the committed lease runs at its 5 IT MW minimum, and each IT MW of that
    # minimum costs 2 * 90,240 = 180,480 of NPV.
    data = instance([ai_site(existing_it_mw=20)],
                    contracts=[lease(rate_usd_per_kw_month=10, committed=True,
                                     it_mw={"min": 5, "max": 10})])
    res, base = solve(data)
    assert value(res, "contract_it_mw_min", "lease") == pytest.approx(-180_480, rel=1e-9)
    assert value(res, "contract_it_mw_max", "lease") == 0.0
    right, left = quotients(data, base, setter("contracts", 0, "it_mw", "min"), 1.0)
    assert_quotients(right, left, -180_480)
    assert next_unit(res, "contract_it_mw_min", "lease") == pytest.approx(-180_480, rel=1e-7)


def test_hall_reduced_cost_is_a_linear_estimate():
    # Halls of 10 IT MW at 2 MUSD/IT MW (20 MUSD a hall), free power, a lease of up to
    # 15 IT MW: one hall in period 1 serves 10 IT MW for two periods, NPV 24 - 20 = 4 MUSD.
    # Reduced cost of one more hall in period 1: 10 more IT MW leased in both periods for
    # 20 MUSD = +4 MUSD. In period 2: the lease takes the same IT MW in every period of its
    # term, so capacity in period 2 alone adds nothing: -20 MUSD of capex. As a whole block
    # the second hall in period 1 is worth 5 * 2.4 - 20 = -8 MUSD (the lease takes only 5
    # more): the reduced cost is a slope, not the value of a block.
    data = instance([ai_site(price=0, pue=1.0, capex_usd_per_it_mw=2e6)],
                    contracts=[lease(it_mw={"min": 0, "max": 15})])
    res, _ = solve(data)
    assert res.objective_npv_usd == pytest.approx(4e6, rel=1e-9)
    assert value(res, "ai_halls", "campus", 1) == pytest.approx(4e6, rel=1e-9)
    assert value(res, "ai_halls", "campus", 2) == pytest.approx(-20e6, rel=1e-9)
    mv = res.marginal_values
    assert mv is not None
    assert mv[mv.kind == "ai_halls"]["limit"].tolist() == [1.0, 0.0]


# --------------------------------------------------------------------------- table


def test_table_columns_totals_and_zeros_off_the_limit():
    res, _ = solve(po.load_instance("instances/tutorial.yaml").model_dump(by_alias=True))
    mv = res.marginal_values
    assert mv is not None
    assert list(mv.columns) == MARGINAL_COLUMNS
    for kind in ("site_capacity", "grid_capacity", "source_capacity", "btc_fleet"):
        rows = mv[mv.kind == kind]
        for _entity, group in rows.groupby("entity"):
            total = group[group.period.isna()]["value_usd_per_unit"]
            assert len(total) == 1
            assert total.iloc[0] == pytest.approx(
                group[group.period.notna()]["value_usd_per_unit"].sum(), rel=1e-12, abs=1e-6)
    limits = mv[~mv.kind.isin(["ai_halls"])]
    assert (limits[~limits.binding]["value_usd_per_unit"] == 0).all()
    # the tutorial's one (directed) link: per-period rows for its arc, and two totals
    links = mv[mv.kind == "link_capacity"]
    assert set(links.direction) == {"wind-farm->charlie", ""}
    assert len(links) == 5 + 2


def test_marginal_values_csv_round_trip(tmp_path):
    res, _ = solve(instance([miner(capacity=50, pue=1.25)]))
    res.write(tmp_path)
    back = pd.read_csv(tmp_path / "marginal_values.csv", keep_default_na=False)
    assert list(back.columns) == MARGINAL_COLUMNS
    total = back[(back.kind == "site_capacity") & (back.period == "")]
    assert float(total["value_usd_per_unit"].iloc[0]) == pytest.approx(2 * 408_800, rel=1e-9)
    # a result without marginal values removes the file of an earlier run
    res.marginal_values = None
    res.write(tmp_path)
    assert not (tmp_path / "marginal_values.csv").exists()


def test_solving_without_marginal_values_leaves_none():
    data = instance([miner()])
    assert po.solve(data, marginal_values=False).marginal_values is None
    assert po.solve(data).marginal_values is not None


# --------------------------------------------------------------------------- finite differences


def _changes(data: dict[str, Any]) -> list[tuple[str, str, int | None, Any, float]]:
    """(kind, entity, period, change, delta) for every limit the instance has."""
    T = data["horizon"]["periods"]
    out: list[tuple[str, str, int | None, Any, float]] = []
    for i, s in enumerate(data["sites"]):
        if s.get("btc") or (s.get("ai") and s["ai"]["max_it_mw"] > 0):
            out.append(("site_capacity", s["id"], None, setter("sites", i, "capacity_mw"), 1.0))
        if s.get("grid"):
            out.append(("grid_capacity", s["id"], None,
                        setter("sites", i, "grid", "capacity_mw"), 1.0))
        if s.get("btc"):
            out.append(("btc_fleet", s["id"], None, setter("sites", i, "btc", "fleet_mw"), 1.0))
    for i, link in enumerate(data.get("links", [])):
        if link["kind"] == "power":
            lid = link.get("id") or f"{link['from']}-{link['to']}"
            out.append(("link_capacity", lid, None, setter("links", i, "capacity_mw"), 1.0))
    for i, src in enumerate(data.get("sources", [])):
        for t in range(1, T + 1):
            out.append(("source_capacity", src["id"], t,
                        setter("sources", i, "capacity_mw", period=t, periods=T), 1.0))
    for i, c in enumerate(data.get("contracts", [])):
        out.append(("contract_it_mw_max", c["id"], None,
                    setter("contracts", i, "it_mw", "max"), 1.0))
    limits = data.get("limits") or {}
    if limits.get("capex_budget_usd") is not None:
        out.append(("capex_budget", "limits", None, setter("limits", "capex_budget_usd"), 1e6))
    if limits.get("capex_budget_usd_per_period") is not None:
        for t in range(1, T + 1):
            out.append(("capex_budget_period", "limits", t,
                        setter("limits", "capex_budget_usd_per_period", period=t, periods=T),
                        1e6))
    return out


def _keep_min_below_max(change: Any, index: int) -> Any:
    def guarded(d: dict[str, Any], delta: float) -> bool:
        it = d["contracts"][index]["it_mw"]
        return it["max"] + delta >= it["min"] and change(d, delta)
    return guarded


@pytest.mark.slow
@pytest.mark.parametrize("which", ["tutorial", "generated"])
def test_every_marginal_value_lies_between_the_difference_quotients(which):
    if which == "tutorial":
        data = po.load_instance("instances/tutorial.yaml").model_dump(
            by_alias=True, exclude_none=True)
    else:
        from portfolio_opt.generate import generate_instance

        data = generate_instance(sites=6, periods=3, contracts=3, seed=4)
    res, base = solve(data)
    scale = abs(res.objective_npv_usd or 0.0) + 1e6
    checked = 0
    for kind, entity, period, change, delta in _changes(data):
        if kind == "contract_it_mw_max":
            index = [c["id"] for c in data["contracts"]].index(entity)
            change = _keep_min_below_max(change, index)
        g = value(res, kind, entity, period)
        step = next_unit(res, kind, entity, period)
        right, left = quotients(data, base, change, delta)
        tol = 1e-7 * scale / delta + 1e-6 * abs(g)
        if right is not None:
            assert right <= g + tol, (kind, entity, period, right, g, left)
            # one whole unit more, re-solved in place == rebuilt with the number changed
            if period is None or kind == "capex_budget_period":
                assert step == pytest.approx(right, abs=tol), (kind, entity, step, right)
            else:
                assert math.isnan(step)
        if left is not None:
            assert g <= left + tol, (kind, entity, period, right, g, left)
        checked += 1
    assert checked >= 10


@pytest.mark.slow
def test_realistic_portfolio_degenerate_limits():
    # On the 20-site portfolio some binding limits are degenerate: HiGHS's dual for
    # tx-rockdale's capacity is the value of the last MW (left), the next MW is worth less.
    # Both lie where concavity puts them, and value_next_unit_usd is the next MW's value.
    data = po.load_instance("instances/us_portfolio.yaml").model_dump(
        by_alias=True, exclude_none=True)
    res, base = solve(data)
    index = {s["id"]: i for i, s in enumerate(data["sites"])}
    source = [s["id"] for s in data["sources"]].index("nd-wind")
    cases = [("site_capacity", "tx-rockdale", None,
              setter("sites", index["tx-rockdale"], "capacity_mw")),
             ("btc_fleet", "ne-kearney", None,
              setter("sites", index["ne-kearney"], "btc", "fleet_mw")),
             ("source_capacity", "nd-wind", None, setter("sources", source, "capacity_mw"))]
    for kind, entity, period, change in cases:
        g = value(res, kind, entity, period)
        right, left = quotients(data, base, change, 1.0)
        assert right is not None and left is not None
        assert right - 1.0 <= g <= left + 1.0, (kind, right, g, left)
        assert next_unit(res, kind, entity, period) == pytest.approx(right, abs=1.0)
    assert next_unit(res, "site_capacity", "tx-rockdale") < \
        0.5 * value(res, "site_capacity", "tx-rockdale")


# --------------------------------------------------------------------------- spec v2 A and D


def v2_lease(cid: str, **c: Any) -> dict[str, Any]:
    return {"id": cid, "tenant": "t", "it_mw": {"min": 10, "max": 10},
            "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 1, **c}


def v2_site(sid: str, price: float = 0.0, **ai: Any) -> dict[str, Any]:
    return {"id": sid, "capacity_mw": 100,
            "grid": {"capacity_mw": 100, "price_usd_per_mwh": price},
            "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 0,
                   "lead_time_periods": 0, "pue": 1.0, **ai}}


def test_group_value_is_the_plan_allowed_a_second_structure():
    # One 10 IT MW offer in two structures over 5 years, halls of 10 IT MW at 50 MUSD:
    # op-funded at 150 USD/kW-month earns 90 - 50 = 40 MUSD; tenant-funded at 120 with
    # 40 MUSD from the tenant earns 72 - 50 + 40 = 62 MUSD. The group takes the second;
    # allowed both (room for two halls), the plan adds the first: +40 MUSD. That is the
    # NPV of the instance without the group (102 MUSD) minus 62 MUSD.
    offers = [v2_lease("op-funded", rate_usd_per_kw_month=150, term_periods=5, group="offer"),
              v2_lease("tenant-funded", rate_usd_per_kw_month=120, term_periods=5,
                       group="offer", tenant_capex_usd_per_it_mw=4e6)]
    data = instance([v2_site("a", max_it_mw=20, capex_usd_per_it_mw=5e6)], periods=5,
                    contracts=offers)
    res, _ = solve(data)
    assert res.objective_npv_usd == pytest.approx(62e6)
    assert value(res, "contract_group", "offer") == pytest.approx(40e6, rel=1e-9)
    assert next_unit(res, "contract_group", "offer") == pytest.approx(40e6, rel=1e-9)
    free = copy.deepcopy(data)
    for c in free["contracts"]:
        del c["group"]
    assert po.solve(free, profile="exact").objective_npv_usd - res.objective_npv_usd == \
        pytest.approx(40e6, rel=1e-9)
    mv = res.marginal_values
    assert mv is not None
    note = mv[mv.kind == "contract_group"]["note"].iloc[0]
    assert "'tenant-funded'" in note and "also accepts 'op-funded'" in note
    assert "40,000,000 USD" in note


def test_group_with_nothing_accepted_is_worth_nothing():
    # Both structures lose money (a 100 MUSD hall for 12 MUSD a year): none is accepted.
    offers = [v2_lease("x", group="g"), v2_lease("y", group="g")]
    res, _ = solve(instance([v2_site("a", capex_usd_per_it_mw=10e6)], periods=1,
                            contracts=offers))
    assert value(res, "contract_group", "g") == 0.0
    assert next_unit(res, "contract_group", "g") == 0.0
    mv = res.marginal_values
    assert mv is not None
    assert not mv[mv.kind == "contract_group"]["binding"].iloc[0]


def _fixed_allocation(allocation: str) -> dict[str, Any]:
    # Site a: free power, 15 IT MW existing; site b: 100 USD/MWh (876,000 USD per IT MW
    # and year at PUE 1), 10 IT MW existing. Lease x: 10 IT MW, years 1-2, a or b; lease y:
    # 10 IT MW at a in year 2, so a has 15 IT MW for x in year 1 and 5 in year 2.
    # Fixed: x splits 5 + 5 in both years, energy 2 * 5 * 876,000 = 8.76 MUSD.
    # Flexible: 10 at a in year 1, 5 + 5 in year 2: 4.38 MUSD.
    x = v2_lease("x", term_periods=2, eligible={"sites": ["a", "b"]}, max_sites=2,
                 committed=True, allocation=allocation)
    y = v2_lease("y", start_period=2, eligible={"sites": ["a"]}, committed=True)
    return instance([v2_site("a", existing_it_mw=15, max_it_mw=15),
                     v2_site("b", price=100, existing_it_mw=10)], contracts=[x, y])


def test_fixed_allocation_value_of_a_different_split():
    data = _fixed_allocation("fixed")
    res, base = solve(data)
    assert res.objective_npv_usd == pytest.approx(36e6 - 8.76e6)
    # Year 2 with 1 IT MW more at b and 1 less at a than year 1: year 1 takes that IT MW
    # at a instead of b, 876,000 USD of energy saved (5 such IT MW are possible).
    assert value(res, "fixed_allocation", "x", 2) == pytest.approx(876_000, rel=1e-9)
    assert value(res, "fixed_allocation", "x") == pytest.approx(876_000, rel=1e-9)
    # The rule lifted, integers held: 8.76 - 4.38 MUSD, as the flexible instance.
    lifted = fixed_npv(_fixed_allocation("flexible"), base) - fixed_npv(data, base)
    assert lifted == pytest.approx(4.38e6, rel=1e-9)
    assert next_unit(res, "fixed_allocation", "x") == pytest.approx(lifted, rel=1e-7)
    mv = res.marginal_values
    assert mv is not None
    note = mv[(mv.kind == "fixed_allocation") & (mv.period == 2)]["note"].iloc[0]
    assert "1 more at 'b' and 1 less at 'a'" in note


def test_fixed_allocation_that_costs_nothing():
    # Without y, x fits at free site a in both years: the rule does not bind.
    data = _fixed_allocation("fixed")
    data["contracts"] = data["contracts"][:1]
    res, _ = solve(data)
    assert value(res, "fixed_allocation", "x") == 0.0
    assert next_unit(res, "fixed_allocation", "x") == 0.0


def debt_case(debt: dict[str, Any], periods: int = 3, **limits: Any) -> dict[str, Any]:
    # One 10 IT MW hall at 50 MUSD in year 1, a committed 10 IT MW lease (12 MUSD a year),
    # r = 10 %.
    data = instance([v2_site("a", capex_usd_per_it_mw=5e6)], periods=periods,
                    horizon={"discount_rate": 0.1},
                    contracts=[v2_lease("lease", term_periods=periods, committed=True)],
                    finance={"debt": debt})
    if limits:
        data["limits"] = limits
    return data


def annuity(i: float, n: int) -> float:
    return i / (1 - (1 + i) ** -n)


def test_loan_to_cost_point_is_worth_the_loans_npv_gain():
    # 5 % over 2 years against r = 10 %: each USD borrowed adds 1 - a (1/1.1 + 1/1.1^2)
    # = 0.066620 USD. 0.01 more of the 50 MUSD hall borrowed: 500,000 USD more.
    data = debt_case({"max_loan_to_cost": 0.7, "interest_rate": 0.05, "tenor_years": 2})
    res, base = solve(data)
    per_usd = 1 - annuity(0.05, 2) * (1 / 1.1 + 1 / 1.1**2)
    expected = 500_000 * per_usd
    assert expected == pytest.approx(33_309.82, abs=0.01)
    assert value(res, "debt_loan_to_cost", "debt", 1) == pytest.approx(expected, rel=1e-9)
    assert value(res, "debt_loan_to_cost", "debt", 2) == 0.0  # no capex in year 2
    assert value(res, "debt_loan_to_cost", "debt") == pytest.approx(expected, rel=1e-9)
    assert next_unit(res, "debt_loan_to_cost", "debt") == pytest.approx(expected, rel=1e-7)
    right, left = quotients(data, base, setter("finance", "debt", "max_loan_to_cost"), 0.01)
    assert_quotients(None if right is None else right * 0.01,
                     None if left is None else left * 0.01, expected)


def test_max_total_debt_and_an_equity_budget():
    # Interest at 10 % = r: a loan is worth nothing in itself; the per-period (equity)
    # budget of 20 MUSD needs 30 MUSD borrowed, max_total_usd is 32 MUSD: not binding.
    # At 5 % the loan adds 1 - a(5 %, 5) * sum_k 1.1^-k = 0.124424 USD per USD, so the
    # plan borrows the 32 MUSD cap, and one more USD of it is worth 0.124424.
    free = debt_case({"max_loan_to_cost": 0.7, "interest_rate": 0.1, "tenor_years": 5,
                      "max_total_usd": 32e6}, capex_budget_usd_per_period=20e6)
    res, _ = solve(free)
    assert value(res, "debt_total", "debt") == pytest.approx(0.0, abs=1e-9)
    # the equity budget binds: one more USD of it saves a USD of loan worth nothing
    assert value(res, "capex_budget_period", "limits", 1) == pytest.approx(0.0, abs=1e-9)
    data = debt_case({"max_loan_to_cost": 0.7, "interest_rate": 0.05, "tenor_years": 5,
                      "max_total_usd": 32e6}, capex_budget_usd_per_period=20e6)
    res, base = solve(data)
    per_usd = 1 - annuity(0.05, 5) * sum(1.1**-k for k in range(1, 6))
    assert per_usd == pytest.approx(0.124424, abs=1e-6)
    assert res.summary()["debt_principal_usd"] == pytest.approx(32e6)
    assert value(res, "debt_total", "debt") == pytest.approx(per_usd, rel=1e-9)
    assert next_unit(res, "debt_total", "debt") == pytest.approx(per_usd, rel=1e-7)
    right, left = quotients(data, base, setter("finance", "debt", "max_total_usd"), 1e6)
    assert_quotients(right, left, per_usd)
    mv = res.marginal_values
    assert mv is not None
    budget = mv[(mv.kind == "capex_budget_period") & (mv.period == 1)]["note"].iloc[0]
    assert "equity" in budget


# --------------------------------------------------------------------------- spec v2 C

CREDIT = 50_000.0  # USD per MW-year of demand response standing ready


def dr_case(max_mw: float, peak: float = 200.0, periods: int = 1, discount: float = 0.0,
            blocks: bool = True) -> dict[str, Any]:
    # One miner: 50 MW of ASICs (PUE 1), 730,000 USD a year per MW hashing = 83.33 USD/MWh.
    # Blocks off (0.8 of the hours, 30 USD/MWh: hashes) and peak (0.2, `peak` USD/MWh:
    # curtailed at 200, hashing at 60). DR pays 50,000 USD per MW-year, up to max_mw.
    price: Any = {"off": 30, "peak": peak} if blocks else 30
    site = {"id": "a", "capacity_mw": 100,
            "grid": {"capacity_mw": 100, "price_usd_per_mwh": price},
            "btc": {"fleet_mw": 50, "efficiency_j_per_th": 20,
                    "demand_response": {"credit_usd_per_mw_year": CREDIT,
                                        "max_mw": max_mw}}}
    data = instance([site], periods=periods, horizon={"discount_rate": discount})
    if blocks:
        data["market"]["blocks"] = [{"id": "off", "hours_share": 0.8},
                                    {"id": "peak", "hours_share": 0.2}]
    return data


@pytest.mark.parametrize(("peak", "expected"), [(200.0, 0.8 * CREDIT), (60.0, CREDIT)])
def test_dr_capacity_is_the_credit_of_the_blocks_where_max_mw_binds(peak, expected):
    # max_mw 30 < 50 MW hashing: the cap binds in every block that hashes. At a 200 USD/MWh
    # peak the site curtails there (and offers nothing), so one more MW of max_mw is worth
    # the off block's 0.8 * 50,000 = 40,000 USD; at 60 both blocks hash: 50,000 USD.
    data = dr_case(30, peak)
    res, base = solve(data)
    assert value(res, "dr_capacity", "a", 1) == pytest.approx(expected, rel=1e-9)
    assert value(res, "dr_capacity", "a") == pytest.approx(expected, rel=1e-9)
    assert value(res, "dr_capacity", "a", column="binding")
    assert value(res, "dr_capacity", "a", column="limit") == 30.0
    assert next_unit(res, "dr_capacity", "a") == pytest.approx(expected, rel=1e-7)
    right, left = quotients(data, base, setter("sites", 0, "btc", "demand_response",
                                               "max_mw"), 1.0)
    assert_quotients(right, left, expected)


def test_dr_capacity_next_mw_by_a_full_re_solve():
    # The MILP itself re-solved with max_mw 31 instead of 30 gains the 40,000 USD.
    res, _ = solve(dr_case(30))
    more, _ = solve(dr_case(31))
    assert more.objective_npv_usd - res.objective_npv_usd == pytest.approx(40_000, rel=1e-9)
    assert next_unit(res, "dr_capacity", "a") == pytest.approx(40_000, rel=1e-7)


def test_dr_capacity_per_period_is_discounted():
    # DR is an operating cash flow, discounted at the end of its period: 40,000 / 1.1 and
    # 40,000 / 1.1^2; the total is one more MW in both years.
    res, _ = solve(dr_case(30, periods=2, discount=0.1))
    one, two = 40_000 / 1.1, 40_000 / 1.1**2
    assert value(res, "dr_capacity", "a", 1) == pytest.approx(one, rel=1e-9)
    assert value(res, "dr_capacity", "a", 2) == pytest.approx(two, rel=1e-9)
    assert value(res, "dr_capacity", "a") == pytest.approx(one + two, rel=1e-9)
    assert next_unit(res, "dr_capacity", "a") == pytest.approx(one + two, rel=1e-7)
    assert math.isnan(next_unit(res, "dr_capacity", "a", 1))  # per period: not re-solved


def test_dr_capacity_above_the_hashing_load_is_worth_nothing():
    # max_mw 80 > 50 gross MW hashing: dr_mw stops at btc.pue * btc_mw, the cap has room.
    data = dr_case(80)
    res, base = solve(data)
    assert value(res, "dr_capacity", "a") == 0.0
    assert not value(res, "dr_capacity", "a", column="binding")
    assert next_unit(res, "dr_capacity", "a") == 0.0
    right, _ = quotients(data, base, setter("sites", 0, "btc", "demand_response", "max_mw"),
                         1.0)
    assert right == pytest.approx(0.0, abs=1e-6)


def test_dr_capacity_without_blocks():
    # One implicit block of share 1: max_mw 40 < 50 binds at the full 50,000 USD a year.
    res, _ = solve(dr_case(40, blocks=False))
    assert value(res, "dr_capacity", "a") == pytest.approx(CREDIT, rel=1e-9)
    assert next_unit(res, "dr_capacity", "a") == pytest.approx(CREDIT, rel=1e-7)


def test_dr_capacity_at_zero_is_degenerate_and_the_next_unit_settles_it():
    # max_mw 0: in the curtailed peak both dr_mw <= 0 and dr_mw <= btc_mw = 0 hold with
    # equality, so the peak's reduced cost may be anything in [0, 0.2 * 50,000]: the dual
    # lies in [40,000, 50,000]. One more MW is worth the off block's 40,000 exactly (hashing
    # in the peak to offer DR there would lose far more than 10,000).
    res, _ = solve(dr_case(0))
    assert 40_000 - 1e-6 <= value(res, "dr_capacity", "a") <= 50_000 + 1e-6
    assert next_unit(res, "dr_capacity", "a") == pytest.approx(40_000, rel=1e-7)


def test_group_re_solve_stopped_at_its_limit_reports_a_lower_bound(monkeypatch):
    # The bundled portfolio's one group: allowed its second structure the plan gains
    # 412,187,708 USD, proven in a 2-3 s MILP re-solve (docs/marginal_values.md). Each
    # re-solve stops after as long as the plan's solve took, at least
    # GROUP_RESOLVE_MIN_SECONDS (5 s). With that floor at 0.01 s the limit is the plan's
    # own solve time, well under what the proof takes: the re-solve stops early and
    # reports the gain of the best plan it has (the plan itself at worst), marked.
    from portfolio_opt import marginal_deals

    path = Path(__file__).resolve().parent.parent / "instances" / "us_portfolio.yaml"
    proven = po.solve(path, threads=1).marginal_values
    assert proven is not None
    row = proven[proven.kind == "contract_group"].iloc[0]
    assert row["value_usd_per_unit"] == pytest.approx(412_187_708, rel=1e-4)
    assert "at least" not in row["note"]
    monkeypatch.setattr(marginal_deals, "GROUP_RESOLVE_MIN_SECONDS", 0.01)
    early = po.solve(path, threads=1).marginal_values
    assert early is not None
    row = early[early.kind == "contract_group"].iloc[0]
    assert "worth at least" in row["note"] and "a lower bound" in row["note"]
    assert 0.0 <= row["value_usd_per_unit"] <= 412_187_708 * (1 + 1e-4)
    assert row["value_next_unit_usd"] == row["value_usd_per_unit"]
