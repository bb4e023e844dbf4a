"""LP copies of a solved Pyomo model in fresh HiGHS instances, for duals and IIS.

The model is compiled with Pyomo's standard-form compiler on its own, independently of the
engine that solved it (persistent or direct), so the solved model is only read: the
fixed-integer LP behind marginal values and the LP relaxation behind the IIS are built
here, each with a map from HiGHS rows and columns back to Pyomo names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["FixedLp", "LpIndex", "compile_lp", "new_highs", "run_highs", "solve_fixed_lp",
           "standard_form_compiler"]

from .lp_compile import compile_standard_form, import_sparse

log = logging.getLogger(__name__)

# FixedLp.objective_after reads a step off the optimal basis where lp_step certifies it;
# False re-solves every step (tests/test_marginal_steps.py compares the two).
CERTIFY_STEPS = True


def standard_form_compiler() -> Any:
    """Pyomo's ``LinearStandardFormCompiler``, ``scipy.sparse`` imported the short way
    (:func:`portfolio_opt.lp_compile.import_sparse`): all the compiler builds is
    ``csr_array``/``csc_array``."""
    import_sparse()
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    return LinearStandardFormCompiler()


@dataclass
class LpIndex:
    """Rows and columns of a compiled LP, by Pyomo component name and index."""

    rows: dict[tuple[str, Any], int]
    cols: dict[tuple[str, Any], int]
    row_key: list[tuple[str, Any]]
    col_key: list[tuple[str, Any]]
    columns: list[Any]  # Pyomo VarData per column
    constraints: list[Any] | None = None  # Pyomo ConstraintData per row, names not yet made

    def named(self) -> LpIndex:
        """This index with its name maps (made from ``constraints`` if not made yet)."""
        if self.row_key or self.constraints is None:
            return self
        row_key = [(c.parent_component().local_name, c.index()) for c in self.constraints]
        col_key = [(v.parent_component().local_name, v.index()) for v in self.columns]
        return LpIndex({k: i for i, k in enumerate(row_key)},
                       {k: j for j, k in enumerate(col_key)}, row_key, col_key, self.columns)


def compile_lp(model: Any, *, names: bool = True,
               keep_rows: bool = False) -> tuple[Any, LpIndex]:
    """The Pyomo model as a ``highspy.HighsLp`` (integrality kept) and its name index
    (``names=False`` leaves the name maps empty: the solve path needs only the columns;
    ``keep_rows`` keeps each row's constraint so that :meth:`LpIndex.named` can make them
    later, for marginal values after a direct hand-off).

    Compiled with Pyomo's standard-form compiler (with the short path for flat rows of
    :mod:`portfolio_opt.lp_compile`), independently of the engine that solved
    the model, so the solved model is only read. Fixed variables (committed contracts'
    ``accept``) are constants, as in every solve. Raises Pyomo's
    ``InfeasibleConstraintException`` when fixed values alone break a constraint.
    """
    import highspy
    import numpy as np

    info = compile_standard_form(model, mixed_form=True, set_sense=None)
    inf = highspy.kHighsInf
    n_col = len(info.columns)
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = len(info.rows)
    maximize = bool(info.objectives) and info.objectives[0].sense == -1
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.offset_ = float(info.c_offset[0]) if len(info.c_offset) else 0.0
    cost = np.zeros(n_col)
    if info.c.shape[0]:
        cost[:] = info.c.toarray()[0]
    lp.col_cost_ = cost
    lower, upper = np.empty(n_col), np.empty(n_col)
    integer, continuous = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
    kinds = []
    for j, var in enumerate(info.columns):
        lb, ub = var.bounds
        lower[j] = -inf if lb is None else lb
        upper[j] = inf if ub is None else ub
        kinds.append(integer if var.is_integer() or var.is_binary() else continuous)
    lp.col_lower_, lp.col_upper_ = lower, upper
    rhs = np.asarray(info.rhs, dtype=float)
    bound = np.array([r.bound_type for r in info.rows], dtype=int)  # -1 >=, 0 ==, 1 <=
    lp.row_lower_ = np.where(bound <= 0, rhs, -inf)
    lp.row_upper_ = np.where(bound >= 0, rhs, inf)
    a = info.A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    lp.integrality_ = kinds  # every column: HiGHS reads a short vector as garbage
    row_key = [(r.constraint.parent_component().local_name, r.constraint.index())
               for r in info.rows] if names else []
    col_key = [(v.parent_component().local_name, v.index())
               for v in info.columns] if names else []
    index = LpIndex({k: i for i, k in enumerate(row_key)}, {k: j for j, k in enumerate(col_key)},
                    row_key, col_key, list(info.columns),
                    [r.constraint for r in info.rows] if keep_rows and not names else None)
    return lp, index


def new_highs(options: dict[str, Any]) -> Any:
    """A fresh, silent HiGHS instance with the solve's thread count and tolerances."""
    import highspy
    from pyomo.common.tee import capture_output

    with capture_output(capture_fd=True):  # HiGHS prints a banner when created
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for key in ("threads", "primal_feasibility_tolerance", "dual_feasibility_tolerance",
                "random_seed"):
        if key in options:
            h.setOptionValue(key, options[key])
    return h


def run_highs(h: Any, threads: int | None) -> Any:
    """Run ``h``; HiGHS's thread pool is process-wide, so reuse the solver module's policy."""
    import highspy

    from .solver import _apply_threads, _reset_threads

    _apply_threads(threads)
    h.run()
    if h.getModelStatus() == highspy.HighsModelStatus.kNotset:
        _reset_threads()
        _apply_threads(threads)
        h.run()
    return h.getModelStatus()


@dataclass
class FixedLp:
    """The LP of a solved MILP with its integer columns held at their rounded values."""

    lp: Any  # highspy.HighsLp
    solution: Any  # highspy.HighsSolution
    objective: float  # model units (MUSD)
    index: LpIndex
    highs: Any = None  # the HiGHS instance holding the solved LP, for warm re-solves
    threads: int | None = None
    bounds: Any = None  # (row_lower, row_upper, col_lower, col_upper) as numpy arrays
    steps: Any = None  # lp_step.BasisStep: the optimal basis, duals and point, kept

    def objective_after(self, rows: dict[int, float], cols: dict[int, float]) -> float | None:
        """The optimum with row limits and column upper bounds moved, then put back.

        ``rows[i]`` moves row i's limit outwards by that much (the upper side of a ``<=``
        row, the lower side of a ``>=`` row, written as ``<=`` negated); ``cols[j]`` moves
        column j's upper bound. Read off the optimal basis where that is certified
        (:mod:`portfolio_opt.lp_step`), else re-solved warm from the optimal basis. None if
        not optimal.
        """
        import highspy

        h = self.highs
        if CERTIFY_STEPS:
            value = self.steps.objective_after(rows, cols)
            if value is not None:
                return value
        row_lower, row_upper, col_lower, col_upper = self.bounds
        changed_rows = []
        for i, step in rows.items():
            lo, up = float(row_lower[i]), float(row_upper[i])
            changed_rows.append((i, lo, up))
            if up < highspy.kHighsInf:
                h.changeRowBounds(i, lo, up + step)
            else:
                h.changeRowBounds(i, lo - step, up)
        changed_cols = []
        for j, step in cols.items():
            lo, up = float(col_lower[j]), float(col_upper[j])
            changed_cols.append((j, lo, up))
            h.changeColBounds(j, lo, up + step)
        status = run_highs(h, self.threads)
        value = (float(h.getInfo().objective_function_value)
                 if status == highspy.HighsModelStatus.kOptimal else None)
        for i, lo, up in changed_rows:
            h.changeRowBounds(i, lo, up)
        for j, lo, up in changed_cols:
            h.changeColBounds(j, lo, up)
        self.restore()
        return value

    def restore(self) -> None:
        """Back to the optimal basis (and its factors) after a re-solve of a changed LP,
        the bounds already put back: the next step is read off or warm-started from it."""
        h = self.highs
        if h.getInfo().simplex_iteration_count != 0:
            h.setBasis(self.steps.basis)
            run_highs(h, self.threads)


def solve_fixed_lp(model: Any, options: dict[str, Any],
                   compiled: tuple[Any, LpIndex] | None = None) -> FixedLp | None:
    """Solve the LP of ``model`` with its integers held at their (rounded) solved values.

    ``compiled`` is the model's own compile (``compile_lp(model, names=False,
    keep_rows=True)``, kept by a direct hand-off) to use instead of compiling it again; it
    is consumed. None, with a logged warning, when that LP is not solved to optimality with
    duals.
    """
    import highspy
    import numpy as np

    if compiled is None:
        lp, index = compile_lp(model)
    else:
        lp, index = compiled[0], compiled[1].named()
    lower, upper = list(lp.col_lower_), list(lp.col_upper_)
    continuous = highspy.HighsVarType.kContinuous
    for j, kind in enumerate(lp.integrality_):
        if kind != continuous:
            value = index.columns[j].value
            lower[j] = upper[j] = float(round(value if value is not None else 0.0))
    lp.col_lower_, lp.col_upper_ = lower, upper
    lp.integrality_ = [continuous] * lp.num_col_
    h = new_highs(options)
    h.setOptionValue("solver", "simplex")  # a vertex: basic duals, not an interior point
    h.passModel(lp)
    status = run_highs(h, options.get("threads"))
    if status != highspy.HighsModelStatus.kOptimal:
        log.warning("fixed-integer LP ended with %s; no marginal values",
                    h.modelStatusToString(status))
        return None
    solution = h.getSolution()
    if not solution.dual_valid:
        log.warning("fixed-integer LP has no valid duals; no marginal values")
        return None
    row_lower, row_upper, col_lower, col_upper = (
        np.asarray(x, dtype=float)
        for x in (lp.row_lower_, lp.row_upper_, lp.col_lower_, lp.col_upper_))
    bounds = (row_lower, row_upper, col_lower, col_upper)
    from .lp_step import BasisStep

    objective = float(h.getInfo().objective_function_value)
    return FixedLp(lp, solution, objective, index, h, options.get("threads"), bounds,
                   BasisStep(h, lp, objective, bounds))
