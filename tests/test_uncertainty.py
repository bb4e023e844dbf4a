"""Hashprice uncertainty (spec v2 B): hand-derived optima of two-stage and multi-stage plans,
CVaR by hand, and the relations every stochastic plan obeys.

The hand instances use one-year periods, no discounting, PUE 1, uptime 1 and an efficiency
of 36.5 J/TH, so one hashing MW earns hashprice x 10,000 USD a year (1000/36.5 x 365), and
a grid price of 50 USD/MWh costs 438,000 USD per MW-year.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from portfolio_opt.api import solve
from portfolio_opt.extract_scenarios import cvar

TOL = 1.0  # USD
WORKED = Path(__file__).parent / "data" / "worked_example.yaml"


@pytest.fixture
def worked_example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKED.read_text())
    return data


def _site(ai: bool = True, btc_max: float = 30.0) -> dict[str, Any]:
    site: dict[str, Any] = {
        "id": "s", "capacity_mw": 30,
        "grid": {"capacity_mw": 30, "price_usd_per_mwh": 50},
        "btc": {"fleet_mw": 0, "efficiency_j_per_th": 36.5, "pue": 1, "uptime": 1,
                "expansion": {"max_mw": btc_max, "capex_usd_per_mw": 500_000}},
    }
    if ai:
        site["ai"] = {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 600_000,
                      "lead_time_periods": 0, "pue": 1}
    return site


def hedge_instance(high: float = 0.5, weight: float = 0.0, alpha: float = 0.95
                   ) -> dict[str, Any]:
    """One period. Hashing: 150 USD/PH/day earns 1,062,000 USD per MW net of power, 30
    USD/PH/day does not pay for power (the site curtails, 0). An ASIC MW costs 500,000. A
    10 IT MW lease at 100 USD/kW-month pays 12,000,000 for a hall of 6,000,000 drawing
    4,380,000 of power: A = 1,620,000, and takes 10 of the site's 30 MW.

    high alone: 30 MW of ASICs, 30 x 562,000 = 16,860,000 (the lease: 1,620,000 + 20 x
    562,000 = 12,860,000). low alone: the lease alone, 1,620,000. Two-stage (0.5 / 0.5):
    an ASIC MW is worth 0.5 x 1,062,000 - 500,000 = 31,000, so the lease and 20 MW:
    1,620,000 + 620,000 = 2,240,000 (30 MW without the lease: 930,000).
    """
    return {
        "name": "hedge",
        "horizon": {"periods": 1, "years_per_period": 1, "discount_rate": 0},
        "sites": [_site()],
        "contracts": [{"id": "lease", "tenant": "t", "it_mw": {"min": 10, "max": 10},
                       "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 1}],
        "uncertainty": {
            "scenarios": [
                {"id": "high", "probability": high, "hashprice_usd_per_ph_day": 150},
                {"id": "low", "probability": 1 - high, "hashprice_usd_per_ph_day": 30},
            ],
            "risk": {"cvar_alpha": alpha, "cvar_weight": weight},
        },
    }


def _alone(data: dict[str, Any], scenario: str) -> dict[str, Any]:
    one = copy.deepcopy(data)
    u = one["uncertainty"]
    u["scenarios"] = [dict(s, probability=1.0) for s in u["scenarios"] if s["id"] == scenario]
    u["risk"] = {"cvar_weight": 0.0}
    return one


def _bought(result: Any) -> float:
    sp = result.site_periods
    first = sp[sp["scenario"] == sp["scenario"].iloc[0]]
    return float(first["btc_bought_mw"].sum())


def _halls(result: Any) -> int:
    sp = result.site_periods
    first = sp[sp["scenario"] == sp["scenario"].iloc[0]]
    return int(first["halls_started"].sum())


def test_two_stage_plan_differs_from_each_scenario_alone() -> None:
    data = hedge_instance()
    high = solve(_alone(data, "high"), marginal_values=False)
    low = solve(_alone(data, "low"), marginal_values=False)
    both = solve(data, marginal_values=False)
    assert high.objective_npv_usd == pytest.approx(16_860_000, abs=TOL)
    assert (_bought(high), _halls(high)) == (pytest.approx(30), 0)
    assert low.objective_npv_usd == pytest.approx(1_620_000, abs=TOL)
    assert (_bought(low), _halls(low)) == (pytest.approx(0), 1)
    assert both.status == "optimal"
    assert both.objective_npv_usd == pytest.approx(2_240_000, abs=TOL)
    assert (_bought(both), _halls(both)) == (pytest.approx(20), 1)
    npv = dict(zip(both.scenarios["scenario"], both.scenarios["npv_usd"], strict=True))
    assert npv["high"] == pytest.approx(1_620_000 + 20 * 562_000, abs=TOL)
    assert npv["low"] == pytest.approx(1_620_000 - 20 * 500_000, abs=TOL)
    # the same plan in both scenarios, hashing only where it pays
    sp = both.site_periods.set_index("scenario")
    assert sp.loc["high", "btc_mw"] == pytest.approx(20)
    assert sp.loc["low", "btc_mw"] == pytest.approx(0)
    assert (sp["btc_bought_mw"] == sp["btc_bought_mw"].iloc[0]).all()


@pytest.mark.parametrize(("weight", "objective", "expected", "bought"), [
    # slope per ASIC MW: (1 - w) 31,000 - w 500,000 > 0 iff w < 31/531 = 0.0584
    (0.0, 2_240_000, 2_240_000, 20),
    (0.05, 1_620_000 + 20 * (0.95 * 31_000 - 0.05 * 500_000), 2_240_000, 20),  # 1,709,000
    (0.5, 1_620_000, 1_620_000, 0),
    (1.0, 1_620_000, 1_620_000, 0),
])
def test_cvar_weight_by_hand(weight: float, objective: float, expected: float,
                             bought: float) -> None:
    """alpha 0.5: the CVaR is the low scenario's NPV (its mass is exactly the tail)."""
    result = solve(hedge_instance(weight=weight, alpha=0.5), marginal_values=False)
    risk = result.risk
    assert risk is not None
    assert risk["objective_usd"] == pytest.approx(objective, abs=TOL)
    assert risk["expected_npv_usd"] == pytest.approx(expected, abs=TOL)
    assert _bought(result) == pytest.approx(bought)
    low = 1_620_000 - bought * 500_000
    assert risk["cvar_usd"] == pytest.approx(low, abs=TOL)
    tail = dict(zip(result.scenarios["scenario"], result.scenarios["in_cvar_tail"],
                    strict=True))
    assert tail == {"high": bought == 0, "low": True}  # equal NPVs: both are in the tail


def test_cvar_formula_by_hand() -> None:
    """Tail mass 0.4: all of a (0.2 at 10) and 0.2 of b (at 20): CVaR = 15, eta* = 20."""
    value, eta = cvar({"a": 10.0, "b": 20.0, "c": 40.0}, {"a": 0.2, "b": 0.3, "c": 0.5}, 0.6)
    assert (value, eta) == (pytest.approx(15.0), 20.0)
    # alpha 0: the expectation
    value, eta = cvar({"a": 10.0, "b": 20.0, "c": 40.0}, {"a": 0.2, "b": 0.3, "c": 0.5}, 0.0)
    assert (value, eta) == (pytest.approx(28.0), 40.0)


def waiting_instance(structure: str) -> dict[str, Any]:
    """Two periods, no lease. Period 1 hashprice 30 (hashing does not pay); period 2
    150 or 30. Buying in period 2 earns only period 2.
    two_stage: one purchase plan for both: an MW bought is worth 0.5 x 1,062,000 - 500,000
    = 31,000, so 30 MW: 930,000. multi_stage: buy 30 MW in period 2 of the high branch
    only: 0.5 x 30 x 562,000 = 8,430,000. Waiting for the branch is worth 7,500,000.
    """
    return {
        "name": "waiting",
        "horizon": {"periods": 2, "years_per_period": 1, "discount_rate": 0},
        "sites": [_site(ai=False)],
        "uncertainty": {
            "structure": structure,
            "scenarios": [
                {"id": "up", "probability": 0.5, "hashprice_usd_per_ph_day": [30, 150]},
                {"id": "down", "probability": 0.5, "hashprice_usd_per_ph_day": [30, 30]},
            ],
        },
    }


def test_waiting_for_the_branch_is_worth_a_known_amount() -> None:
    two = solve(waiting_instance("two_stage"), marginal_values=False)
    multi = solve(waiting_instance("multi_stage"), marginal_values=False)
    assert two.objective_npv_usd == pytest.approx(930_000, abs=TOL)
    assert multi.objective_npv_usd == pytest.approx(8_430_000, abs=TOL)
    assert multi.objective_npv_usd - two.objective_npv_usd == pytest.approx(7_500_000, abs=TOL)
    sp = multi.site_periods.set_index(["scenario", "period"])
    assert sp.loc[("up", 1), "btc_bought_mw"] == pytest.approx(0)
    assert sp.loc[("up", 2), "btc_bought_mw"] == pytest.approx(30)
    assert sp.loc[("down", 2), "btc_bought_mw"] == pytest.approx(0)


def test_value_of_information_by_hand() -> None:
    """Hedge instance: wait-and-see 0.5 x 16,860,000 + 0.5 x 1,620,000 = 9,240,000, so
    EVPI = 9,240,000 - 2,240,000 = 7,000,000. The mean-value problem (hashprice 90: an
    ASIC MW earns 900,000 - 438,000 - 500,000 = -38,000) takes the lease alone; fixed in
    the two scenarios that plan is worth 1,620,000, so VSS = 620,000."""
    result = solve(hedge_instance(), marginal_values=False, value_of_information=True)
    assert result.risk is not None
    assert result.risk["evpi_usd"] == pytest.approx(7_000_000, abs=TOL)
    assert result.risk["vss_usd"] == pytest.approx(620_000, abs=TOL)
    details = result.extra["value_of_information"]
    assert details["mean_value"]["npv_usd"] == pytest.approx(1_620_000, abs=TOL)


def test_multi_stage_value_of_information_is_nonnegative() -> None:
    result = solve(waiting_instance("multi_stage"), marginal_values=False,
                   value_of_information=True)
    assert result.risk is not None
    # wait-and-see: 0.5 x 16,860,000 (up: 30 MW in period 2) + 0 = 8,430,000 = the plan
    assert result.risk["evpi_usd"] == pytest.approx(0, abs=TOL)
    # mean value (90): no purchase; fixed: 0; VSS = 8,430,000
    assert result.risk["vss_usd"] == pytest.approx(8_430_000, abs=TOL)


def test_energy_price_scale_scales_grid_not_tariffs() -> None:
    """Scale 2 in the low scenario doubles its energy cost (the lease's 4,380,000 becomes
    8,760,000); the lease's energy recovery tariff (pass-through at 50) is not scaled."""
    data = hedge_instance()
    data["contracts"][0]["energy_recovery_usd_per_mwh"] = 50
    data["uncertainty"]["scenarios"][1]["energy_price_scale"] = 2
    result = solve(data, marginal_values=False)
    cf = result.cashflows.set_index("scenario")
    assert cf.loc["high", "energy_recovery"] == pytest.approx(4_380_000, abs=TOL)
    assert cf.loc["low", "energy_recovery"] == pytest.approx(4_380_000, abs=TOL)
    high_mw = float(result.site_periods.set_index("scenario").loc["high", "grid_import_mw"])
    assert cf.loc["high", "energy_cost"] == pytest.approx(high_mw * 8760 * 50, abs=TOL)
    assert cf.loc["low", "energy_cost"] == pytest.approx(10 * 8760 * 100, abs=TOL)


def _deterministic(data: dict[str, Any], scenario: int = 0) -> dict[str, Any]:
    det = copy.deepcopy(data)
    sc = det.pop("uncertainty")["scenarios"][scenario]
    det["market"] = {"hashprice_usd_per_ph_day": sc["hashprice_usd_per_ph_day"]}
    return det


@pytest.mark.parametrize("structure", ["two_stage", "multi_stage"])
def test_one_scenario_and_identical_scenarios_are_the_deterministic_plan(
        structure: str, worked_example: dict[str, Any]) -> None:
    det = solve(worked_example, marginal_values=False)
    data = copy.deepcopy(worked_example)
    hp = data["market"].pop("hashprice_usd_per_ph_day")
    one = dict(data, uncertainty={"structure": structure, "scenarios": [
        {"id": "only", "probability": 1, "hashprice_usd_per_ph_day": hp}]})
    same = dict(data, uncertainty={"structure": structure, "scenarios": [
        {"id": f"w{i}", "probability": 0.25, "hashprice_usd_per_ph_day": hp}
        for i in range(4)], "risk": {"cvar_weight": 0.5}})
    for variant in (one, same):
        result = solve(variant, marginal_values=False)
        assert result.objective_npv_usd == pytest.approx(det.objective_npv_usd, abs=TOL)
        assert result.risk is not None
        assert result.risk["cvar_usd"] == pytest.approx(det.objective_npv_usd, abs=TOL)
        assert result.risk["objective_usd"] == pytest.approx(det.objective_npv_usd, abs=TOL)
    only = solve(one, marginal_values=False)
    # the tables are the deterministic ones with a scenario column
    sp = only.site_periods.drop(columns="scenario")
    assert sp["btc_mw"].to_list() == pytest.approx(det.site_periods["btc_mw"].to_list())


def _spread(data: dict[str, Any], factors: list[float], branch: int = 2) -> dict[str, Any]:
    """The worked example with hashprice scenarios: period-1 data shared, scaled by each
    factor from period ``branch`` on."""
    out = copy.deepcopy(data)
    hp = out["market"].pop("hashprice_usd_per_ph_day")
    n = len(factors)
    out["uncertainty"] = {"scenarios": [
        {"id": f"w{i}", "probability": 1 / n,
         "hashprice_usd_per_ph_day": [h if t + 1 < branch else h * f for t, h in enumerate(hp)]}
        for i, f in enumerate(factors)]}
    out["uncertainty"]["scenarios"][-1]["probability"] = 1 - (n - 1) / n
    return out


def test_two_stage_below_multi_stage_below_wait_and_see(worked_example: dict[str, Any]
                                                          ) -> None:
    base = _spread(worked_example, [0.3, 1.0, 2.5])
    two = solve(base, marginal_values=False, value_of_information=True)
    multi_data = copy.deepcopy(base)
    multi_data["uncertainty"]["structure"] = "multi_stage"
    multi = solve(multi_data, marginal_values=False, value_of_information=True)
    assert two.risk is not None and multi.risk is not None
    ws = two.extra["value_of_information"]["wait_and_see_usd"]
    assert multi.extra["value_of_information"]["wait_and_see_usd"] == pytest.approx(ws, abs=TOL)
    assert two.risk["objective_usd"] <= multi.risk["objective_usd"] + TOL
    assert multi.risk["objective_usd"] <= ws + TOL
    for r in (two, multi):
        assert r.risk is not None
        assert r.risk["evpi_usd"] >= -TOL
        assert r.risk["vss_usd"] >= -TOL


def test_alpha_zero_cvar_is_the_expectation(worked_example: dict[str, Any]) -> None:
    data = _spread(worked_example, [0.3, 1.0, 2.5])
    data["uncertainty"]["risk"] = {"cvar_alpha": 0.0, "cvar_weight": 0.7}
    result = solve(data, marginal_values=False)
    neutral = solve(_spread(worked_example, [0.3, 1.0, 2.5]), marginal_values=False)
    assert result.risk is not None
    assert result.risk["cvar_usd"] == pytest.approx(result.risk["expected_npv_usd"], abs=TOL)
    assert result.risk["objective_usd"] == pytest.approx(neutral.objective_npv_usd, abs=TOL)
    assert result.scenarios["in_cvar_tail"].all()


def test_risk_aversion_never_raises_expected_npv() -> None:
    previous = None
    for weight in (0.0, 0.02, 0.05, 0.1, 0.5, 1.0):
        result = solve(hedge_instance(weight=weight, alpha=0.5), marginal_values=False)
        assert result.risk is not None
        e = result.risk["expected_npv_usd"]
        if previous is not None:
            assert e <= previous + TOL
        previous = e


def test_summary_and_files(tmp_path: Any) -> None:
    import json

    result = solve(hedge_instance(weight=0.05, alpha=0.5), marginal_values=False)
    result.write(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("expected_npv_usd", "cvar_usd", "cvar_alpha", "cvar_weight", "objective_usd"):
        assert key in summary
    assert summary["objective_npv_usd"] == summary["expected_npv_usd"]
    assert summary["objective_usd"] == pytest.approx(1_709_000, abs=TOL)
    lines = (tmp_path / "scenarios.csv").read_text().splitlines()
    assert lines[0] == "scenario,probability,npv_usd,in_cvar_tail"
    assert len(lines) == 3
    for name in ("site_periods", "cashflows", "flows", "contract_site_periods"):
        head = (tmp_path / f"{name}.csv").read_text().splitlines()[0]
        assert head.startswith("scenario,")
    # the contracts table stays one row per contract
    assert (tmp_path / "contracts.csv").read_text().splitlines()[0].startswith("contract,")
    # a deterministic result in the same folder removes scenarios.csv
    solve(_deterministic(hedge_instance()), marginal_values=False).write(tmp_path)
    assert not (tmp_path / "scenarios.csv").exists()
