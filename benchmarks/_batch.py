"""The batch benchmarks' registry and measurements: seeded scenario sets x batch sizes.

A case is a base instance, a number of scenarios and a seed; its scenarios are random
values of the same parameters a strategy batch varies (hashprice, grid prices, lease rates,
AI capex), drawn with numpy's generator from the seed, so every run measures the same
scenarios. They change numbers only, never the model's structure: each one is a
parameter update of the engine's model, which the measurement checks (one build).

Times are read with ``time.perf_counter`` around each call. HiGHS's own run time of a
re-solve is the difference of ``Highs.getRunTime()`` across that solve: the clock adds up
over the runs of one HiGHS object, so ``Result.solve_seconds`` of a re-solve is the total
so far, not that solve's time.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
REALISTIC = REPO / "instances" / "us_portfolio.yaml"

# (path, low, high): factors on the base, drawn uniformly per scenario.
PARAMETERS: tuple[tuple[str, float, float], ...] = (
    ("market.hashprice_usd_per_ph_day", 0.6, 1.4),
    ("sites[*].grid.price_usd_per_mwh", 0.8, 1.3),
    ("contracts[*].rate_usd_per_kw_month", 0.8, 1.2),
    ("sites[*].ai.capex_usd_per_it_mw", 0.8, 1.4),
)


@dataclass(frozen=True)
class Case:
    """One benchmark case: ``scenarios`` seeded variants of ``instance``."""

    key: str
    instance: Path
    scenarios: int
    seed: int = 7


ENGINE_CASES: tuple[Case, ...] = (
    Case("realistic-20", REALISTIC, 20),
    Case("realistic-60", REALISTIC, 60),
)
BATCH_CASES: tuple[Case, ...] = (Case("realistic-batch-48", REALISTIC, 48),)


def work_dir() -> Path:
    """Scratch folder for batch stores (``PORTFOLIO_OPT_BENCH_DIR`` or the temp folder)."""
    d = Path(os.environ.get("PORTFOLIO_OPT_BENCH_DIR",
                            Path(tempfile.gettempdir()) / "portfolio_opt_bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def machine_info() -> dict[str, Any]:
    """Cores, CPU, versions, date and the 1-minute load average now."""
    from importlib.metadata import version

    cpu = platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip()
                   for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "pyomo": version("pyomo"), "highs": version("highspy"),
            "date": date.today().isoformat(), "load_average_1min": os.getloadavg()[0]}


def scenario_factors(case: Case) -> np.ndarray:
    """(scenarios x parameters) factors, the same for a case on every run."""
    rng = np.random.default_rng(case.seed)
    lo = np.array([p[1] for p in PARAMETERS])
    hi = np.array([p[2] for p in PARAMETERS])
    return lo + (hi - lo) * rng.random((case.scenarios, len(PARAMETERS)))


def _highs_run_time(engine: Any) -> tuple[int, float]:
    """(identity, cumulative run time) of the HiGHS object the engine holds."""
    held = engine._engine  # the engine's PersistentHighs; None before the first solve
    return (0, 0.0) if held is None else (id(held), float(held.highs.getRunTime()))


def agree(a: float, b: float, gap: float) -> bool:
    """The spec's agreement rule for two optimal NPVs."""
    return abs(a - b) <= gap * max(abs(a), abs(b)) + 1.0


def measure_engine_vs_rebuild(case: Case) -> dict[str, Any]:
    """Per scenario: one ScenarioEngine re-solve and one cold ``portfolio_opt.solve``.

    Both produce the same outputs (the plan's tables, no marginal values). The two are
    interleaved scenario by scenario so that slow phases of a shared machine hit both
    alike. The first engine solve builds the model and is reported apart; the ratios use
    the re-solves (scenarios 2..N) and the same scenarios' cold solves. Making each
    scenario's instance (apply the changes, validate) is timed apart: both paths need it.
    Extracting the result tables is timed once more after each engine solve (the same
    work on both paths) so that the build + hand-off part can be compared without it.
    """
    import portfolio_opt
    from portfolio_opt.batch.paths import apply_changes
    from portfolio_opt.results import extract_tables
    from portfolio_opt.scenario import ScenarioEngine

    base = portfolio_opt.load_instance(case.instance)
    dump = base.model_dump(by_alias=True, exclude_none=True)
    engine = ScenarioEngine(base, profile="default", threads=1)
    rows = []
    for i, factors in enumerate(scenario_factors(case)):
        t0 = time.perf_counter()
        inst = apply_changes(base, [(p[0], float(f), True) for p, f in zip(PARAMETERS, factors,
                                                                           strict=True)],
                             base_dump=dump)
        apply = time.perf_counter() - t0
        before = _highs_run_time(engine)
        upd0 = engine.stats.update_seconds
        t0 = time.perf_counter()
        res = engine.solve(inst)
        wall = time.perf_counter() - t0
        after = _highs_run_time(engine)
        highs = after[1] - before[1] if before[0] == after[0] else after[1]
        t0 = time.perf_counter()
        extract_tables(engine._model.pyomo, engine._model.data)
        extract = time.perf_counter() - t0
        t0 = time.perf_counter()
        cold = portfolio_opt.solve(inst, profile="default", threads=1, marginal_values=False)
        cold_wall = time.perf_counter() - t0
        assert res.status == "optimal" and cold.status == "optimal", (res.message, cold.message)
        assert res.objective_npv_usd is not None and cold.objective_npv_usd is not None
        gap = max(res.mip_gap or 0.0, cold.mip_gap or 0.0, 1e-4)
        assert agree(res.objective_npv_usd, cold.objective_npv_usd, gap), i
        rows.append({"apply": apply, "engine_wall": wall, "engine_highs": highs,
                     "engine_update": engine.stats.update_seconds - upd0, "extract": extract,
                     "cold_wall": cold_wall, "cold_highs": cold.solve_seconds,
                     "cold_build": cold.build_seconds})
    assert engine.stats.rebuilds == 1, engine.stats  # every later scenario was an update
    first, rest = rows[0], rows[1:]
    n = len(rest)

    def per(key: str) -> float:
        return float(sum(r[key] for r in rest)) / n

    e_wall, e_highs, c_wall, c_highs = (per(k) for k in ("engine_wall", "engine_highs",
                                                          "cold_wall", "cold_highs"))
    apply, extract = per("apply"), per("extract")
    return {
        "case": case.key, "scenarios": case.scenarios, "seed": case.seed, "re_solves": n,
        "first_engine_solve_s": first["engine_wall"],
        "apply_per_scenario_s": apply,
        "engine_wall_per_scenario_s": e_wall,
        "engine_highs_per_scenario_s": e_highs,
        "engine_update_per_scenario_s": per("engine_update"),
        "extract_per_scenario_s": extract,
        "engine_handoff_other_per_scenario_s": e_wall - e_highs - per("engine_update") - extract,
        "cold_wall_per_scenario_s": c_wall,
        "cold_highs_per_scenario_s": c_highs,
        "cold_build_per_scenario_s": per("cold_build"),
        # (a) what a re-solve adds on top of HiGHS; and with making the scenario's instance
        "overhead_ratio": (e_wall - e_highs) / e_highs,
        "overhead_ratio_with_apply": (apply + e_wall - e_highs) / e_highs,
        # (b) end to end (instance making included on both sides), and build + hand-off
        # only (HiGHS and the identical table extraction taken out of both sides)
        "speedup_end_to_end": (apply + c_wall) / (apply + e_wall),
        "speedup_build_handoff": (c_wall - c_highs - extract) / (e_wall - e_highs - extract),
        "highs_cold_over_warm": c_highs / e_highs,
    }


def measure_batch(case: Case, workers: int, out_dir: Path) -> dict[str, Any]:
    """The same scenarios through ``run_batch`` (spawned workers, Parquet store)."""
    from portfolio_opt.batch.api import run_batch

    spec = {
        "base": str(case.instance), "method": "random", "samples": case.scenarios,
        "seed": case.seed, "solver_profile": "default",
        "parameters": [{"path": p, "scale": [lo, hi]} for p, lo, hi in PARAMETERS],
    }
    t0 = time.perf_counter()
    result = run_batch(spec, out_dir, workers=workers, fresh=True)
    wall = time.perf_counter() - t0
    rows = result.results
    assert len(rows) == case.scenarios and set(rows["status"]) == {"optimal"}
    highs = float(rows["solve_seconds"].sum())
    return {
        "case": case.key, "scenarios": case.scenarios, "workers": workers,
        "wall_s": wall, "scenarios_per_s": case.scenarios / wall,
        "highs_total_s": highs, "model_builds": int(rows["model_built"].sum()),
        # worker-seconds spent on anything but HiGHS, over HiGHS's seconds
        "overhead_ratio": (workers * wall - highs) / highs,
    }
