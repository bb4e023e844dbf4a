"""A real batch on the tutorial instance: rows equal single solves, NPV moves the right way.

One oat batch (14 scenarios, 2 spawned workers) is run once for the module; the tests
check its rows against ``portfolio_opt.solve`` of the same modified instances, recompute
its per-period totals from its site table, and check the economics: NPV never falls as
hashprice or a lease rate rises.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import portfolio_opt as po
from portfolio_opt.batch.api import BatchResult, run_batch
from portfolio_opt.batch.paths import apply_changes

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"
HASH = "market.hashprice_usd_per_ph_day"
RATE = "contracts[hyperscaler-offer].rate_usd_per_kw_month"
WIND = "links[wind-line].capacity_mw"
PUE = "sites[alpha].btc.pue"

BATCH = f"""\
base: {TUTORIAL}
method: oat
parameters:
  - path: {HASH}
    scale: [0.5, 1.5]
    levels: 5
  - path: {RATE}
    scale: [0.6, 1.4]
    levels: 5
  - path: {WIND}          # 0 MW: the committed anchor at charlie gets no power
    values: [0, 50]
  - path: {PUE}           # below 1: breaks the format, so the scenario is invalid
    values: [0.9]
"""


def agree(a: float, b: float, gap: float = 1e-4) -> bool:
    """The spec's rule for two optimal NPVs."""
    return abs(a - b) <= gap * max(abs(a), abs(b)) + 1.0


@pytest.fixture(scope="module")
def batch_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "tutorial_oat.yaml"
    path.write_text(BATCH, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(batch_file: Path) -> BatchResult:
    return run_batch(batch_file, batch_file.parent / "out", workers=2)


def rows_for(result: BatchResult, column: str) -> pd.DataFrame:
    varied = [s.id for s in result.design.scenarios if s.varied == column]
    return result.results.set_index("scenario").loc[varied].sort_values(column)


def test_every_scenario_has_a_row_with_its_status(run: BatchResult) -> None:
    r = run.results.set_index("scenario")
    assert list(r.index) == list(range(14)) and run.complete
    assert r.loc[0, "status"] == "optimal"
    wind = rows_for(run, WIND)
    assert list(wind["status"]) == ["infeasible", "optimal"]
    assert "anchor" in wind["message"].iloc[0]
    assert np.isnan(wind["objective_npv_usd"].iloc[0])
    pue = rows_for(run, PUE)
    assert list(pue["status"]) == ["invalid"]
    assert "field 'btc.pue': got 0.9; expected a number >= 1" in pue["message"].iloc[0]


def test_rows_equal_single_solves_of_the_same_instances(run: BatchResult) -> None:
    base = po.load_instance(TUTORIAL)
    r = run.results.set_index("scenario")
    for sid in (0, 1, 5, 8, 12):  # base, hashprice 0.5 and 1.5, a lease rate, wind 0
        changes = list(run.design.scenarios[sid].changes)
        single = po.solve(apply_changes(base, changes))
        assert r.loc[sid, "status"] == str(single.status), sid
        if single.objective_npv_usd is not None:
            assert agree(r.loc[sid, "objective_npv_usd"], single.objective_npv_usd), sid
    assert agree(r.loc[0, "objective_npv_usd"], po.solve(TUTORIAL).objective_npv_usd or 0)


def test_period_totals_are_the_sums_of_the_site_table(run: BatchResult) -> None:
    sp = run.site_periods
    sums = sp.groupby(["scenario", "period"])[["btc_mw", "ai_served_it_mw"]].sum()
    planned = run.results[run.results["status"] == "optimal"]
    assert set(sp["scenario"]) == set(planned["scenario"])
    assert len(sp) == len(planned) * 3 * 5  # 3 sites x 5 periods
    for row in planned.itertuples(index=False):
        for t in range(1, 6):
            total = sums.loc[(row.scenario, t)]
            assert getattr(row, f"btc_mw_p{t}") == pytest.approx(total["btc_mw"], abs=1e-9)
            assert getattr(row, f"ai_it_mw_p{t}") == pytest.approx(total["ai_served_it_mw"],
                                                                   abs=1e-9)
    # charlie's existing hall serves the committed 8 MW anchor in every period.
    assert (sums["ai_served_it_mw"] >= 8 - 1e-6).all()


@pytest.mark.parametrize("column", [HASH, RATE])
def test_npv_never_decreases_as_hashprice_or_a_lease_rate_rises(run: BatchResult,
                                                                column: str) -> None:
    rows = rows_for(run, column)
    assert list(rows[column]) == sorted(rows[column]) and len(rows) == 5
    npv = rows["objective_npv_usd"].to_numpy()
    assert (np.diff(npv) >= -1.0).all(), npv
    assert npv[-1] > npv[0]  # and it does move


def test_hashprice_moves_npv_at_least_as_much_as_the_fixed_plan_would(run: BatchResult) -> None:
    """Hand check: holding the base plan fixed, scaling hashprice by f changes NPV by
    (f - 1) x the present value of its BTC revenue; re-optimising can only do better, so
    NPV(f) >= NPV(1) + (f - 1) x PV(BTC revenue of the base plan) for every f."""
    base = po.solve(TUTORIAL)
    assert base.objective_npv_usd is not None
    cf = base.cashflows
    btc_pv = float((cf["btc_revenue"] * 1.08 ** -cf["period"]).sum())  # r = 8 %, ypp = 1
    rows = rows_for(run, HASH).set_index(HASH)["objective_npv_usd"]
    for f in (0.5, 0.75, 1.25, 1.5):
        assert rows[f] >= base.objective_npv_usd + (f - 1) * btc_pv - 1.0, f
    assert rows[1.0] == pytest.approx(base.objective_npv_usd, rel=1e-4)


def test_each_worker_builds_the_model_once(run: BatchResult) -> None:
    s = run.stats
    assert s.solved == 14 and s.stored_before == 0 and s.workers == 2
    assert 1 <= s.model_builds <= 2  # one build per worker; every other solve updated it
    assert int(run.results["model_built"].sum()) == s.model_builds
    assert (run.results["attempts"] == 1).all()


def test_store_files_columns_and_manifest(run: BatchResult, batch_file: Path) -> None:
    out = run.out_dir
    results = pd.read_parquet(out / "results.parquet")
    assert list(results.columns[:5]) == ["scenario", HASH, RATE, WIND, PUE]
    for col in ["status", "objective_npv_usd", "mip_gap", "solve_seconds", "build_seconds",
                "message", "btc_mw_p1", "btc_mw_p5", "ai_it_mw_p1", "ai_it_mw_p5"]:
        assert col in results.columns
    pd.testing.assert_frame_equal(results, run.results)
    sp = pd.read_parquet(out / "site_periods.parquet")
    assert list(sp.columns) == ["scenario", "site", "period", "btc_mw", "ai_served_it_mw",
                                "halls_started"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["state"] == "complete"
    assert m["batch_sha256"] == hashlib.sha256(batch_file.read_bytes()).hexdigest()
    assert m["base_sha256"] == hashlib.sha256(TUTORIAL.read_bytes()).hexdigest()
    assert set(m["versions"]) >= {"portfolio_opt", "pyomo", "highspy"}
    assert m["design"]["method"] == "oat" and m["design"]["scenarios"] == 14
    tornado = pd.read_csv(out / "analysis" / "tornado.csv")
    assert tornado["parameter"].iloc[0] == HASH  # hashprice swings NPV the most


def test_rerun_resumes_and_solves_nothing(run: BatchResult, batch_file: Path) -> None:
    again = run_batch(batch_file, run.out_dir, workers=2)
    assert again.stats.solved == 0 and again.stats.stored_before == 14
    pd.testing.assert_frame_equal(again.results, run.results)


def test_another_batch_file_in_the_same_folder_needs_fresh(run: BatchResult,
                                                           tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(textwrap.dedent(f"""\
        base: {TUTORIAL}
        method: oat
        parameters:
          - path: {HASH}
            values: [30]
        """), encoding="utf-8")
    target = tmp_path / "store"
    run_batch(other, target, workers=1)
    with pytest.raises(po.InputError) as err:
        run_batch(run.batch, target, workers=1)
    assert "--fresh" in str(err.value) and "another batch file" in str(err.value)
    fresh = run_batch(other, target, workers=1, fresh=True)
    assert fresh.stats.solved == 2 and fresh.stats.stored_before == 0


def test_a_time_limit_is_a_row_with_that_status(tmp_path: Path) -> None:
    """1 ms per scenario cannot solve the 20-site portfolio: every row says so, none is lost."""
    batch = tmp_path / "tl.yaml"
    batch.write_text(f"base: {ROOT / 'instances' / 'us_portfolio.yaml'}\nmethod: oat\n"
                     f"time_limit: 0.001\nparameters:\n  - path: {HASH}\n    values: [30]\n",
                     encoding="utf-8")
    result = run_batch(batch, tmp_path / "out", workers=1)
    r = result.results
    assert list(r["scenario"]) == [0, 1]
    assert (r["status"] == "time_limit_no_solution").all()
    assert r["objective_npv_usd"].isna().all()
    assert r["message"].str.contains("no feasible plan found within the limits").all()
    assert result.stats.failures == 2 and result.complete
