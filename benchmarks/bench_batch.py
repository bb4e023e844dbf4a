"""Batch speed on the realistic instance: engine overhead over HiGHS, speed-up over rebuilds.

(a) per-scenario overhead of a ScenarioEngine re-solve over HiGHS's own run time, and
(b) the speed-up of those re-solves over rebuilding each scenario with
``portfolio_opt.solve``, both end to end and for the part that is not HiGHS solving;
(c) the same kind of scenarios through ``run_batch`` with 1 and 2 worker processes.

Run with ``python -m pytest benchmarks/bench_batch.py -p no:cacheprovider
--benchmark-only``. The numbers go to ``benchmarks/results/batch.json`` and the batch
section of docs/performance.md is rewritten from them at the end of the run
(``python benchmarks/bench_batch.py --render-only`` redoes only the page).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _batch import (
    BATCH_CASES,
    ENGINE_CASES,
    PARAMETERS,
    REPO,
    Case,
    machine_info,
    measure_batch,
    work_dir,
)
from _batch import measure_engine_vs_rebuild as measure_engine

RESULTS = Path(__file__).resolve().parent / "results" / "batch.json"
PAGE = REPO / "docs" / "performance.md"
BEGIN = "<!-- BEGIN batch"
END = "<!-- END batch -->"
COMMAND = "python -m pytest benchmarks/bench_batch.py -p no:cacheprovider --benchmark-only"

_measured: dict[str, Any] = {"engine": [], "batch": []}


@pytest.fixture(scope="module", autouse=True)
def _record() -> Iterator[None]:
    machine = machine_info()
    yield
    if not (_measured["engine"] or _measured["batch"]):
        return
    machine["load_average_1min_at_start"] = machine.pop("load_average_1min")
    machine["load_average_1min_at_end"] = machine_info()["load_average_1min"]
    data = {"machine": machine, "command": COMMAND,
            "parameters": [list(p) for p in PARAMETERS], **_measured}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    render(data)


@pytest.mark.parametrize("case", ENGINE_CASES, ids=[c.key for c in ENGINE_CASES])
def test_engine_vs_rebuild(benchmark: Any, case: Case) -> None:
    res = benchmark.pedantic(measure_engine, args=(case,), rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    _measured["engine"].append(res)
    assert res["re_solves"] == case.scenarios - 1
    assert res["overhead_ratio"] > 0 and res["speedup_end_to_end"] > 0


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("case", BATCH_CASES, ids=[c.key for c in BATCH_CASES])
def test_run_batch(benchmark: Any, case: Case, workers: int) -> None:
    out = work_dir() / f"batch-{case.key}-w{workers}"
    res = benchmark.pedantic(measure_batch, args=(case, workers, out), rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    _measured["batch"].append(res)
    assert 1 <= res["model_builds"] <= workers  # one build per worker, then updates


# --------------------------------------------------------------------------- the page


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:,.0f} ms"


def verdict(engine: list[dict[str, Any]]) -> list[str]:
    """The targets (a) <= 10 % and (b) >= 5x, met or not, and why, from the numbers."""
    out = []
    for r in engine:
        a, b, b2 = r["overhead_ratio"], r["speedup_end_to_end"], r["speedup_build_handoff"]
        # With zero overhead the engine would take only HiGHS's time (plus making the
        # instance): the most any re-solve path can gain over the cold path.
        bound = ((r["apply_per_scenario_s"] + r["cold_wall_per_scenario_s"])
                 / (r["apply_per_scenario_s"] + r["engine_highs_per_scenario_s"]))
        out.append(
            f"- {r['scenarios']} scenarios: (a) {_pct(a)} — target ≤ 10 % "
            f"{'met' if a <= 0.10 else 'not met'}; (b) {b:.2f}× end to end — target ≥ 5× "
            f"{'met' if b >= 5 else 'not met'}: HiGHS alone takes "
            f"{_pct(r['cold_highs_per_scenario_s'] / r['cold_wall_per_scenario_s'])} of a "
            f"cold solve here, so even a re-solve with no overhead at all would be at most "
            f"{bound:.2f}× faster; the part the engine does replace (build and hand-off, "
            f"b') is {b2:.1f}× faster.")
    return out


def render(data: dict[str, Any]) -> None:
    """Rewrite the batch section of docs/performance.md from the measured numbers."""
    m = data["machine"]
    lines = [
        BEGIN + " (this section is written by the batch benchmarks, "
        "benchmarks/bench_batch.py; benchmarks/report.py leaves it untouched) -->",
        "",
        f"Measured {m['date']} on {m['nproc']} cores ({m['cpu']}), Python {m['python']}, "
        f"Pyomo {m['pyomo']}, HiGHS {m['highs']}, a machine shared with other work (load "
        f"average {m.get('load_average_1min_at_start') or 0:.1f} at the start, "
        f"{m.get('load_average_1min_at_end') or 0:.1f} at the end: absolute times are "
        f"inflated, ratios are of numbers measured side by side); command "
        f"`{data['command']}` "
        "(numbers in `benchmarks/results/batch.json`). Scenarios: the realistic instance "
        "`instances/us_portfolio.yaml` with " + ", ".join(
            f"`{p}` × U({lo:g}, {hi:g})" for p, lo, hi in data["parameters"])
        + ", drawn with seed 7; default profile (gap 1e-4), one HiGHS thread. Every "
        "engine NPV agrees with the cold solve of the same scenario.",
        "",
        "**Engine re-solves against rebuilding every scenario** (one process; means per "
        "scenario over the re-solves, the first, model-building engine solve left out; "
        "the cold path is `portfolio_opt.solve(..., marginal_values=False)`, the same "
        "outputs as the engine's; making each scenario's instance from the base, "
        "common to both, is its own column):",
        "",
        "| scenarios | make instance | engine re-solve | of which HiGHS | overhead over "
        "HiGHS (a) | (a) incl. making the instance | rebuild (`solve`) | of which HiGHS "
        "| speed-up end to end (b) | speed-up of build + hand-off (b') "
        "| HiGHS cold / warm | first engine solve |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["engine"]:
        lines.append(
            f"| {r['scenarios']} | {_ms(r['apply_per_scenario_s'])} "
            f"| {_ms(r['engine_wall_per_scenario_s'])} | {_ms(r['engine_highs_per_scenario_s'])} "
            f"| {_pct(r['overhead_ratio'])} | {_pct(r['overhead_ratio_with_apply'])} "
            f"| {_ms(r['cold_wall_per_scenario_s'])} | {_ms(r['cold_highs_per_scenario_s'])} "
            f"| {r['speedup_end_to_end']:.2f}× | {r['speedup_build_handoff']:.1f}× "
            f"| {r['highs_cold_over_warm']:.2f} | {r['first_engine_solve_s']:.2f} s |")
    lines += [
        "",
        "Where a re-solve's time outside HiGHS goes (means per scenario): "
        + "; ".join(
            f"{r['scenarios']} scenarios: parameter update "
            f"{_ms(r['engine_update_per_scenario_s'])}, Pyomo's persistent hand-off and "
            f"the rest {_ms(r['engine_handoff_other_per_scenario_s'])}, result tables "
            f"{_ms(r['extract_per_scenario_s'])}" for r in data["engine"]) + ".",
    ]
    lines += ["", *verdict(data["engine"])]
    lines += [
        "",
        "**Through `run_batch`** (spawned worker processes, Parquet shards, the same "
        "kind of scenarios; overhead = worker-seconds not spent in HiGHS over HiGHS "
        "seconds, so process start-up, model builds, scenario validation, result "
        "extraction and the store are all in it):",
        "",
        "| scenarios | workers | wall | scenarios/s | HiGHS total | model builds "
        "| overhead over HiGHS |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["batch"]:
        lines.append(
            f"| {r['scenarios']} | {r['workers']} | {r['wall_s']:.1f} s "
            f"| {r['scenarios_per_s']:.2f} | {r['highs_total_s']:.1f} s "
            f"| {r['model_builds']} | {_pct(r['overhead_ratio'])} |")
    lines.append(END)
    text = PAGE.read_text(encoding="utf-8")
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < 0:
        raise RuntimeError(f"{PAGE} has no batch markers ({BEGIN} ... {END})")
    PAGE.write_text(text[:i] + "\n".join(lines) + text[j + len(END):], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--render-only"]:
        sys.exit(f"usage: {sys.argv[0]} --render-only (the benchmarks run under pytest)")
    render(json.loads(RESULTS.read_text(encoding="utf-8")))
