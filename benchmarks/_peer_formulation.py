"""The product against the independent formulation of the same spec, end to end.

The independent formulation is ``tests/reference/spec_model.py`` (``reference_solve``):
written from the spec pages alone, it imports nothing from ``portfolio_opt`` and builds its
MILP directly on highspy. Every measurement is a fresh process (``child``); the driver
(``run``) runs the two sides of a comparison on the same instance back to back, alternating
which goes first from one pair to the next, at most ``--slots`` processes at a time, and
writes every finished run to the results file at once (a run that is killed loses only the
pair in flight).

    python benchmarks/_peer_formulation.py run [--instances h200-s11,...,gen-101,...]
        [--compare peer,heur] [--limit 300] [--slots 2] [--out FILE.json]
    python benchmarks/_peer_formulation.py child SIDE INSTANCE LIMIT OUT.json
    python benchmarks/_peer_formulation.py render FILE.json      # the tables (markdown)

Sides (``SIDES``):

* ``product`` -- ``portfolio_opt.solve(path, mip_gap=1e-4, time_limit=LIMIT, threads=1)``,
  the default profile, as a user calls it (load + validate, build, hand-off, the MIP start
  and HiGHS, extraction, marginal values: the library's default).
* ``product_nomarg`` -- the same with ``marginal_values=False`` (what the CLI does without
  ``--duals``; the reference computes no marginal values).
* ``product_heur`` -- the same as ``product`` with a profile that adds HiGHS's
  ``mip_heuristic_effort`` 0.3 (HiGHS's default 0.05; another value from the environment
  variable ``PORTFOLIO_OPT_HEURISTIC_EFFORT``) to the default profile's options.
* ``reference`` -- the instance read and validated by the product's loader (only to get
  the spec's dict; the product pays the same load), then
  ``reference_solve(dict, mip_rel_gap=1e-4, time_limit=LIMIT)`` (one thread, as it always
  runs). ``reference_solve`` raises on a time limit (it only reports optimal plans), so
  the HiGHS instance it creates is recorded here (a subclass put in its ``highspy``
  namespace) and status, gap, bound, plan value and nodes are read from it.
* ``lp`` -- not timed against anything: the LP relaxation of both models as handed to
  HiGHS (integrality dropped), their sizes and the reference's objective constant.

Comparisons (``COMPARISONS``): ``peer`` = product against reference; ``cli`` =
product_nomarg against reference; ``heur`` = product against product_heur. ``--round N``
labels a repeat; the side that goes first alternates from instance to instance and flips
from one round to the next. Instances: ``h200-s11`` .. ``h200-s15`` (the shared hard
portfolios, ``PORTFOLIO_OPT_HARD_DIR``) and ``gen-SEED`` = ``generate_instance(200, 8, 60,
SEED)`` of ``portfolio_opt.generate`` (a v1 instance: what ``portfolio-opt generate --sites
200 --periods 8 --contracts 60 --seed SEED --no-deals --no-debt --no-blocks
--no-demand-response`` writes), written as JSON.

Times: ``e2e_s`` is the wall time of the call (product: ``solve``; reference: load +
validate + ``reference_solve``), imports excluded on both sides; ``cpu_s`` the process's
CPU time over the same span. The 1-minute load average is sampled every 5 s by the
driver; each run carries the mean, min and max of the samples taken while it ran.

Gaps. The product hands HiGHS the NPV (MUSD) with its constant as the objective offset,
so its ``mip_gap`` is relative to the NPV. The reference hands HiGHS the objective without
its constant (``Milp.objective.const``): HiGHS's gap, and its 1e-4 stopping test, are
relative to NPV minus that constant. Both are recorded for the reference (``mip_gap`` as
HiGHS reports it, ``npv_gap`` = (bound - plan) / |plan| on the NPV scale).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable
HARD_DIR = Path(os.environ.get("PORTFOLIO_OPT_HARD_DIR", "/work/shared/data/hard-portfolios"))
DEFAULT_OUT = BENCH / "results" / "peer_formulation.json"
HARD = tuple(f"h200-s{s}" for s in (11, 12, 13, 14, 15))
HELD_OUT = ("gen-101", "gen-102", "gen-103")
GAP = 1e-4
HEURISTIC_EFFORT = float(os.environ.get("PORTFOLIO_OPT_HEURISTIC_EFFORT", "0.3"))
SIDES = ("product", "product_nomarg", "product_heur", "reference", "lp")
COMPARISONS: dict[str, tuple[str, str]] = {"peer": ("product", "reference"),
                                           "cli": ("product_nomarg", "reference"),
                                           "heur": ("product", "product_heur")}


# ------------------------------------------------------------------------------ instances


def work_dir() -> Path:
    d = Path(os.environ.get("PORTFOLIO_OPT_BENCH_DIR", "/tmp/portfolio_opt_bench")) / "peer"
    d.mkdir(parents=True, exist_ok=True)
    return d


def instance_path(name: str) -> Path:
    """h200-sNN: the shared file; gen-SEED: generate_instance(200, 8, 60, SEED) as JSON."""
    if name.startswith("h200-"):
        return HARD_DIR / f"{name}.yaml"
    if name.startswith("gen-"):
        seed = int(name.split("-", 1)[1])
        path = work_dir() / f"gen-s200-t8-c60-seed{seed}.json"
        if not path.exists():
            from portfolio_opt.generate import generate_instance, write_instance

            tmp = path.with_name(f".{path.name}.{os.getpid()}.json")
            write_instance(generate_instance(200, 8, 60, seed), tmp)
            os.replace(tmp, path)
        return path
    return Path(name)


def heur_profile() -> Path:
    """The default profile's options plus mip_heuristic_effort (a profile file)."""
    from portfolio_opt.solver import load_profile

    options = load_profile("default")
    options["mip_heuristic_effort"] = HEURISTIC_EFFORT
    path = work_dir() / "default_heur.yaml"
    lines = [f"description: default profile + mip_heuristic_effort {HEURISTIC_EFFORT}"]
    lines += [f"{k}: {json.dumps(v)}" for k, v in options.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------ one side


def _log_options(log: Path) -> dict[str, Any]:
    return {"output_flag": True, "log_to_console": False, "log_file": str(log)}


def _root_bound(log: Path) -> float | None:
    from _hard import root_bound_from_log

    return root_bound_from_log(log.read_text()) if log.exists() else None


def run_product(path: Path, limit: float, out: Path, profile: str | Path,
                marginal_values: bool = True) -> dict[str, Any]:
    """portfolio_opt.solve as a user calls it, with probes around its stages."""
    t_imp = time.perf_counter()
    import portfolio_opt
    from portfolio_opt import api, marginal, solver

    imports_s = time.perf_counter() - t_imp
    log = out.with_suffix(".log")
    log.unlink(missing_ok=True)
    probe: dict[str, Any] = {}

    # load + validate (api._coerce), marginal values, and HiGHS's main run: timed and read
    # without changing what solve does (the log goes to a file; HiGHS's output is off in
    # the product, and output does not change the search).
    coerce, marginals, run_watched = api._coerce, marginal.marginal_values, solver._run_watched

    def timed_coerce(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return coerce(*a, **k)
        finally:
            probe["load_s"] = time.perf_counter() - t

    def timed_marginals(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return marginals(*a, **k)
        finally:
            probe["marginals_s"] = time.perf_counter() - t

    def logged_run(h: Any, opts: dict[str, Any], monitor: Any, start: Any) -> float:
        if "main" not in probe:
            probe["main"] = h
            for key, value in _log_options(log).items():
                h.setOptionValue(key, value)
            probe["rows"], probe["cols"], probe["nnz"] = (h.getNumRow(), h.getNumCol(),
                                                          h.getNumNz())
            lp = h.getLp()
            probe["int_cols"] = sum(1 for v in lp.integrality_ if int(v) != 0)
        return run_watched(h, opts, monitor, start)

    api._coerce, marginal.marginal_values, solver._run_watched = (
        timed_coerce, timed_marginals, logged_run)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    res = portfolio_opt.solve(path, profile=profile, mip_gap=GAP, time_limit=limit,
                              threads=1, marginal_values=marginal_values)
    e2e = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    h = probe.get("main")
    if h is not None:
        h.setOptionValue("output_flag", False)
    info = h.getInfo() if h is not None else None
    start = res.extra.get("mip_start") or {}
    npv = res.objective_npv_usd
    root = _root_bound(log)
    return {
        "status": str(res.status), "termination": res.termination,
        "npv_usd": npv, "bound_usd": res.objective_bound_usd, "mip_gap": res.mip_gap,
        "nodes": None if info is None else int(info.mip_node_count),
        "root_bound_usd": None if root is None else root * 1e6,
        "e2e_s": e2e, "cpu_s": cpu, "imports_s": imports_s,
        "load_s": probe.get("load_s"), "build_s": res.build_seconds,
        "handoff_s": res.extra.get("handoff_seconds"), "highs_s": res.solve_seconds,
        "start_s": start.get("seconds") if isinstance(start, dict) else None,
        "marginals_s": probe.get("marginals_s"),
        "rows": probe.get("rows"), "cols": probe.get("cols"), "nnz": probe.get("nnz"),
        "int_cols": probe.get("int_cols"),
        "profile": str(profile), "options": res.extra.get("solver_options"),
        "marginal_values": marginal_values,
    }


def _reference_module() -> Any:
    sys.path.insert(0, str(REPO))
    from tests.reference import spec_model

    return spec_model


def _recording_highspy(spec_model: Any, created: list[Any],
                       on_run: Callable[[Any], None] | None = None) -> None:
    """Give spec_model a highspy whose Highs records every instance it makes."""
    import highspy

    class Recorded(highspy.Highs):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            created.append(self)
            self.run_wall = 0.0

        def run(self) -> Any:
            if on_run is not None:
                on_run(self)
            t = time.perf_counter()
            try:
                return super().run()
            finally:
                self.run_wall += time.perf_counter() - t

    names = {k: getattr(highspy, k) for k in dir(highspy) if not k.startswith("__")}
    spec_model.highspy = SimpleNamespace(**{**names, "Highs": Recorded})


def run_reference(path: Path, limit: float, out: Path) -> dict[str, Any]:
    """Load + validate with the product's loader, then reference_solve."""
    t_imp = time.perf_counter()
    from portfolio_opt.loader import load_instance

    spec_model = _reference_module()
    imports_s = time.perf_counter() - t_imp
    log = out.with_suffix(".log")
    log.unlink(missing_ok=True)
    created: list[Any] = []
    seen: dict[str, Any] = {}
    stamps: dict[str, float] = {}

    def on_run(h: Any) -> None:
        stamps["run"] = time.perf_counter()
        for key, value in _log_options(log).items():
            h.setOptionValue(key, value)
        seen["rows"], seen["cols"], seen["nnz"] = h.getNumRow(), h.getNumCol(), h.getNumNz()

    _recording_highspy(spec_model, created, on_run)
    milp_solve = spec_model.Milp.solve

    def recorded_solve(self: Any, mip_rel_gap: float, time_limit: float | None) -> Any:
        stamps["solve"] = time.perf_counter()
        seen["milp"] = self
        res = milp_solve(self, mip_rel_gap, time_limit)
        stamps["solved"] = time.perf_counter()
        return res

    spec_model.Milp.solve = recorded_solve
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    inst = load_instance(path)
    raw = inst.model_dump(by_alias=True)
    t1 = time.perf_counter()
    error = None
    try:
        ref = spec_model.reference_solve(raw, mip_rel_gap=GAP, time_limit=limit)
    except RuntimeError as exc:  # "reference model: HiGHS ended with ..." (a time limit)
        ref, error = None, str(exc)
    t_end = time.perf_counter()
    cpu = time.process_time() - cpu0
    h = created[-1]
    h.setOptionValue("output_flag", False)
    milp = seen["milp"]
    const = float(milp.objective.const)
    info = h.getInfo()
    ms = h.getModelStatus()
    has_plan = info.primal_solution_status == 2
    S = spec_model.highspy.HighsModelStatus
    status = ("optimal" if ms == S.kOptimal else "infeasible" if ms == S.kInfeasible
              else ("feasible" if has_plan else "time_limit_no_solution")
              if ms == S.kTimeLimit else h.modelStatusToString(ms))
    plan = float(info.objective_function_value) + const if has_plan else None
    bound = float(info.mip_dual_bound) + const
    if ref is not None and ref.npv_usd is not None:  # the reported NPV of the optimal plan
        plan = ref.npv_usd / 1e6
    root = _root_bound(log)
    return {
        "status": status, "termination": h.modelStatusToString(ms), "error": error,
        "npv_usd": None if plan is None else plan * 1e6,
        "bound_usd": bound * 1e6 if math.isfinite(bound) else None,
        "mip_gap": float(info.mip_gap) if has_plan else None,
        "npv_gap": (bound - plan) / abs(plan) if has_plan and plan and math.isfinite(bound)
        else None,
        "objective_constant_usd": const * 1e6,
        "nodes": int(info.mip_node_count),
        "root_bound_usd": None if root is None else (root + const) * 1e6,
        "e2e_s": t_end - t0, "cpu_s": cpu, "imports_s": imports_s, "load_s": t1 - t0,
        "build_s": stamps["solve"] - t1, "handoff_s": stamps["run"] - stamps["solve"],
        "highs_s": float(h.getRunTime()), "report_s": t_end - stamps.get("solved", t_end),
        "rows": seen.get("rows"), "cols": seen.get("cols"), "nnz": seen.get("nnz"),
        "int_cols": sum(milp.integer),
        "options": {"mip_rel_gap": GAP, "time_limit": limit, "threads": 1},
    }


def run_lp(path: Path) -> dict[str, Any]:
    """The LP relaxations of both models as handed to HiGHS (integrality dropped)."""
    from _scale import lp_relaxation_bound

    from portfolio_opt.api import build, handoff
    from portfolio_opt.loader import load_instance

    inst = load_instance(path)
    engine = handoff(build(inst))
    h = engine.highs
    product = {"rows": h.getNumRow(), "cols": h.getNumCol(), "nnz": h.getNumNz(),
               "int_cols": sum(1 for v in h.getLp().integrality_ if int(v) != 0)}
    t = time.perf_counter()
    product["lp_bound_usd"] = lp_relaxation_bound(h) * 1e6
    product["lp_s"] = time.perf_counter() - t

    spec_model = _reference_module()
    created: list[Any] = []
    _recording_highspy(spec_model, created)
    milp_solve = spec_model.Milp.solve
    seen: dict[str, Any] = {}

    def relaxed(self: Any, mip_rel_gap: float, time_limit: float | None) -> Any:
        seen["const"] = float(self.objective.const)
        seen["int_cols"] = sum(self.integer)
        self.integer = [False] * len(self.integer)
        return milp_solve(self, mip_rel_gap, time_limit)

    spec_model.Milp.solve = relaxed
    t = time.perf_counter()
    ref = spec_model.reference_solve(inst.model_dump(by_alias=True))
    h = created[-1]
    reference = {"rows": h.getNumRow(), "cols": h.getNumCol(), "nnz": h.getNumNz(),
                 "int_cols": seen["int_cols"], "lp_bound_usd": ref.npv_usd,
                 "lp_s": float(h.getRunTime()), "objective_constant_usd": seen["const"] * 1e6}
    return {"status": "lp", "product": product, "reference": reference}


def child(side: str, instance: str, limit: float, out: Path) -> dict[str, Any]:
    path = instance_path(instance)
    if side == "product":
        res = run_product(path, limit, out, "default")
    elif side == "product_nomarg":
        res = run_product(path, limit, out, "default", marginal_values=False)
    elif side == "product_heur":
        res = run_product(path, limit, out, heur_profile())
    elif side == "reference":
        res = run_reference(path, limit, out)
    elif side == "lp":
        res = run_lp(path)
    else:
        raise SystemExit(f"unknown side {side!r}; one of {', '.join(SIDES)}")
    res.update({"side": side, "instance": instance, "limit": limit, "pid": os.getpid()})
    out.write_text(json.dumps(res, indent=1))
    return res


# ------------------------------------------------------------------------------ the driver


class LoadSampler:
    """The 1-minute load average every ``period`` seconds, in a background thread."""

    def __init__(self, period: float = 5.0) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._period = period
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), os.getloadavg()[0]))
            self._stop.wait(self._period)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, t0: float, t1: float) -> dict[str, float | None]:
        xs = [v for t, v in list(self.samples) if t0 <= t <= t1]
        if not xs:
            return {"mean": None, "min": None, "max": None}
        return {"mean": sum(xs) / len(xs), "min": min(xs), "max": max(xs)}


class Store:
    """The results file, rewritten (atomically) after every finished run."""

    def __init__(self, out: Path, meta: dict[str, Any], keep: bool) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {"meta": meta, "runs": []}
        if keep and out.exists():
            old = json.loads(out.read_text())
            self.data["runs"] = old.get("runs", [])
            old_meta = old.get("meta", {})
            self.data["meta"] = {**old_meta, "resumed": [*old_meta.get("resumed", []), meta]}
        self.write()

    def add(self, run: dict[str, Any]) -> None:
        with self.lock:
            self.data["runs"].append(run)
            self.write()

    def write(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(f".{self.out.name}.tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        os.replace(tmp, self.out)


def run_side(side: str, instance: str, limit: float, tag: str, sampler: LoadSampler,
             extra: dict[str, Any]) -> dict[str, Any]:
    out = work_dir() / f"{tag}.json"
    out.unlink(missing_ok=True)
    load0 = os.getloadavg()
    t0 = time.time()
    proc = subprocess.run([PYTHON, str(Path(__file__).resolve()), "child", side, instance,
                           str(limit), str(out)], cwd=REPO, capture_output=True, text=True)
    t1 = time.time()
    load1 = os.getloadavg()
    if proc.returncode != 0 or not out.exists():
        res: dict[str, Any] = {"side": side, "instance": instance, "status": "error",
                               "error": proc.stderr[-3000:]}
    else:
        res = json.loads(out.read_text())
    res.update(extra)
    res.update({"started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0)),
                "process_wall_s": t1 - t0, "load_before": list(load0),
                "load_after": list(load1), "load_during": sampler.between(t0, t1)})
    return res


def plan(instances: list[str], comparisons: list[str], with_lp: bool, rnd: int = 1
         ) -> list[tuple[str, str, tuple[str, ...]]]:
    """(comparison, instance, sides in the order they run), alternating the first side."""
    jobs: list[tuple[str, str, tuple[str, ...]]] = []
    for comp in comparisons:
        a, b = COMPARISONS[comp]
        for k, inst in enumerate(instances):
            jobs.append((comp, inst, (a, b) if (k + rnd) % 2 == 1 else (b, a)))
    if with_lp:
        jobs += [("lp", inst, ("lp",)) for inst in instances]
    # Long pairs first (the hard s13-s15 run to the limit), so that two slots stay busy.
    weight = {"h200-s13": 0, "h200-s14": 0, "h200-s15": 0, "h200-s12": 1}
    jobs.sort(key=lambda j: (j[0] == "lp", weight.get(j[1], 2)))
    return jobs


def drive(instances: list[str], comparisons: list[str], limit: float, slots: int,
          out: Path, with_lp: bool = True, keep: bool = False, rnd: int = 1
          ) -> dict[str, Any]:
    sys.path.insert(0, str(BENCH))
    from _scale import machine_info

    for inst in instances:
        instance_path(inst)  # generate once, before the timed runs
    meta = {"machine": machine_info(), "limit_s": limit, "slots": slots, "gap": GAP,
            "heuristic_effort": HEURISTIC_EFFORT, "instances": instances,
            "comparisons": comparisons, "round": rnd,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": sys.argv}
    store = Store(out, meta, keep)
    jobs = plan(instances, comparisons, with_lp, rnd)

    with LoadSampler() as sampler:
        def one(job: tuple[str, str, tuple[str, ...]]) -> None:
            comp, inst, sides = job
            for order, side in enumerate(sides):
                tag = f"{comp}-{inst}-{side}-r{rnd}"
                res = run_side(side, inst, limit, tag, sampler,
                               {"comparison": comp, "order": order, "round": rnd})
                store.add(res)
                print(f"{time.strftime('%H:%M:%S')} r{rnd} {comp} {inst} {side}: "
                      f"{res.get('status')} e2e={res.get('e2e_s')} gap={res.get('mip_gap')} "
                      f"load={res['load_during']['mean']}", flush=True)

        with ThreadPoolExecutor(max_workers=slots) as pool:
            list(pool.map(one, jobs))
        store.data["meta"].setdefault("load_samples", {})[
            f"round {rnd}, {' '.join(comparisons)}, finished "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}"] = sampler.samples
        store.write()
    return store.data


# ------------------------------------------------------------------------------ tables


def _f(x: float | None, fmt: str = "{:.1f}") -> str:
    return "–" if x is None else fmt.format(x)


def _g(x: float | None) -> str:
    return "–" if x is None else f"{x:.1e}"


def _status(r: dict[str, Any]) -> str:
    s = r.get("status", "?")
    return "optimal" if s in ("optimal", "Status.OPTIMAL") else s.replace("Status.", "").lower()


Pair = tuple[str, int, dict[str, Any], dict[str, Any]]


def pairs(data: dict[str, Any], comp: str, rnd: int | None = None) -> list[Pair]:
    """(instance, round, side a's run, side b's run) per instance and round (runs without
    a round are round 1), or of round ``rnd`` only."""
    a, b = COMPARISONS[comp]
    latest: dict[tuple[str, int, str], dict[str, Any]] = {}
    for r in data["runs"]:
        if r.get("comparison") == comp and (rnd is None or r.get("round", 1) == rnd):
            latest[r["instance"], r.get("round", 1), r["side"]] = r
    keys = sorted({(i, k) for i, k, _ in latest},
                  key=lambda x: (not x[0].startswith("h200"), x[0], x[1]))
    return [(n, k, latest[n, k, a], latest[n, k, b]) for n, k in keys
            if (n, k, a) in latest and (n, k, b) in latest]


def agree(p: dict[str, Any], q: dict[str, Any]) -> str:
    """Each plan is bounded by the other's bound; where both are optimal, the NPVs agree to
    the gap."""
    pv, qv, pb, qb = p.get("npv_usd"), q.get("npv_usd"), p.get("bound_usd"), q.get("bound_usd")
    if pv is None or qv is None:
        return "–"
    tol = 1e-6 * max(abs(pv), abs(qv))
    ok = (pb is None or qv <= pb + tol) and (qb is None or pv <= qb + tol)
    if _status(p) == "optimal" and _status(q) == "optimal":
        d = abs(pv - qv) / max(abs(pv), abs(qv))
        return f"{'yes' if ok and d <= 1.01 * GAP else 'NO'} ({d:.1e})"
    return "bounds consistent" if ok else "NO: a plan above the other's bound"


def table(data: dict[str, Any], comp: str) -> list[str]:
    a, b = COMPARISONS[comp]
    lines = [f"| instance | round | {a} s (HiGHS s) | {b} s (HiGHS s) | ratio {a}/{b} | "
             f"CPU ratio | status {a} / {b} | gap {a} / {b} | nodes {a} / {b} | NPV {a} MUSD | "
             f"NPV {b} MUSD | agree | load (mean, min-max) |",
             "|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|---|---|"]
    for inst, rnd, p, q in pairs(data, comp):
        if "e2e_s" not in p or "e2e_s" not in q:
            lines.append(f"| {inst} | {rnd} | error | | | | | | | | | | |")
            continue
        loads = [x for r in (p, q) for x in (r["load_during"]["min"], r["load_during"]["max"])
                 if x is not None]
        means = [r["load_during"]["mean"] for r in (p, q) if r["load_during"]["mean"] is not None]
        load = (f"{sum(means) / len(means):.1f} ({min(loads):.1f}-{max(loads):.1f})"
                if means else "–")

        def gap(r: dict[str, Any]) -> str:
            g = r.get("npv_gap", r.get("mip_gap"))
            return _g(g)

        lines.append(
            f"| {inst} | {rnd} | {p['e2e_s']:.1f} ({p['highs_s']:.1f}) | {q['e2e_s']:.1f} "
            f"({q['highs_s']:.1f}) | **{p['e2e_s'] / q['e2e_s']:.2f}** | "
            f"{p['cpu_s'] / q['cpu_s']:.2f} | {_status(p)} / {_status(q)} | "
            f"{gap(p)} / {gap(q)} | {_f(p.get('nodes'), '{:,}')} / {_f(q.get('nodes'), '{:,}')} | "
            f"{_f(None if p['npv_usd'] is None else p['npv_usd'] / 1e6, '{:,.1f}')} | "
            f"{_f(None if q['npv_usd'] is None else q['npv_usd'] / 1e6, '{:,.1f}')} | "
            f"{agree(p, q)} | {load} |")
    return lines


def summary(data: dict[str, Any], comp: str, names: tuple[str, ...],
            rnd: int | None = None) -> dict[str, Any]:
    """Sum-of-times ratio and geometric mean of the ratios over ``names`` (every pair of
    them, or round ``rnd``'s)."""
    rows = [(p, q) for inst, _, p, q in pairs(data, comp, rnd) if inst in names
            and "e2e_s" in p and "e2e_s" in q]
    if not rows:
        return {}
    ratios = [p["e2e_s"] / q["e2e_s"] for p, q in rows]
    cpu = [p["cpu_s"] / q["cpu_s"] for p, q in rows]
    return {"n": len(rows), "sum_a": sum(p["e2e_s"] for p, _ in rows),
            "sum_b": sum(q["e2e_s"] for _, q in rows),
            "ratio_of_sums": sum(p["e2e_s"] for p, _ in rows) / sum(q["e2e_s"] for _, q in rows),
            "geomean": math.exp(sum(math.log(x) for x in ratios) / len(ratios)),
            "geomean_cpu": math.exp(sum(math.log(x) for x in cpu) / len(cpu)),
            "ratio_of_sums_highs": sum(p["highs_s"] for p, _ in rows)
            / sum(q["highs_s"] for _, q in rows)}


def lp_table(data: dict[str, Any]) -> list[str]:
    best: dict[str, float] = {}
    for r in data["runs"]:
        if r.get("npv_usd") is not None and r.get("side") != "lp":
            best[r["instance"]] = max(best.get(r["instance"], -math.inf), r["npv_usd"])
    lines = ["| instance | rows product / reference | columns | integer columns | "
             "LP bound product MUSD | LP bound reference MUSD | LP gap product | "
             "LP gap reference | best plan MUSD |", "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in data["runs"]:
        if r.get("side") != "lp" or "product" not in r:
            continue
        p, q, b = r["product"], r["reference"], best.get(r["instance"])

        def gap(x: float, b: float | None = b) -> str:
            return "–" if b is None else f"{100 * (x - b) / abs(b):.2f} %"

        lines.append(
            f"| {r['instance']} | {p['rows']:,} / {q['rows']:,} | {p['cols']:,} / {q['cols']:,} "
            f"| {p['int_cols']:,} / {q['int_cols']:,} | {p['lp_bound_usd'] / 1e6:,.1f} | "
            f"{q['lp_bound_usd'] / 1e6:,.1f} | {gap(p['lp_bound_usd'])} | "
            f"{gap(q['lp_bound_usd'])} | {_f(None if b is None else b / 1e6, '{:,.1f}')} |")
    return lines


def render(data: dict[str, Any]) -> str:
    out = []
    for comp in COMPARISONS:
        if not pairs(data, comp):
            continue
        out.append(f"### {comp}: {' against '.join(COMPARISONS[comp])}\n")
        out += table(data, comp)
        rounds = sorted({k for _, k, _, _ in pairs(data, comp)})
        for (label, names), rnd in [(x, k) for x in (("held-out", HELD_OUT), ("hard", HARD),
                                                      ("all", HARD + HELD_OUT))
                                    for k in [*rounds, None]]:
            s = summary(data, comp, names, rnd)
            if s and not (rnd is None and len(rounds) == 1):
                tag = "all rounds" if rnd is None else f"round {rnd}"
                out.append(f"\n{label}, {tag}: n={s['n']} sum {s['sum_a']:.1f} s / "
                           f"{s['sum_b']:.1f} s = {s['ratio_of_sums']:.2f}; geometric mean "
                           f"{s['geomean']:.2f} (CPU {s['geomean_cpu']:.2f}); HiGHS-only sum ratio "
                           f"{s['ratio_of_sums_highs']:.2f}")
        out.append("")
    lp = lp_table(data)
    if len(lp) > 2:
        out += ["### LP relaxations\n", *lp]
    return "\n".join(out)


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(BENCH))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--instances", default=",".join(HARD + HELD_OUT))
    r.add_argument("--compare", default="peer,heur")
    r.add_argument("--limit", type=float, default=300.0)
    r.add_argument("--slots", type=int, default=2)
    r.add_argument("--out", type=Path, default=DEFAULT_OUT)
    r.add_argument("--no-lp", action="store_true")
    r.add_argument("--keep", action="store_true", help="append to the runs already in OUT")
    r.add_argument("--round", type=int, default=1)
    c = sub.add_parser("child")
    c.add_argument("side", choices=SIDES)
    c.add_argument("instance")
    c.add_argument("limit", type=float)
    c.add_argument("out", type=Path)
    d = sub.add_parser("render")
    d.add_argument("file", type=Path, nargs="?", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if args.cmd == "child":
        child(args.side, args.instance, args.limit, args.out)
    elif args.cmd == "run":
        drive(args.instances.split(","), args.compare.split(","), args.limit, args.slots,
              args.out, with_lp=not args.no_lp, keep=args.keep, rnd=args.round)
        print(render(json.loads(args.out.read_text())))
    else:
        print(render(json.loads(args.file.read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
