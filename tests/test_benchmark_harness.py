"""The benchmark harness measures what it claims: the stage worker and the MPS floor solve
the same model as ``solve``; the fitted exponent and the target verdicts are right.

No wall-clock time is asserted: only optima, sizes, invariants and arithmetic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _render_scale import derived, targets_lines  # noqa: E402
from _scale import BASE_OPTIONS, BENCH_DIR, fit_exponent, floor_solve, run_json  # noqa: E402

TUTORIAL = ROOT / "instances" / "tutorial.yaml"


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
def test_fit_exponent_recovers_a_power_law(power: float) -> None:
    xs = [10.0, 100.0, 1000.0, 5000.0]
    assert fit_exponent(xs, [3.0 * x**power for x in xs]) == pytest.approx(power)


def test_stage_worker_and_floor_solve_the_model_solve_builds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import portfolio_opt as po

    monkeypatch.setenv("PORTFOLIO_OPT_BENCH_DIR", str(tmp_path))
    spec = {"instance": str(TUTORIAL), "yaml": None, "out_dir": str(tmp_path / "out"),
            "mps": str(tmp_path / "tutorial.mps"), "options": BASE_OPTIONS,
            "both_handoffs": True}
    res = run_json([str(BENCH_DIR / "_stages.py"), json.dumps(spec), str(tmp_path / "s.json")],
                   tmp_path / "s.json")
    floor = floor_solve(tmp_path / "tutorial.mps", BASE_OPTIONS, "tutorial")
    single = po.solve(TUTORIAL, marginal_values=False)

    assert res["status"] == "optimal" and floor["status"] == "Optimal"
    assert single.objective_npv_usd is not None
    # One model, three ways: the worker's solve, HiGHS alone on its MPS file, po.solve.
    assert res["npv_usd"] == pytest.approx(single.objective_npv_usd, rel=1e-9)
    assert floor["objective"] == pytest.approx(res["objective"], rel=1e-9)
    assert res["npv_usd"] / 1e6 == pytest.approx(res["objective"], rel=1e-9)
    assert (floor["cols"], floor["rows"], floor["nnz"]) == (res["cols"], res["rows"],
                                                            res["nnz"])
    # The other hand-off path passes the same rows and nonzeros to HiGHS.
    assert res["other_size"][1:] == [res["rows"], res["nnz"]]
    # The high-water mark never falls from one stage to the next.
    peaks = list(res["peak_rss_mb"].values())
    assert peaks == sorted(peaks)
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"summary.json", "cashflows.csv", "site_periods.csv"} <= written


def _scale_entry(read_s: float) -> dict[str, Any]:
    return {"size": {"sites": 5000}, "prepare_s": 1.0, "build_s": 2.0, "handoff_s": 2.0,
            "prepare_cpu_s": 1.0, "build_cpu_s": 2.0, "handoff_cpu_s": 2.0,
            "floor": {"read_s": read_s, "read_cpu_s": read_s}}


@pytest.mark.parametrize(("read_s", "verdict"), [
    (1.0, "wall: met; CPU: met"),
    (0.5, "wall: not met (2.00x the target); CPU: not met (2.00x the target)")])
def test_floor_ratio_verdict(read_s: float, verdict: str) -> None:
    perf = {"scale": {"s5000": _scale_entry(read_s)}}
    d = derived(perf)
    assert d["floor_ratio"]["s5000"] == pytest.approx(5.0 / read_s)
    row = next(r for r in targets_lines(perf, d) if "5,000 sites" in r)
    assert row.rstrip(" |").endswith(verdict)


def test_structure_probe_bounds_the_plan() -> None:
    """probe_hard_structure: every relaxation bounds the optimum from above; fixing a
    family at the optimal plan keeps the optimum; the LP is the weakest of them."""
    from probe_hard_structure import FAMILIES, probe

    res = probe(TUTORIAL, limit=60.0, plan_limit=60.0)
    rows = res["rows"]
    assert rows["plan"]["status"] == "optimal"
    best = rows["plan"]["objective"]
    tol = 1e-6 * max(1.0, abs(best))
    for fam in FAMILIES:
        if res["integer_columns"][fam] == 0:
            continue
        for kind in ("only", "relax"):
            assert rows[f"{kind}:{fam}"]["bound"] >= best - 2e-4 * abs(best)
            assert rows["lp"]["bound"] >= rows[f"{kind}:{fam}"]["bound"] - tol
        fixed = rows[f"fixed:{fam}"]
        assert fixed["status"] == "Optimal"
        assert fixed["objective"] == pytest.approx(best, rel=2e-4)
