"""Scenario sets (spec v2 B) on the realistic portfolio and one measurement per process.

Used by ``bench_uncertainty.py`` and ``probe_uncertainty.py``; also the child script:

    python benchmarks/_uncertainty.py SPEC_JSON OUT.json

**The scenarios.** ``instances/us_portfolio.yaml`` with ``market.hashprice_usd_per_ph_day``
removed and an ``uncertainty`` block of N hashprice paths of equal probability 1/N around the
instance's own path ``h_t``: ``h_t * exp(X_t)`` with ``X_1 = 0`` (every path shares period 1,
today's period) and ``X_t = X_{t-1} + SIGMA z_t - SIGMA^2 / 2`` (years_per_period 1; z
standard normal, so ``E[exp(X_t)] = 1`` and the instance's path is the expected one);
``energy_price_scale`` is left at 1. ``SIGMA = 0.30`` per square-root year, the volatility
of docs/scenarios.md's calibration. Seeded: ``numpy.random.default_rng((SEED, N,
structure))``; values rounded to 1e-6 USD/PH/day.

- ``two_stage``: a fan, every path draws its own z from period 2 on.
- ``multi_stage``: a tree. The N paths split in two in period 2 and each half again in
  period 4 (binary branching, ``numpy.array_split`` of the scenario list), and every path
  goes its own way from period ``LEAF_PERIOD`` = 6. The paths of one node draw one z per
  period, so they share their data exactly up to the next branching: nodes per period are
  1, 2, 2, 4, 4, N, ..., N.

The risk setting of every set: ``cvar_alpha`` 0.9, ``cvar_weight`` 0.2 (``RISK``).

**The child** (SPEC_JSON keys: ``instance``, ``mode`` = ``build`` | ``solve``, ``mps``
(build: where to write the handed-off model for HiGHS's own read), ``other_handoff``
(build: then also time the hand-off path ``auto`` did not take), ``options`` (solve:
HiGHS options), ``mip_start`` (solve, default true)). As ``portfolio_opt.solve`` does:
load + validate, then with the collector paused ``prepare``, ``build_model`` and the
hand-off ``api.handoff(built, "auto")``; each stage's wall and CPU seconds and the
process's peak RSS (VmHWM) after it. ``build`` then counts rows, columns, nonzeros and the
integer columns HiGHS received and writes the MPS file; ``solve`` runs HiGHS (the MIP start
first unless ``mip_start`` is false) and records status, gap, HiGHS's time and nodes.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _rss import peak_rss_mb

SIGMA = 0.30
SEED = 1
LEAF_PERIOD = 6
BRANCH_PERIODS = (2, 4)  # multi_stage: binary branching in these periods
RISK = {"cvar_alpha": 0.9, "cvar_weight": 0.2}
STRUCTURES = ("two_stage", "multi_stage")
# Up to this N the build cases also time the hand-off "auto" did not take.
OTHER_HANDOFF_MAX_N = 50


def _segments(n: int, structure: str, periods: int) -> list[tuple[int, list[list[int]]]]:
    """(first period, groups of scenario indices drawing one z per period) per level."""
    singles = [[i] for i in range(n)]
    if structure == "two_stage":
        return [(2, singles)]
    levels: list[tuple[int, list[list[int]]]] = []
    groups = [list(range(n))]
    for p in BRANCH_PERIODS:
        groups = [[int(i) for i in part] for g in groups
                  for part in np.array_split(np.array(g), min(2, len(g)))]
        levels.append((p, groups))
    levels.append((LEAF_PERIOD, singles))
    return [(p, g) for p, g in levels if p <= periods]


def hashprice_paths(base: list[float], n: int, structure: str,
                    seed: int = SEED) -> list[list[float]]:
    """N hashprice series (see the module doc); period 1 is ``base[0]`` in every path."""
    periods = len(base)
    rng = np.random.default_rng([seed, n, STRUCTURES.index(structure)])
    x = np.zeros((n, periods))
    levels = _segments(n, structure, periods)
    for k, (start, groups) in enumerate(levels):
        end = levels[k + 1][0] if k + 1 < len(levels) else periods + 1
        for g in groups:
            z = rng.standard_normal(end - start)
            for j, t in enumerate(range(start, end)):
                x[g, t - 1] = SIGMA * z[j] - SIGMA**2 / 2
    x = np.cumsum(x, axis=1)
    return [[round(h * math.exp(x[i, t]), 6) for t, h in enumerate(base)] for i in range(n)]


def nodes_per_period(paths: list[list[float]]) -> list[int]:
    """Distinct histories per period (the scenario tree's nodes, as the model counts them)."""
    return [len({tuple(p[: t + 1]) for p in paths}) for t in range(len(paths[0]))]


def scenario_instance(n: int, structure: str, seed: int = SEED) -> dict[str, Any]:
    """The realistic portfolio with N scenarios (a plain dict)."""
    from _blocks import base_instance

    raw = base_instance("realistic")
    market = raw.pop("market")
    hp = market.pop("hashprice_usd_per_ph_day")
    base = [float(v) for v in (hp if isinstance(hp, list) else
                               [hp] * raw["horizon"]["periods"])]
    if market:  # e.g. price blocks stay
        raw["market"] = market
    paths = hashprice_paths(base, n, structure, seed)
    raw["name"] = f"{raw['name']}-{structure.replace('_', '-')}-n{n}"
    raw["uncertainty"] = {
        "scenarios": [{"id": f"w{i + 1:04d}", "probability": 1.0 / n,
                       "hashprice_usd_per_ph_day": p} for i, p in enumerate(paths)],
        "structure": structure,
        "risk": dict(RISK),
    }
    return raw


def instance_file(n: int, structure: str, seed: int = SEED) -> Path:
    """The N-scenario instance, written once as JSON into the benchmark work folder."""
    from _scale import work_dir

    path = work_dir() / f"uncertainty-{structure}-n{n}-seed{seed}.json"
    if not path.exists():
        from portfolio_opt.writer import write_instance

        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.json")
        write_instance(scenario_instance(n, structure, seed), tmp)
        os.replace(tmp, path)
    return path


def run(spec: dict[str, Any], tag: str, timeout: float = 3600.0) -> dict[str, Any]:
    """The child below in a fresh process; its JSON, with the load average around it."""
    from _scale import BENCH_DIR, run_json, work_dir

    out = work_dir() / f"uncertainty-{tag}.json"
    load0 = os.getloadavg()
    res = run_json([str(BENCH_DIR / "_uncertainty.py"), json.dumps(spec), str(out)], out,
                   timeout=timeout)
    res["load_before"] = [round(v, 2) for v in load0]
    res["load_after"] = [round(v, 2) for v in os.getloadavg()]
    return res


def measure_build(n: int, structure: str = "two_stage") -> dict[str, Any]:
    """Build + hand-off of N scenarios against HiGHS reading the same model as MPS."""
    from _blocks import mps_read
    from _scale import work_dir

    tag = f"{structure}-n{n}"
    mps = work_dir() / f"model-uncertainty-{tag}.mps"
    res = run({"instance": str(instance_file(n, structure)), "mode": "build",
               "mps": str(mps), "other_handoff": n <= OTHER_HANDOFF_MAX_N},
              f"build-{tag}")
    res["mps_read"] = mps_read(mps, f"uncertainty-{tag}")
    res["mps_mb"] = mps.stat().st_size / 1e6
    mps.unlink()
    res["build_handoff_s"] = res["prepare_s"] + res["build_s"] + res["handoff_s"]
    res["build_handoff_cpu_s"] = (res["prepare_cpu_s"] + res["build_cpu_s"]
                                  + res["handoff_cpu_s"])
    res["ratio"] = res["build_handoff_s"] / res["mps_read"]["read_s"]
    res["ratio_cpu"] = res["build_handoff_cpu_s"] / res["mps_read"]["read_cpu_s"]
    res.update(n=n, structure=structure)
    return res


def measure_solve(n: int, structure: str, time_limit: float, gap: float = 1e-3,
                  mip_start: bool = True) -> dict[str, Any]:
    """Build, hand off and solve N scenarios to ``gap`` within ``time_limit`` seconds."""
    options = {"mip_rel_gap": gap, "threads": 1, "time_limit": float(time_limit)}
    res = run({"instance": str(instance_file(n, structure)), "mode": "solve",
               "options": options, "mip_start": mip_start},
              f"solve-{structure}-n{n}", timeout=time_limit * 3 + 1800)
    res.update(n=n, structure=structure, options=options)
    return res


RESULTS = Path(__file__).resolve().parent / "results" / "uncertainty.json"


def update_results(update: Any) -> dict[str, Any]:
    """``update(data)`` on benchmarks/results/uncertainty.json under a lock (the benchmark
    and the probe may run at once), written atomically; returns the new contents."""
    import fcntl

    from _scale import work_dir

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(work_dir() / "uncertainty-results.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data: dict[str, Any] = (json.loads(RESULTS.read_text(encoding="utf-8"))
                                if RESULTS.exists() else {})
        update(data)
        tmp = RESULTS.with_name(f".{RESULTS.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, RESULTS)
    return data


def case_key(structure: str, n: int) -> str:
    return f"{structure}-n{n}"


# --------------------------------------------------------------------------- the child


class _Stages:
    def __init__(self) -> None:
        self.res: dict[str, Any] = {"peak_rss_mb": {"start": peak_rss_mb()}}

    def run(self, name: str, fn: Any) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        self.res[f"{name}_s"] = time.perf_counter() - t0
        self.res[f"{name}_cpu_s"] = time.process_time() - c0
        self.res["peak_rss_mb"][name] = peak_rss_mb()
        return value


def _integer_columns(h: Any) -> dict[str, int]:
    import highspy

    lp = h.getLp()
    binary = integer = 0
    for kind, lo, up in zip(lp.integrality_, lp.col_lower_, lp.col_upper_, strict=True):
        if kind == highspy.HighsVarType.kInteger:
            if lo >= 0 and up <= 1:
                binary += 1
            else:
                integer += 1
    return {"binary": binary, "integer": integer}


def _integer_variables(model: Any) -> dict[str, int]:
    """The model's binary and general integer variables (the direct hand-off leaves fixed
    ones out of HiGHS's columns; the persistent one passes them as fixed columns)."""
    from pyomo.core import Var

    out = {"binary": 0, "integer": 0, "fixed": 0}
    for v in model.component_data_objects(Var):
        if v.is_binary():
            out["binary"] += 1
        elif v.is_integer():
            out["integer"] += 1
        else:
            continue
        out["fixed"] += v.fixed
    return out


def main(spec_json: str, out: str) -> None:
    spec: dict[str, Any] = json.loads(spec_json)
    st = _Stages()
    res = st.res

    def imports() -> None:
        import scipy.sparse  # type: ignore[import-untyped]  # noqa: F401
        from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler  # noqa: F401

        import portfolio_opt.api
        import portfolio_opt.model  # noqa: F401

    st.run("imports", imports)
    from portfolio_opt.api import Model, handoff, model_size
    from portfolio_opt.gcpause import gc_paused
    from portfolio_opt.loader import read_document
    from portfolio_opt.model import build_model, prepare
    from portfolio_opt.validate import validate_data

    path = spec["instance"]
    instance = st.run("load_validate", lambda: validate_data(read_document(path).data, path))
    with gc_paused():  # as portfolio_opt.solve does
        data = st.run("prepare", lambda: prepare(instance))
        model = st.run("build", lambda: build_model(data))
        built = Model(instance, data, model, res["prepare_s"] + res["build_s"], None)
        engine = st.run("handoff", lambda: handoff(built, "auto"))
    res["scenarios"] = len(data.scenarios)
    res["nodes_per_period"] = [len(data.nodes(t)) for t in data.periods]
    res["variables"] = model_size(built)
    res["handoff_auto"] = "direct" if type(engine).__name__ == "DirectHighs" else "persistent"
    h = engine.highs
    res.update(cols=h.getNumCol(), rows=h.getNumRow(), nnz=h.getNumNz())
    res["int_cols"] = _integer_columns(h)
    res["int_vars"] = _integer_variables(model)
    res["peak_rss_after_handoff_mb"] = peak_rss_mb()

    if spec["mode"] == "build":
        st.run("mps_write", lambda: h.writeModel(spec["mps"]))
        if spec.get("other_handoff"):
            # The path "auto" did not take, for comparison (the model is still whole).
            other = "persistent" if res["handoff_auto"] == "direct" else "direct"
            del engine, h
            with gc_paused():
                st.run(f"handoff_{other}", lambda: handoff(built, other))
            res["handoff_other"] = other
    else:
        outcome = st.run("solve_wall", lambda: engine.solve(
            spec["options"], mip_start=spec.get("mip_start", True)))
        info = h.getInfo()
        start = outcome.start
        res.update(
            status=str(outcome.status), termination=outcome.termination,
            objective_musd=outcome.objective, bound_musd=outcome.bound,
            mip_gap=outcome.mip_gap, solve_s=outcome.solve_seconds,
            nodes=int(info.mip_node_count),
            start_s=None if start is None else start.seconds,
        )
    Path(out).write_text(json.dumps(res, indent=1), encoding="utf-8")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main(sys.argv[1], sys.argv[2])
