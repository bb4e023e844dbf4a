"""The optimum of a solved LP after a few bounds move, read off its optimal basis when the
basis stays optimal, with a certificate; otherwise nothing (the caller re-solves).

A bound step moves the nonbasic rows and columns that sit on that bound by the step; the
basic columns follow by one solve with the basis matrix (``Highs.getBasisSolve``). If the
moved point x' is within every bound, it is a basic solution of the same basis, and
the optimal duals y of the LP stay feasible for the dual (bounds do not enter dual
feasibility). Weak duality then bounds the new optimum from above by the dual objective of
y under the new bounds, and x' from below; where the two meet (to 1e-7 MUSD plus 1e-10
relative) c x' is the new optimum. The dual objective's change is counted without relying
on HiGHS's sign convention for duals:

- y belongs to the bound its row or column sits on (the basis status says which): a step
  of that bound changes the dual objective by |y| step, a step of the other bound (or of a
  basic one) leaves it;
- at a fixed row or column (lower = upper) the status does not tell the side: a relaxation
  counts at most |y| step, a tightening with y != 0 is not certified.

Nothing is assumed about the sign of the basis solve either: both signs are tried and only
a point within every bound and meeting the bound counts. So a wrong guess costs a re-solve,
never a wrong number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BasisStep"]

_LOWER, _UPPER = 0, 2  # highspy.HighsBasisStatus values (1 is basic)
_OK = 0  # highspy.HighsStatus.kOk
_FEAS_TOL = 1e-7  # HiGHS's default primal feasibility tolerance
_OBJ_TOL = 1e-7  # model units (MUSD)


class BasisStep:
    """Certified optima after bound steps of an LP solved to optimality in ``highs``."""

    def __init__(self, highs: Any, lp: Any, objective: float,
                 bounds: tuple[Any, Any, Any, Any]) -> None:
        from .lp_compile import import_sparse

        sp = import_sparse()  # without Pyomo's scipy finishing step, whatever came first

        self.highs = highs
        self.objective = objective
        sol = highs.getSolution()
        self.basis = basis = highs.getBasis()  # the optimal basis steps are read from
        self.x = np.asarray(sol.col_value, dtype=float)
        self.row_dual = np.abs(np.asarray(sol.row_dual, dtype=float))
        self.col_dual = np.abs(np.asarray(sol.col_dual, dtype=float))
        self.row_status = np.fromiter(map(int, basis.row_status), dtype=np.int8)
        self.col_status = np.fromiter(map(int, basis.col_status), dtype=np.int8)
        basic = np.asarray(highs.getBasicVariables()[1], dtype=np.int64)
        self.basic_at = np.nonzero(basic >= 0)[0]  # basis positions holding a column
        self.basic_cols = basic[self.basic_at]
        a = lp.a_matrix_
        self.a = sp.csc_matrix((np.asarray(a.value_, dtype=float), np.asarray(a.index_),
                                np.asarray(a.start_)), shape=(lp.num_row_, lp.num_col_))
        self.sign = 1.0  # the sign of the basis solve that last gave a point within bounds
        self.cost = np.asarray(lp.col_cost_, dtype=float)
        self.offset = float(lp.offset_)
        self.row_lower, self.row_upper, self.col_lower, self.col_upper = bounds

    def objective_after(self, rows: dict[int, float], cols: dict[int, float]) -> float | None:
        """The new optimum when certified, else None. ``rows``/``cols`` as
        :meth:`portfolio_opt.lp_copy.FixedLp.objective_after` takes them."""
        rl, ru, cl, cu = self.row_lower, self.row_upper, self.col_lower, self.col_upper
        bound = self.objective
        rhs = np.zeros(len(rl))
        moved_cols: dict[int, float] = {}
        new_rows: dict[int, tuple[float, float]] = {}
        new_cols: dict[int, float] = {}
        for i, step in rows.items():
            upper = bool(ru[i] < np.inf)
            lo, up = float(rl[i]), float(ru[i])
            new_rows[i] = (lo, up + step) if upper else (lo - step, up)
            on_bound = self.row_status[i] == (_UPPER if upper else _LOWER)
            change = self._bound_change(step, self.row_dual[i], on_bound, lo == up)
            if change is None:
                return None
            bound += change
            if on_bound:  # the row's activity follows its bound
                rhs[i] = step if upper else -step
        for j, step in cols.items():
            new_cols[j] = float(cu[j]) + step
            on_bound = self.col_status[j] == _UPPER
            change = self._bound_change(step, self.col_dual[j], on_bound,
                                        float(cl[j]) == float(cu[j]))
            if change is None:
                return None
            bound += change
            if on_bound:
                moved_cols[j] = step
        a = self.a
        for j, step in moved_cols.items():
            at = slice(a.indptr[j], a.indptr[j + 1])
            rhs[a.indices[at]] -= a.data[at] * step
        if not rhs.any():
            z = None
        else:
            status, solved = self.highs.getBasisSolve(rhs)
            if int(status) != _OK:
                return None
            z = np.asarray(solved, dtype=float)[self.basic_at]
        for sign in (self.sign, -self.sign):
            x = self.x.copy()
            for j, step in moved_cols.items():
                x[j] += step
            if z is not None:
                x[self.basic_cols] += sign * z
            value = self._certified(x, new_rows, new_cols, bound)
            if value is not None or z is None:
                if value is not None:
                    self.sign = sign
                return value
        return None

    @staticmethod
    def _bound_change(step: float, dual: float, on_bound: bool, fixed: bool) -> float | None:
        """The most the dual objective of y can change by; None when it cannot be told.

        y belongs to the bound its row or column sits on (complementary slackness): a step
        of the other bound leaves the dual objective as it is. At a fixed one the status
        does not say which side y is on: a relaxation then counts |y| step, a tightening
        is not certified."""
        if fixed:
            if step > 0:
                return dual * step
            return None if dual > 0 else 0.0
        return dual * step if on_bound else 0.0

    def _certified(self, x: np.ndarray, new_rows: dict[int, tuple[float, float]],
                   new_cols: dict[int, float], bound: float) -> float | None:
        cl, cu = self.col_lower, self.col_upper.copy()
        for j, up in new_cols.items():
            cu[j] = up
        if (x < cl - _FEAS_TOL).any() or (x > cu + _FEAS_TOL).any():
            return None
        rl, ru = self.row_lower.copy(), self.row_upper.copy()
        for i, (lo, up) in new_rows.items():
            rl[i], ru[i] = lo, up
        act = self.a @ x
        if (act < rl - _FEAS_TOL).any() or (act > ru + _FEAS_TOL).any():
            return None
        value = float(self.cost @ x) + self.offset
        if abs(value - bound) > _OBJ_TOL + 1e-10 * abs(bound):
            return None
        return value
