"""mpi-sppy's progressive hedging against the extensive form, on one scenario set (spec v2 B).

    python benchmarks/_ph_uncertainty.py N ITER_LIMIT TIME_LIMIT OUT.json

Needs ``pip install mpi-sppy`` (not a dependency of the package); runs serially (no MPI).
The set is benchmarks/_uncertainty.py's two_stage set of N scenarios made risk-neutral
(``cvar_weight`` 0): progressive hedging decomposes the expectation, while CVaR ties the
scenarios together through eta.

1. The extensive form as ``portfolio_opt.solve`` builds it: build, hand-off, HiGHS (MIP
   start, one thread, gap 1e-3, TIME_LIMIT s).
2. PH: one Pyomo model per scenario, this package's builder on
   ``value_of_information.single_scenario_instance``; the first-stage variables are those
   ``value_of_information.FIXED_BY_MEAN_VALUE`` lists (the decisions spec v2 B makes
   once under two_stage); subproblems by ``appsi_highs`` (gap 1e-3, one thread); the
   proximal term linearised (HiGHS solves no MIQP); rho cost-proportional (``RHO`` times
   the variable's objective coefficient, at least ``RHO_FLOOR``); at most ITER_LIMIT
   iterations or TIME_LIMIT s.
3. PH's first stage: each scenario's first-stage values at PH's end (the candidates
   mpi-sppy's xhatshuffle tries; the first ``MAX_CANDIDATES``) and the consensus x-bar with
   the integer and binary variables rounded, each fixed in the extensive form with
   ``value_of_information.fix_first_stage`` and the rest optimised per scenario; the best
   is the objective PH's first stage achieves.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Cost-proportional rho: RHO times the variable's objective coefficient (MUSD per unit),
# at least RHO_FLOOR (acceptance and site-use binaries carry no cost of their own).
RHO = 0.1
RHO_FLOOR = 1e-2
CONVTHRESH = 1e-4
MAX_CANDIDATES = 10
GAP = 1e-3


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t: tuple[float, float]) -> dict[str, float]:
    return {"wall_s": time.perf_counter() - t[0], "cpu_s": time.process_time() - t[1]}


def main(n: int, iter_limit: int, time_limit: float, out: str) -> None:
    from importlib.metadata import version

    import pyomo.environ as pyo
    from _uncertainty import scenario_instance
    from mpisppy.opt.ph import PH
    from mpisppy.utils import sputils

    from portfolio_opt.api import build, handoff
    from portfolio_opt.gcpause import gc_paused
    from portfolio_opt.validate import validate_data
    from portfolio_opt.value_of_information import (
        FIXED_BY_MEAN_VALUE,
        fix_first_stage,
        single_scenario_instance,
    )

    raw = scenario_instance(n, "two_stage")
    raw["uncertainty"]["risk"]["cvar_weight"] = 0.0
    instance = validate_data(raw, "<ph>")
    options = {"mip_rel_gap": GAP, "threads": 1, "time_limit": time_limit}
    res: dict[str, Any] = {"n": n, "version": version("mpi-sppy"),
                           "solver": "appsi_highs", "rho": RHO, "rho_floor": RHO_FLOOR,
                           "iter_limit": iter_limit, "time_limit": time_limit,
                           "convthresh": CONVTHRESH, "nonants": list(FIXED_BY_MEAN_VALUE)}

    # 1. the extensive form
    t = _clock()
    with gc_paused():
        ef = build(instance)
        engine = handoff(ef)
        outcome = engine.solve(options, mip_start=True)
    res["ef"] = {**_since(t), "status": str(outcome.status),
                 "objective_musd": outcome.objective, "bound_musd": outcome.bound,
                 "mip_gap": outcome.mip_gap, "highs_s": outcome.solve_seconds,
                 "cols": engine.highs.getNumCol()}
    del engine

    # 2. progressive hedging
    scenarios = {sc.id: sc for sc in instance.uncertainty.scenarios}
    models: dict[str, Any] = {}

    def nonants(m: Any) -> list[Any]:
        return [m.component(v) for v in FIXED_BY_MEAN_VALUE if m.component(v) is not None]

    def scenario_creator(name: str) -> Any:
        one = build(single_scenario_instance(instance, scenarios[name]))
        m = one.pyomo
        m._first_stage_cost = pyo.Expression(expr=0.0)
        sputils.attach_root_node(m, m._first_stage_cost, nonants(m))
        m._mpisppy_probability = scenarios[name].probability
        models[name] = one
        return m

    ph_options = {
        "solver_name": "appsi_highs", "PHIterLimit": iter_limit, "defaultPHrho": RHO,
        "convthresh": CONVTHRESH, "verbose": False, "display_progress": False,
        "display_timing": False, "asynchronousPH": False, "time_limit": time_limit,
        "linearize_proximal_terms": True, "linearize_binary_proximal_terms": True,
        "iter0_solver_options": {"mip_rel_gap": GAP, "threads": 1},
        "iterk_solver_options": {"mip_rel_gap": GAP, "threads": 1},
    }
    def rho_setter(scenario: Any) -> list[tuple[int, float]]:
        coeffs = sputils.nonant_cost_coeffs(scenario)
        return [(id(var), RHO * max(abs(coeffs[ndn_i]), RHO_FLOOR))
                for ndn_i, var in scenario._mpisppy_data.nonant_indices.items()]

    t = _clock()
    ph = PH(ph_options, list(scenarios), scenario_creator, rho_setter=rho_setter)
    conv, _, trivial = ph.ph_main()
    ph_res: dict[str, Any] = {**_since(t), "iterations": int(ph._PHIter),
                              "conv": conv, "trivial_bound_musd": trivial}
    ph_res["status"] = ("converged" if conv is not None and conv < CONVTHRESH
                        else f"not converged (metric {conv:.3g})")
    first = next(iter(ph.local_scenarios.values()))
    res["nonant_count"] = len(first._mpisppy_data.nonant_indices)

    # 3. PH's first stage, fixed in the extensive form: each scenario's own (what
    # mpi-sppy's xhatshuffle tries) and the rounded consensus x-bar; the best is PH's plan.
    def evaluate(plan: Any) -> tuple[str, float | None]:
        with gc_paused():
            fixed = build(instance)
            fix_first_stage(fixed.pyomo, plan, False)
            done = handoff(fixed).solve(options)
        return str(done.status), done.objective

    t = _clock()
    candidates: dict[str, tuple[str, float | None]] = {}
    for name in list(ph.local_scenarios)[:MAX_CANDIDATES]:
        candidates[name] = evaluate(models[name].pyomo)
    for ndn_i, xvar in first._mpisppy_data.nonant_indices.items():
        value = pyo.value(first._mpisppy_model.xbars[ndn_i])
        if xvar.is_integer() or xvar.is_binary():
            value = round(value)
        xvar.set_value(value, skip_validation=True)
    candidates["xbar"] = evaluate(first)
    feasible = {k: v for k, (_, v) in candidates.items() if v is not None}
    best = max(feasible, key=lambda k: feasible[k]) if feasible else None
    ph_res.update(
        candidates={k: {"status": st, "objective_musd": v} for k, (st, v) in candidates.items()},
        xhat_from=best, xhat_objective_musd=None if best is None else feasible[best],
        xhat_eval=_since(t))
    res["ph"] = ph_res
    ef_obj = res["ef"]["objective_musd"]
    if best is not None and ef_obj:
        res["note"] = (f"The best of {len(candidates)} candidate first stages "
                       f"({len(feasible)} feasible), {best}'s, reaches "
                       f"{100 * feasible[best] / ef_obj:.3f} % of the extensive form's "
                       "objective.")
    Path(out).write_text(json.dumps(res, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
