"""HiGHS through Pyomo's persistent interface: option profiles, one solve, status mapping.

A profile is a YAML mapping of HiGHS option names to values (plus ``description``), kept as
data in ``solvers/``. ``--time-limit``, ``--mip-gap`` and ``--threads`` override it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .constants import Status
from .errors import InputError, InputIssue, SolverError

__all__ = [
    "DirectHighs",
    "PersistentHighs",
    "SolveOutcome",
    "load_profile",
    "outcome_from_highs",
    "profile_names",
    "solver_options",
]

log = logging.getLogger(__name__)

_PACKAGED = Path(__file__).parent / "_profiles"
_SOURCE_TREE = Path(__file__).resolve().parent.parent / "solvers"


def _profile_dir() -> Path:
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE_TREE


def profile_names() -> list[str]:
    return sorted(p.stem for p in _profile_dir().glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> dict[str, Any]:
    """A profile by name (``default``, ``fast``, ``exact``, ``hard``) or by path to a YAML file."""
    from .loader import read_document

    p = Path(name_or_path)
    if p.suffix.lower() not in (".yaml", ".yml", ".json"):
        p = _profile_dir() / f"{name_or_path}.yaml"
        if not p.is_file():
            raise InputError([InputIssue(
                str(name_or_path), "solver profile", "", str(name_or_path),
                f"expected a profile name ({', '.join(profile_names())}) or a .yaml file path",
            )])
    data = read_document(p).data
    if not isinstance(data, dict):
        raise InputError([InputIssue(str(p), "solver profile", "", data,
                                     "expected a mapping of HiGHS option names to values")])
    options = {k: v for k, v in data.items() if k != "description"}
    _check_options(options, str(p))
    return options


def _check_options(options: dict[str, Any], where: str) -> None:
    import highspy
    from pyomo.common.tee import capture_output

    with capture_output(capture_fd=True):  # HiGHS prints a banner when created
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    bad = []
    for key, value in options.items():
        status = h.setOptionValue(key, value)
        if status != highspy.HighsStatus.kOk:
            bad.append(InputIssue(where, "solver profile", key, value,
                                  "expected a valid HiGHS option name and value"))
    if bad:
        raise InputError(bad)


def solver_options(profile: str | Path = "default", *, time_limit: float | None = None,
                   mip_gap: float | None = None, threads: int | None = None) -> dict[str, Any]:
    """The profile's options with command-line overrides applied."""
    options = load_profile(profile)
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    if mip_gap is not None:
        options["mip_rel_gap"] = float(mip_gap)
    if threads is not None:
        options["threads"] = int(threads)
    _check_options(options, str(profile))
    return options


@dataclass
class SolveOutcome:
    status: Status
    termination: str  # HiGHS model status, verbatim
    objective: float | None  # model units (MUSD)
    bound: float | None  # best bound, model units
    mip_gap: float | None  # relative; None for a model without integers
    solve_seconds: float  # HiGHS run time
    handoff_seconds: float  # Pyomo -> HiGHS (first solve) or update (re-solves)
    is_mip: bool
    has_solution: bool = False
    start: Any = None  # the MipStart handed to HiGHS, if any (portfolio_opt.mip_start)
    bound_source: str = "HiGHS"  # or "LP relaxation" when HiGHS stopped before a bound


_current_threads: int | None = None


def _apply_threads(threads: int | None) -> None:
    """HiGHS's thread pool is process-global: reset it when the thread count changes.

    The pool is built by the first run in the process with that run's ``threads``; a later
    run asking for another count fails ("Not Set") until the pool is reset.
    """
    global _current_threads
    import highspy

    if threads is None or threads == _current_threads:
        return
    highspy.Highs.resetGlobalScheduler(True)
    _current_threads = threads


def _reset_threads() -> None:
    global _current_threads
    import highspy

    highspy.Highs.resetGlobalScheduler(True)
    _current_threads = None


def _with_start(h: Any, zero_cols: list[int], opts: dict[str, Any], monitor: Any) -> Any:
    """Find a MIP start (portfolio_opt.mip_start) and hand it to ``h``; its run time comes
    off ``opts["time_limit"]``, so the whole solve keeps to the limit."""
    from .mip_start import find_start, pass_start

    start = find_start(h, zero_cols, opts, monitor)
    if start is None:
        return None
    if "time_limit" in opts:
        opts["time_limit"] = max(0.0, float(opts["time_limit"]) - start.seconds)
    if not pass_start(h, start):
        log.warning("HiGHS refused the MIP start")
        start.accepted = False
    return start


def _check_start(outcome: SolveOutcome, start: Any) -> SolveOutcome:
    """Record whether the solve kept (or beat) the start; its time counts as solve time."""
    if start is None:
        return outcome
    outcome.start = start
    outcome.solve_seconds += start.seconds
    if start.accepted is None:
        tol = 1e-6 * max(1.0, abs(start.objective))
        start.accepted = bool(outcome.has_solution and outcome.objective is not None
                              and outcome.objective >= start.objective - tol)
        if not start.accepted:
            log.warning("HiGHS did not keep the MIP start (objective %.6g MUSD); it ended "
                        "with %s", start.objective, outcome.termination)
    return outcome


def _bound_if_missing(outcome: SolveOutcome, h: Any, options: dict[str, Any]) -> SolveOutcome:
    """A limit that stopped HiGHS before its first bound: bound the plan by the LP
    relaxation (one LP solve, at most half the time limit and 1 to 60 s), so the plan comes
    with a gap."""
    if not (outcome.status == Status.FEASIBLE and outcome.is_mip and outcome.bound is None
            and outcome.objective is not None):
        return outcome
    import highspy

    from .mip_start import relaxation_bound

    seconds = min(60.0, max(1.0, 0.5 * float(options.get("time_limit", 60.0))))
    t0 = time.perf_counter()
    bound = relaxation_bound(h, options, seconds)
    outcome.solve_seconds += time.perf_counter() - t0
    if bound is None:
        return outcome
    obj = outcome.objective
    maximize = h.getLp().sense_ == highspy.ObjSense.kMaximize
    bound = max(bound, obj) if maximize else min(bound, obj)
    outcome.bound = bound
    outcome.mip_gap = abs(bound - obj) / max(1.0, abs(obj))
    outcome.bound_source = "LP relaxation"
    return outcome


def _run_watched(h: Any, opts: dict[str, Any], monitor: Any, start: Any) -> float:
    """Run ``h`` (options already set) under ``monitor``; HiGHS run seconds.

    HiGHS 1.16 can hand back the MIP start itself as its solution while reporting a better
    objective (seen when presolve maps the start into its reduced space: the incumbent's
    objective is the reduced point's, but the original-space solution is never replaced).
    Then the returned plan is not the reported one: solve again without the start, for
    the rest of the time limit (at least as long as the first run took).
    """
    import highspy

    def once() -> float:
        before = float(h.getRunTime())
        with _watched(monitor, h):
            h.run()
            if h.getModelStatus() == highspy.HighsModelStatus.kNotset:
                _reset_threads()
                _apply_threads(opts.get("threads"))
                h.run()
        return float(h.getRunTime()) - before

    run = once()
    if start is None or not _start_handed_back(h):
        return run
    log.info("HiGHS returned the MIP start (objective %.6g MUSD) as its solution while "
             "reporting %.6g MUSD; solving again without the start", start.objective,
             float(h.getInfo().objective_function_value))
    start.accepted = False
    h.clearSolver()  # drops the start with the rest of the solution
    if "time_limit" in opts:
        h.setOptionValue("time_limit", max(float(opts["time_limit"]) - run, run))
    return run + once()


def _start_handed_back(h: Any) -> bool:
    """The solution HiGHS returns does not have the objective it reports."""
    import numpy as np

    info = h.getInfo()
    if info.primal_solution_status != 2:
        return False
    lp = h.getLp()
    x = np.asarray(h.getSolution().col_value, dtype=float)
    value = float(np.dot(np.asarray(lp.col_cost_, dtype=float), x) + lp.offset_)
    reported = float(info.objective_function_value)
    return abs(value - reported) > 1e-6 * max(1.0, abs(reported))


@contextmanager
def _watched(monitor: Any, h: Any, phase: str = "solve") -> Iterator[None]:
    if monitor is None:
        yield
    else:
        with monitor.attached(h, phase):
            yield


class PersistentHighs:
    """A Pyomo model held in one HiGHS instance; re-solves after changes are incremental."""

    def __init__(self, model: Any, *, fixed_structure: bool = False) -> None:
        """``fixed_structure=True`` promises that between solves only mutable Params change
        (no constraint, variable, bound or fixing changes): re-solves then skip Pyomo's scan
        of the whole model for structural changes and only push the changed coefficients.
        """
        from pyomo.contrib.solver.solvers.highs import Highs

        self.model = model
        self.solver = Highs()
        if not self.solver.available():
            raise SolverError("HiGHS (highspy) is not available in this environment")
        if fixed_structure:
            updates = self.solver.config.auto_updates
            for flag in ("check_for_new_or_removed_constraints",
                         "check_for_new_or_removed_vars", "check_for_new_or_removed_params",
                         "check_for_new_objective", "update_constraints", "update_vars",
                         "update_named_expressions", "update_objective"):
                setattr(updates, flag, False)
        t0 = time.perf_counter()
        self.solver.set_instance(model)
        self.handoff_seconds = time.perf_counter() - t0
        self._first = True

    @property
    def highs(self) -> Any:
        return self.solver._solver_model

    @property
    def version(self) -> str:
        return ".".join(str(v) for v in self.solver.version())

    def _run(self, opts: dict[str, Any]) -> Any:
        try:
            return self.solver.solve(
                self.model,
                load_solutions=False,
                raise_exception_on_nonoptimal_result=False,
                solver_options=opts,
            )
        except Exception as exc:  # HiGHS or the interface failed: never silent
            log.exception("HiGHS solve failed")
            raise SolverError(f"HiGHS failed: {exc}") from exc

    def solve(self, options: dict[str, Any], monitor: Any = None,
              mip_start: bool = False) -> SolveOutcome:
        """One run. ``monitor`` (a :class:`~portfolio_opt.monitor.SolveMonitor`) watches it
        and stops it on Ctrl-C; ``mip_start=True`` first hands HiGHS a feasible plan."""
        with nullcontext() if monitor is None else monitor.sigint():
            return self._solve(options, monitor, mip_start)

    def _solve(self, options: dict[str, Any], monitor: Any, mip_start: bool) -> SolveOutcome:
        import highspy

        opts = dict(options)
        _apply_threads(opts.get("threads"))
        opts.setdefault("output_flag", False)
        h = self.highs
        if monitor is not None or mip_start:
            return self._solve_watched(opts, monitor, mip_start)
        t0 = time.perf_counter()
        before = float(h.getRunTime())  # HiGHS's run time adds up over runs
        results = self._run(opts)
        if h.getModelStatus() == highspy.HighsModelStatus.kNotset:
            # Another HiGHS user in this process built the thread pool with another count.
            _reset_threads()
            _apply_threads(opts.get("threads"))
            results = self._run(opts)
        wall = time.perf_counter() - t0
        run = float(h.getRunTime()) - before
        handoff = self.handoff_seconds if self._first else max(0.0, wall - run)
        self._first = False
        outcome = outcome_from_highs(h, handoff, run)
        if outcome.has_solution:
            results.solution_loader.load_vars()
        return outcome

    def _solve_watched(self, opts: dict[str, Any], monitor: Any,
                       mip_start: bool) -> SolveOutcome:
        """Run the HiGHS instance directly, not through Pyomo's ``solve``: that one captures
        the process's stdout and stderr (so no live status or log line would get out) and
        its update step discards a MIP start handed to HiGHS."""

        h = self.highs
        t0 = time.perf_counter()
        self.solver.update()  # push any change made since the hand-off
        columns = self.solver._pyomo_var_to_solver_var_map
        start = None
        if mip_start:
            from .mip_start import restricted_columns

            start = _with_start(h, restricted_columns(self.model, lambda v: columns.get(id(v))),
                                opts, monitor)
        for key, value in opts.items():
            h.setOptionValue(key, value)
        run = _run_watched(h, opts, monitor, start)
        wall = time.perf_counter() - t0 - (start.seconds if start is not None else 0.0)
        handoff = self.handoff_seconds if self._first else max(0.0, wall - run)
        self._first = False
        outcome = _check_start(outcome_from_highs(h, handoff, run), start)
        if outcome.has_solution:
            values = h.getSolution().col_value
            _bound_if_missing(outcome, h, opts)
            pyomo_vars = self.solver._vars
            for v_id, j in columns.items():
                pyomo_vars[v_id][0].set_value(values[j], skip_validation=True)
        return outcome


def outcome_from_highs(h: Any, handoff: float, run: float) -> SolveOutcome:
    """Map a finished HiGHS run to a status, objective, bound and gap (model units)."""
    import highspy

    info = h.getInfo()
    model_status = h.getModelStatus()
    has_solution = info.primal_solution_status == 2
    is_mip = info.mip_node_count >= 0
    S = highspy.HighsModelStatus
    if model_status == S.kOptimal:
        status = Status.OPTIMAL
    elif model_status in (S.kInfeasible, S.kUnboundedOrInfeasible):
        # Every variable is bounded, so "unbounded or infeasible" means infeasible.
        status = Status.INFEASIBLE
    elif model_status == S.kInterrupt:  # a SolveMonitor asked HiGHS to stop (Ctrl-C)
        status = Status.INTERRUPTED
    elif model_status in (S.kTimeLimit, S.kIterationLimit, S.kSolutionLimit):
        status = Status.FEASIBLE if has_solution else Status.TIME_LIMIT_NO_SOLUTION
    else:
        status = Status.ERROR
    objective = float(info.objective_function_value) if has_solution else None
    bound: float | None
    if is_mip:
        bound = float(info.mip_dual_bound)
        if not math.isfinite(bound) or status == Status.INFEASIBLE:
            bound = None
    else:
        bound = objective if status == Status.OPTIMAL else None
    gap: float | None = None
    if is_mip and has_solution:
        gap = float(info.mip_gap)
        if not math.isfinite(gap) or gap >= 1e50:  # no bound yet, or objective ~ 0
            gap = None if status != Status.OPTIMAL else 0.0
    return SolveOutcome(status, h.modelStatusToString(model_status), objective, bound, gap,
                        run, handoff, is_mip, has_solution)


class DirectHighs:
    """The model compiled by Pyomo's standard-form compiler and passed to highspy directly.

    The model stays a Pyomo model: the solution is loaded back into its variables. The
    hand-off is several times faster than the persistent interface's row-by-row one, so
    single solves use this path; batches, which update parameters between re-solves, use
    :class:`PersistentHighs`. Fixing or unfixing variables afterwards needs a new instance.
    ``keep_lp=True`` keeps the compiled LP and its rows (:attr:`compiled`) for the
    fixed-integer LP of marginal values, which then needs no second compile.
    """

    def __init__(self, model: Any, keep_lp: bool = False) -> None:
        import highspy
        from pyomo.common.tee import capture_output

        from .lp_copy import compile_lp

        self.model = model
        t0 = time.perf_counter()
        lp, index = compile_lp(model, names=False, keep_rows=keep_lp)
        self.columns = index.columns
        self.compiled = (lp, index) if keep_lp else None
        with capture_output(capture_fd=True):  # HiGHS prints a banner when created
            self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        status = self.highs.passModel(lp)
        if status == highspy.HighsStatus.kError:
            raise SolverError("HiGHS refused the compiled model")
        self.handoff_seconds = time.perf_counter() - t0

    @property
    def version(self) -> str:
        h = self.highs
        return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"

    def solve(self, options: dict[str, Any], monitor: Any = None,
              mip_start: bool = False) -> SolveOutcome:
        """As :meth:`PersistentHighs.solve`."""
        with nullcontext() if monitor is None else monitor.sigint():
            return self._solve(options, monitor, mip_start)

    def _solve(self, options: dict[str, Any], monitor: Any, mip_start: bool) -> SolveOutcome:

        opts = dict(options)
        _apply_threads(opts.get("threads"))
        opts.setdefault("output_flag", False)
        h = self.highs
        start = None
        if mip_start:
            from .mip_start import restricted_columns

            columns = {id(v): j for j, v in enumerate(self.columns)}
            start = _with_start(h, restricted_columns(self.model, lambda v: columns.get(id(v))),
                                opts, monitor)
        for key, value in opts.items():
            h.setOptionValue(key, value)
        run = _run_watched(h, opts, monitor, start)
        outcome = _check_start(outcome_from_highs(h, self.handoff_seconds, run), start)
        if mip_start or monitor is not None:
            _bound_if_missing(outcome, h, options)
        if outcome.has_solution:
            values = h.getSolution().col_value
            for var, x in zip(self.columns, values, strict=True):
                var.set_value(x, skip_validation=True)
        return outcome
