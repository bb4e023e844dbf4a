"""The efficient frontier (portfolio-opt frontier), --value-of-information on solve, and
batches over the uncertainty block (risk weights, scenario prices and probabilities).

The hand instance ("hedge") has one one-year period, no discounting, PUE 1, uptime 1 and an
efficiency of 36.5 J/TH, so one hashing MW earns hashprice x 10,000 USD a year, and power
at 50 USD/MWh costs 438,000 USD per MW-year. Two scenarios, 0.5 each: hashprice 150 (an
MW nets 1,062,000) or 30 (the site curtails). An ASIC MW costs 500,000. A 10 IT MW lease
nets 1,620,000 in both scenarios and takes 10 of the site's 30 MW.

With alpha 0.5 the CVaR is the low scenario's NPV. The lease plus 20 MW of ASICs: E[NPV]
= 1,620,000 + 20 x (0.5 x 1,062,000 - 500,000) = 2,240,000, low NPV (the CVaR) =
1,620,000 - 20 x 500,000 = -8,380,000. The lease alone: 1,620,000 in both. An ASIC MW pays
(1 - w) 31,000 - w 500,000 > 0 for w < 31/531 = 0.058.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from portfolio_opt.api import solve
from portfolio_opt.errors import InputError
from portfolio_opt.frontier import FRONTIER_COLUMNS, Plan, describe_change, efficient_frontier

try:
    from tests.test_uncertainty import hedge_instance
except ImportError:  # tests/ itself on sys.path (pytest's rootdir-relative import)
    from test_uncertainty import hedge_instance  # type: ignore[no-redef]

TOL = 1.0  # USD
WORKED = Path(__file__).parent / "data" / "worked_example.yaml"
MINUS = "\u2212"


def hedge(weight: float = 0.0, alpha: float = 0.5, high: float = 0.5) -> dict[str, Any]:
    """The one-site hedge of tests/test_uncertainty.py (hand-derived there), alpha 0.5."""
    return hedge_instance(high=high, weight=weight, alpha=alpha)


def three_scenarios() -> dict[str, Any]:
    """The worked example under three hashprice futures (alpha 0.8: the CVaR is the crash
    scenario's NPV), with neocloud-b's offer at 205 USD/kW-month: risk-neutral plans keep
    midland hashing; enough weight on the crash converts it to the lease."""
    data: dict[str, Any] = yaml.safe_load(WORKED.read_text())
    data["market"].pop("hashprice_usd_per_ph_day")
    data["contracts"][1]["rate_usd_per_kw_month"] = 205
    data["uncertainty"] = {
        "scenarios": [
            {"id": "crash", "probability": 0.2, "hashprice_usd_per_ph_day": [48, 28, 18, 14],
             "energy_price_scale": [1, 1.15, 1.25, 1.25]},
            {"id": "base", "probability": 0.5, "hashprice_usd_per_ph_day": [48, 46, 34, 27]},
            {"id": "boom", "probability": 0.3, "hashprice_usd_per_ph_day": [48, 75, 65, 55]},
        ],
        "risk": {"cvar_alpha": 0.8},
    }
    return data


# ----------------------------------------------------------------------------- library


def test_frontier_of_the_hedge_by_hand() -> None:
    frame = efficient_frontier(hedge(), [1, 0, 0.5, 0.05], profile="exact")
    assert list(frame.columns) == FRONTIER_COLUMNS
    rows = frame.set_index("weight")
    assert list(rows.index) == [0, 0.05, 0.5, 1]  # sorted
    assert set(rows["status"]) == {"optimal"} and set(rows["alpha"]) == {0.5}
    hand = {  # weight: (E[NPV], CVaR, objective)
        0.0: (2_240_000, -8_380_000, 2_240_000),
        0.05: (2_240_000, -8_380_000, 0.95 * 2_240_000 + 0.05 * -8_380_000),  # 1,709,000
        0.5: (1_620_000, 1_620_000, 1_620_000),
        1.0: (1_620_000, 1_620_000, 1_620_000),
    }
    for w, (e, c, obj) in hand.items():
        assert rows.loc[w, "expected_npv_usd"] == pytest.approx(e, abs=TOL)
        assert rows.loc[w, "cvar_usd"] == pytest.approx(c, abs=TOL)
        assert rows.loc[w, "objective_usd"] == pytest.approx(obj, abs=TOL)
    assert (rows["new_it_mw"] == 10).all() and (rows["contracted_it_mw"] == 10).all()
    assert (rows["contracts_accepted"] == "lease").all()
    assert list(rows["change"]) == ["first point", "same investments",
                                    f"{MINUS}20 MW ASIC purchases at s", "same investments"]
    assert frame.attrs["instance_name"] == "hedge" and frame.attrs["cvar_alpha"] == 0.5


@pytest.fixture(scope="module")
def worked_frontier() -> pd.DataFrame:
    return efficient_frontier(three_scenarios(), [0, 0.25, 0.5, 0.75, 0.9, 1],
                              profile="exact")


def test_end_points_equal_single_solves(worked_frontier: pd.DataFrame) -> None:
    rows = worked_frontier.set_index("weight")
    neutral = solve(three_scenarios(), profile="exact", marginal_values=False)
    assert neutral.risk is not None
    assert rows.loc[0.0, "objective_usd"] == pytest.approx(neutral.risk["objective_usd"],
                                                           rel=1e-9, abs=TOL)
    assert rows.loc[0.0, "expected_npv_usd"] == pytest.approx(neutral.objective_npv_usd,
                                                              rel=1e-9, abs=TOL)
    averse = three_scenarios()
    averse["uncertainty"]["risk"]["cvar_weight"] = 1.0
    alone = solve(averse, profile="exact", marginal_values=False)
    assert alone.risk is not None
    # weight 1: the objective is the CVaR, the best CVaR there is
    assert rows.loc[1.0, "objective_usd"] == rows.loc[1.0, "cvar_usd"]
    assert rows.loc[1.0, "objective_usd"] == pytest.approx(alone.risk["cvar_usd"], rel=1e-6)


def test_frontier_is_monotone_and_trades_mining_for_the_lease(
        worked_frontier: pd.DataFrame) -> None:
    e = list(worked_frontier["expected_npv_usd"])
    c = list(worked_frontier["cvar_usd"])
    for a, b in itertools.pairwise(e):
        assert b <= a + 1e-6 * abs(a)
    for a, b in itertools.pairwise(c):
        assert b >= a - 1e-6 * abs(a)
    rows = worked_frontier.set_index("weight")
    assert rows.loc[0.0, "contracts_accepted"] == "hyperscaler-a"
    assert rows.loc[1.0, "contracts_accepted"] == "hyperscaler-a;neocloud-b"
    assert (rows.loc[0.0, "contracted_it_mw"], rows.loc[1.0, "contracted_it_mw"]) == (30, 70)
    assert (rows.loc[0.0, "new_it_mw"], rows.loc[1.0, "new_it_mw"]) == (15, 55)
    changes = " | ".join(rows["change"])
    assert "+ contract neocloud-b (40 IT MW)" in changes
    assert "+40 IT MW halls at midland" in changes
    # the tie-break: at weight 1 the plan keeps the best E[NPV] of its CVaR, not any
    assert rows.loc[1.0, "expected_npv_usd"] == pytest.approx(rows.loc[0.9,
                                                                       "expected_npv_usd"])


def test_frontier_re_solves_one_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import portfolio_opt.api as api

    builds: list[Any] = []
    solved: list[int] = []
    real_build, real_solve = api.build, api.result_from_solve

    def counting_build(*args: Any, **kwargs: Any) -> Any:
        built = real_build(*args, **kwargs)
        builds.append(built)
        return built

    def recording_solve(built: Any, *args: Any, **kwargs: Any) -> Any:
        solved.append(id(built.pyomo))
        return real_solve(built, *args, **kwargs)

    monkeypatch.setattr(api, "build", counting_build)
    monkeypatch.setattr(api, "result_from_solve", recording_solve)
    frame = efficient_frontier(hedge(), [0, 0.5, 1], profile="exact")
    assert len(builds) == 1 and len(solved) == 3
    assert set(solved) == {id(builds[0].pyomo)}  # the same Pyomo model every time
    assert (frame.attrs["model_builds"], frame.attrs["model_updates"]) == (1, 2)
    assert frame["objective_usd"].iloc[0] == pytest.approx(2_240_000, abs=TOL)


def test_alpha_option_replaces_the_instance_level() -> None:
    """alpha 0: the CVaR is E[NPV], so every weight gives the risk-neutral plan."""
    frame = efficient_frontier(hedge(alpha=0.95), [0, 1], alpha=0.0, profile="exact")
    assert (frame["alpha"] == 0.0).all()
    for col in ("expected_npv_usd", "cvar_usd", "objective_usd"):
        assert frame[col].to_numpy() == pytest.approx([2_240_000, 2_240_000], abs=TOL)


def test_deterministic_instance_and_bad_weights_are_input_errors() -> None:
    with pytest.raises(InputError, match="needs an 'uncertainty' block") as info:
        efficient_frontier(WORKED, [0, 1])
    assert str(WORKED) in str(info.value)
    with pytest.raises(InputError, match="between 0 and 1"):
        efficient_frontier(hedge(), [0, 1.5])


def test_change_text() -> None:
    a = Plan({"x": 30.0}, {"m": {2: 20.0}}, {"r": 15.0})
    b = Plan({"x": 30.0, "y": 40.0}, {"m": {2: 20.0}, "n": {1: 40.0}}, {})
    assert describe_change(a, b) == (f"+ contract y (40 IT MW); +40 IT MW halls at n; "
                                     f"{MINUS}15 MW ASIC purchases at r")
    assert describe_change(b, a) == (f"{MINUS} contract y; {MINUS}40 IT MW halls at n; "
                                     "+15 MW ASIC purchases at r")
    later = Plan({"x": 20.0}, {"m": {3: 20.0}}, {"r": 15.0})
    assert describe_change(a, later) == ("contract x 30 \u2192 20 IT MW; halls at m started "
                                         "in other periods")
    assert describe_change(a, copy.deepcopy(a)) == "same investments"
    assert describe_change(a, None) == "no plan"


def test_multi_stage_investments_are_expectations() -> None:
    """Two periods, hashprice 30 then 150 (up) or 30 (down): the plan buys 30 MW in period
    2 of the up branch only, so 15 MW in expectation."""
    data = hedge()
    data["horizon"]["periods"] = 2
    data["contracts"] = []
    data["uncertainty"] = {"structure": "multi_stage", "scenarios": [
        {"id": "up", "probability": 0.5, "hashprice_usd_per_ph_day": [30, 150]},
        {"id": "down", "probability": 0.5, "hashprice_usd_per_ph_day": [30, 30]}]}
    frame = efficient_frontier(data, [0], profile="exact")
    assert frame["expected_npv_usd"].iloc[0] == pytest.approx(0.5 * 30 * 562_000, abs=TOL)
    from portfolio_opt.frontier import plan_of
    from portfolio_opt.validate import validate_data

    result = solve(data, profile="exact", marginal_values=False)
    plan = plan_of(result, validate_data(data, "<test>"))
    assert plan is not None and plan.asics == {"s": pytest.approx(15.0)}


# ------------------------------------------------------------------------------ batches


def test_probability_path_rescales_the_others() -> None:
    from portfolio_opt.batch.paths import apply_changes, resolve
    from portfolio_opt.validate import validate_data

    base = validate_data(three_scenarios(), "<test>")
    variant = apply_changes(base, [("uncertainty.scenarios[crash].probability", 0.6, False)])
    assert variant.uncertainty is not None
    probs = {s.id: s.probability for s in variant.uncertainty.scenarios}
    # the other two keep their 0.5 : 0.3 ratio and take the remaining 0.4
    assert probs == {"crash": 0.6, "base": pytest.approx(0.25), "boom": pytest.approx(0.15)}
    with pytest.raises(InputError, match="one scenario at a time"):
        resolve(base, "uncertainty.scenarios[*].probability")
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        apply_changes(base, [("uncertainty.scenarios[crash].probability", 1.0, False)])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from portfolio_opt.batch.api import run_batch

    folder = tmp_path_factory.mktemp("risk_batch")
    base = folder / "hedge.yaml"
    base.write_text(yaml.safe_dump(hedge()), encoding="utf-8")
    spec = {
        "base": str(base), "method": "oat", "solver_profile": "exact",
        "parameters": [
            {"path": "uncertainty.risk.cvar_weight", "values": [0.05, 0.5, 1.0]},
            {"path": "uncertainty.scenarios[high].probability", "values": [0.25, 0.75]},
            {"path": "uncertainty.scenarios[high].hashprice_usd_per_ph_day",
             "values": [200.0]},
        ],
    }
    return run_batch(spec, folder / "out", workers=1)


def test_sweep_over_the_cvar_weight_equals_single_solves(sweep: Any) -> None:
    rows = sweep.results.set_index("scenario")
    assert sweep.complete and set(rows["status"]) == {"optimal"}
    assert int(rows["model_built"].sum()) == 1  # every other scenario is an update
    weights = [(s.id, float(s.changes[0][1])) for s in sweep.design.scenarios
               if s.varied == "uncertainty.risk.cvar_weight"]
    assert [w for _, w in weights] == [0.05, 0.5, 1.0]
    for sid, w in [(0, 0.0), *weights]:
        one = solve(hedge(weight=w), profile="exact", marginal_values=False)
        assert one.risk is not None
        for col in ("expected_npv_usd", "cvar_usd", "objective_usd"):
            assert rows.loc[sid, col] == pytest.approx(one.risk[col], abs=TOL)
        assert rows.loc[sid, "objective_npv_usd"] == rows.loc[sid, "expected_npv_usd"]
    assert rows.loc[0, "objective_usd"] == pytest.approx(2_240_000, abs=TOL)
    # per-period totals are expectations: 20 MW hash in high, none in low
    assert rows.loc[0, "btc_mw_p1"] == pytest.approx(10.0)
    assert rows.loc[0, "ai_it_mw_p1"] == pytest.approx(10.0)
    sp = sweep.site_periods
    assert len(sp) == len(rows)  # one row per site and period, not one per scenario
    assert sp.set_index("scenario").loc[0, "btc_mw"] == pytest.approx(10.0)


def test_sweep_over_scenario_probability_and_price_by_hand(sweep: Any) -> None:
    """high 0.25: an ASIC MW is worth 0.25 x 1,062,000 - 500,000 < 0, the lease alone
    (1,620,000). high 0.75: 296,500 an MW, so 30 MW and no lease (8,895,000 against
    1,620,000 + 20 x 296,500). hashprice 200 in high: an MW nets 1,562,000, worth 281,000,
    so 30 MW and no lease: 8,430,000."""
    rows = sweep.results.set_index("scenario")
    got = {(s.varied, float(s.changes[0][1])): float(rows.loc[s.id, "expected_npv_usd"])
           for s in sweep.design.scenarios if s.varied and "scenarios[" in s.varied}
    p, hp = ("uncertainty.scenarios[high].probability",
             "uncertainty.scenarios[high].hashprice_usd_per_ph_day")
    assert got == {(p, 0.25): pytest.approx(1_620_000, abs=TOL),
                   (p, 0.75): pytest.approx(8_895_000, abs=TOL),
                   (hp, 200.0): pytest.approx(8_430_000, abs=TOL)}
    assert list(sweep.results.columns[4:9]) == ["status", "objective_npv_usd",
                                                "expected_npv_usd", "cvar_usd",
                                                "objective_usd"]


# -------------------------------------------------------------------------- command line


def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "portfolio_opt.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_command_line(tmp_path: Path) -> None:
    """frontier writes its csv, json and chart; a deterministic instance is exit 2;
    solve --value-of-information writes EVPI 7,000,000 and VSS 620,000 (the hedge at
    weight 0: wait-and-see 0.5 x 16,860,000 + 0.5 x 1,620,000 minus 2,240,000; the
    mean-value plan, the lease alone, is worth 1,620,000)."""
    inst = tmp_path / "hedge.yaml"
    inst.write_text(yaml.safe_dump(hedge(alpha=0.95)), encoding="utf-8")
    procs = [
        _cli("frontier", "hedge.yaml", "--weights", "0,0.5,1", "--alpha", "0.5",
             "--profile", "exact", "--out", "fr", cwd=tmp_path),
        _cli("frontier", str(WORKED), "--out", "det", cwd=tmp_path),
        _cli("solve", "hedge.yaml", "--value-of-information", "--out", "voi", "-q",
             cwd=tmp_path),
    ]
    (out_fr, err_fr), (_, err_det), _ = [p.communicate(timeout=300) for p in procs]
    fr, det, voi = (p.returncode for p in procs)
    assert fr == 0, err_fr
    assert [line.split(":")[0] for line in err_fr.splitlines()] == [
        "frontier 1/3", "frontier 2/3", "frontier 3/3"]
    table = pd.read_csv(tmp_path / "fr" / "frontier.csv")
    assert list(table.columns) == FRONTIER_COLUMNS
    assert table["objective_usd"].to_numpy() == pytest.approx(
        [2_240_000, 1_620_000, 1_620_000], abs=TOL)
    png = (tmp_path / "fr" / "frontier.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    summary = json.loads((tmp_path / "fr" / "frontier.json").read_text())
    assert summary["instance_name"] == "hedge" and summary["model_builds"] == 1
    assert summary["instance_sha256"] == hashlib.sha256(inst.read_bytes()).hexdigest()
    assert [p["weight"] for p in summary["points"]] == [0, 0.5, 1]
    assert "wrote fr/frontier.png" in out_fr

    assert det == 2
    assert str(WORKED) in err_det and "'uncertainty'" in err_det
    assert not (tmp_path / "det").exists()

    assert voi == 0
    risk = json.loads((tmp_path / "voi" / "summary.json").read_text())
    assert risk["evpi_usd"] >= -1 and risk["vss_usd"] >= -1
    assert risk["evpi_usd"] == pytest.approx(7_000_000, abs=TOL)
    assert risk["vss_usd"] == pytest.approx(620_000, abs=TOL)
