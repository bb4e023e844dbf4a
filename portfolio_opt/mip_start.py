"""A cheap feasible plan handed to HiGHS as a MIP start.

The start is the optimum of a restricted copy of the model: the same HiGHS model with every
non-committed lease offer declined (``accept`` held at 0), so the fleet keeps hashing,
committed leases are served, and halls are built only where committed leases need them.
That restricted MILP has no contract choices left and solves in a fraction of the full
solve; since it only tightens bounds of the full model, its solution is feasible for the
full model. HiGHS checks a start before using it; ``accepted`` records whether the full
solve ended with a plan at least as good.

It is built from the HiGHS model by column, so new variables and constraints added to the
Pyomo model are carried along without change here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["START_BUDGET_SECONDS", "START_GAP", "MipStart", "find_start", "restricted_columns"]

log = logging.getLogger("portfolio_opt.solver")

# The restricted solve stops at this relative gap (or the main solve's, if looser) ...
START_GAP = 1e-2
# ... and after at most this many seconds (or the time limit, if shorter).
START_BUDGET_SECONDS = 60.0


@dataclass
class MipStart:
    """A feasible plan of the full model, by HiGHS column."""

    col_value: list[float]
    objective: float  # model units (MUSD)
    seconds: float  # HiGHS run time of the restricted solve
    termination: str  # the restricted solve's HiGHS model status
    accepted: bool | None = None  # set after the full solve

    def summary(self) -> dict[str, Any]:
        """What summary.json says about the start (USD)."""
        return {"objective_usd": self.objective * 1e6, "seconds": round(self.seconds, 6),
                "termination": self.termination, "accepted": self.accepted}


def restricted_columns(model: Any, column_of: Any) -> list[int]:
    """HiGHS columns of the non-committed ``accept`` variables of ``model``.

    ``column_of(var)`` gives a variable's HiGHS column or None (a fixed variable compiled
    away as a constant).
    """
    accept = model.component("accept")
    if accept is None:
        return []
    cols = []
    for var in accept.values():
        if var.fixed:
            continue
        j = column_of(var)
        if j is not None:
            cols.append(int(j))
    return cols


def find_start(h: Any, zero_cols: list[int], options: dict[str, Any],
               monitor: Any = None) -> MipStart | None:
    """Solve ``h``'s model with ``zero_cols`` held at 0 in a fresh HiGHS instance.

    The budget is ``START_BUDGET_SECONDS`` or the solve's ``time_limit`` if shorter. None
    when there is nothing to restrict, the restricted model has no plan (committed leases
    that cannot be served) or none is found within the budget.
    """
    import highspy
    import numpy as np

    from .lp_copy import new_highs, run_highs

    if not zero_cols:
        return None
    r = new_highs(options)
    for key in ("mip_feasibility_tolerance", "presolve", "random_seed"):
        if key in options:
            r.setOptionValue(key, options[key])
    r.setOptionValue("mip_rel_gap", max(START_GAP, float(options.get("mip_rel_gap", 0.0))))
    r.setOptionValue("time_limit", min(START_BUDGET_SECONDS,
                                       float(options.get("time_limit", highspy.kHighsInf))))
    r.passModel(h.getModel())
    n = len(zero_cols)
    zeros = np.zeros(n)
    r.changeColsBounds(n, np.asarray(zero_cols, dtype=np.int32), zeros, zeros)
    t0 = time.perf_counter()
    if monitor is not None:
        with monitor.attached(r, "start"):
            run_highs(r, options.get("threads"))
    else:
        run_highs(r, options.get("threads"))
    seconds = time.perf_counter() - t0
    status = r.modelStatusToString(r.getModelStatus())
    info = r.getInfo()
    if info.primal_solution_status != 2:
        log.info("no MIP start: the plan without new lease offers ended with %s after %.2f s",
                 status, seconds)
        return None
    start = MipStart(list(r.getSolution().col_value), float(info.objective_function_value),
                     seconds, status)
    log.info("MIP start: the plan without new lease offers, NPV %.1f MUSD (%s, %.2f s)",
             start.objective, status, seconds)
    return start


def pass_start(h: Any, start: MipStart) -> bool:
    """Give ``start`` to HiGHS as the incumbent to begin from (checked by HiGHS)."""
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = start.col_value
    sol.value_valid = True
    return bool(h.setSolution(sol) == highspy.HighsStatus.kOk)


def relaxation_bound(h: Any, options: dict[str, Any], seconds: float) -> float | None:
    """The optimum of ``h``'s model with integrality dropped: a bound on the MIP optimum
    (model units), for a solve that stopped before HiGHS had one. None if that LP is not
    solved to optimality within ``seconds``."""
    import highspy

    from .lp_copy import new_highs, run_highs

    model = h.getModel()
    model.lp_.integrality_ = []
    r = new_highs(options)
    r.setOptionValue("time_limit", float(seconds))
    r.passModel(model)
    if run_highs(r, options.get("threads")) != highspy.HighsModelStatus.kOptimal:
        return None
    return float(r.getInfo().objective_function_value)
