"""One instance, every stage timed apart, in a process of its own.

``python benchmarks/_stages.py SPEC_JSON OUT.json`` where SPEC_JSON holds ``instance``,
``yaml`` (optional YAML copy to time loading apart), ``out_dir``, ``mps``, ``options``,
``both_handoffs`` and optionally ``component_counts`` (the entries of every Pyomo variable
and constraint component, and the integer and bounded columns HiGHS received). The stages
are the ones a single ``solve`` goes through, in its order: load+validate, prepare, build,
hand-off (``auto``), HiGHS solve, extraction, writing. Each stage records wall time
(``<stage>_s``) and this process's CPU time (``<stage>_cpu_s``: on a shared machine the CPU
time is the steadier of the two). Peak memory (VmHWM) is read after each stage, so the
table shows which stage sets it. Then, for comparison only, the other hand-off path and the
MPS file for the floor. After a direct hand-off the Pyomo model's constraints and
objective are released (stage ``release``, as ``portfolio_opt.solve`` does without marginal
values; ``"release": false`` in SPEC_JSON keeps them). The garbage collector is paused from
load to writing, as ``portfolio_opt.solve`` (and so the CLI) pauses it for the whole solve
(``"gc_paused": false`` in SPEC_JSON leaves it on, to see what the collector costs).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _rss import peak_rss_mb


class Stages:
    """Wall and CPU seconds per stage, and the memory high-water mark after it."""

    def __init__(self) -> None:
        self.res: dict[str, Any] = {"peak_rss_mb": {"start": peak_rss_mb()}}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        self.res[f"{name}_s"] = time.perf_counter() - t0
        self.res[f"{name}_cpu_s"] = time.process_time() - c0
        self.res["peak_rss_mb"][name] = peak_rss_mb()


def component_counts(model: Any, h: Any) -> dict[str, Any]:
    """Entries of each Pyomo Var and Constraint component; the binary, general integer and
    continuous columns HiGHS received, and how many carry a finite upper bound (a bound
    from the data). Counted outside the timed stages."""
    import highspy
    from pyomo.core import Constraint, Var

    lp = h.getLp()
    inf = highspy.kHighsInf
    kinds = {"binary": [0, 0], "integer": [0, 0], "continuous": [0, 0]}
    for kind, lo, up in zip(lp.integrality_, lp.col_lower_, lp.col_upper_, strict=True):
        if kind == highspy.HighsVarType.kInteger:
            key = "binary" if lo >= 0 and up <= 1 else "integer"
        else:
            key = "continuous"
        kinds[key][0] += 1
        kinds[key][1] += up < inf
    return {
        "var_counts": {v.local_name: len(v) for v in model.component_objects(Var)},
        "con_counts": {c.local_name: len(c) for c in model.component_objects(Constraint)},
        "col_kinds": {k: {"cols": n, "finite_ub": b} for k, (n, b) in kinds.items()},
    }


def main(spec_json: str, out: str) -> None:
    spec: dict[str, Any] = json.loads(spec_json)
    st = Stages()
    res = st.res

    # Imports are a one-off per process; bench_cli.py measures them on the CLI path. Here
    # they are paid up front so that no stage below is charged for them.
    with st.stage("imports"):
        from portfolio_opt.api import (
            Model,
            handoff,
            model_size,
            release_structure,
            restore_structure,
        )
        from portfolio_opt.extract import extract_plan, plan_npv
        from portfolio_opt.loader import read_document
        from portfolio_opt.lp_copy import standard_form_compiler
        from portfolio_opt.model import MONEY_SCALE, build_model, prepare
        from portfolio_opt.results import Result
        from portfolio_opt.validate import validate_data

        standard_form_compiler()  # scipy.sparse and the compiler, as the hand-off imports them

    res["gc_paused"] = bool(spec.get("gc_paused", True))
    if res["gc_paused"]:
        gc.disable()  # as portfolio_opt.solve runs: collector paused from load to the end
    path = spec["instance"]
    with st.stage("load_validate"):
        doc = read_document(path)
        instance = validate_data(doc.data, path)
    with st.stage("prepare"):
        data = prepare(instance)
    with st.stage("build"):
        model = build_model(data)
    built = Model(instance, data, model, res["prepare_s"] + res["build_s"], doc.sha256)
    res["variables"] = model_size(built)

    with st.stage("handoff"):
        engine = handoff(built, "auto")
    how = "direct" if type(engine).__name__ == "DirectHighs" else "persistent"
    res["handoff_auto"] = how
    res[f"handoff_{how}_s"] = res["handoff_s"]
    res[f"handoff_{how}_cpu_s"] = res["handoff_cpu_s"]
    h = engine.highs
    res.update(cols=h.getNumCol(), rows=h.getNumRow(), nnz=h.getNumNz())
    if spec.get("component_counts"):
        res.update(component_counts(model, h))
    if how == "direct" and spec.get("release", True):
        # As portfolio_opt.solve does without marginal values: HiGHS holds the model, the
        # plan is read from the variables; the constraints and objective are dropped.
        with st.stage("release"):
            release_structure(built)

    with st.stage("solve_wall"):
        outcome = engine.solve(spec["options"])
    res["solve_s"] = outcome.solve_seconds  # HiGHS's own run time
    res["status"] = str(outcome.status)
    res["objective"] = outcome.objective
    res["mip_gap"] = outcome.mip_gap

    if outcome.has_solution:
        with st.stage("extract"):
            tables, totals = extract_plan(model, data)
        result = Result(
            status=outcome.status, objective_npv_usd=None, mip_gap=outcome.mip_gap,
            objective_bound_usd=None if outcome.bound is None else outcome.bound * MONEY_SCALE,
            solver="highs", solver_version=engine.version, solve_seconds=outcome.solve_seconds,
            build_seconds=built.build_seconds, instance_sha256=built.instance_sha256,
            instance_name=instance.name, termination=outcome.termination,
        )
        for key, df in tables.items():
            setattr(result, key, df)
        result.totals = dict(totals)
        # As solve reports it: discounted cash flows + terminal value - debt after horizon.
        result.objective_npv_usd = plan_npv(tables, totals)
        res["npv_usd"] = result.objective_npv_usd
        with st.stage("write"):
            files = result.write(spec["out_dir"])
        res["written_mb"] = sum(f.stat().st_size for f in files) / 1e6

    with st.stage("mps_write"):
        h.writeModel(spec["mps"])

    if spec.get("both_handoffs"):
        other = "persistent" if how == "direct" else "direct"
        del engine, h
        gc.collect()
        full = restore_structure(built)  # rebuilt if released, outside the timing
        with st.stage(f"handoff_{other}"):
            second = handoff(full, other)
        sh = second.highs
        res["other_size"] = [sh.getNumCol(), sh.getNumRow(), sh.getNumNz()]

    if spec.get("yaml"):
        with st.stage("load_validate_yaml"):
            ydoc = read_document(spec["yaml"])
            validate_data(ydoc.data, spec["yaml"])

    gc.enable()
    Path(out).write_text(json.dumps(res, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
