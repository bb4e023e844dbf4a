"""The fixed-integer LP's duals read as marginal values: the slopes and the rows of the table.

:class:`_Slopes` turns the duals and reduced costs of the fixed LP (:mod:`portfolio_opt.lp_copy`)
into d objective / d(limit) by Pyomo name, recording each move so that the limit can be
raised by a whole unit and re-solved; :class:`_Row` is one row of the marginal-value table
and :func:`_per_period` the per-period rows with their total. Used by
:mod:`portfolio_opt.marginal` (v1 rows and the table) and :mod:`portfolio_opt.marginal_deals`
(spec v2 rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .lp_copy import FixedLp

_ZERO = 1e-10  # model units (MUSD per unit): 1e-4 USD
_AT_BOUND = 1e-7


# ------------------------------------------------------------------ reading duals


def _over_blocks(slope: Any, name: str, key: tuple[Any, ...], blocks: list[str],
                 coef: float) -> tuple[float, bool]:
    total, binding = 0.0, False
    for b in blocks:
        value, at = slope(name, (*key, b), coef)
        total += value
        binding = binding or at
    return total, binding


class _Slopes:
    """d objective / d(right-hand side or bound), in model units, by Pyomo name.

    Every call also records its move (row or column, coefficient) for the entry being
    computed, so that the entry can be re-solved with the limit raised (:meth:`take`).
    """

    def __init__(self, fixed: FixedLp) -> None:
        self.row_dual = list(fixed.solution.row_dual)
        self.row_value = list(fixed.solution.row_value)
        self.col_dual = list(fixed.solution.col_dual)
        self.col_value = list(fixed.solution.col_value)
        self.index = fixed.index
        self.row_lower, self.row_upper, _, self.col_upper = fixed.bounds
        self.rows: dict[int, float] = {}
        self.cols: dict[int, float] = {}

    def take(self) -> tuple[dict[int, float], dict[int, float]]:
        """The moves recorded since the last call."""
        moves = (self.rows, self.cols)
        self.rows, self.cols = {}, {}
        return moves

    def row(self, family: str, idx: Any, coef: float = 1.0) -> tuple[float, bool]:
        """coef × slope per unit of the rhs of the row written as ``body <= rhs``; binding.

        A ``>=`` row in HiGHS (finite lower side) is the ``<=`` row negated, so its slope
        changes sign. A row Pyomo did not pass (no variables left) has slope 0.
        """
        i = self.index.rows.get((family, idx))
        if i is None or coef == 0:
            return 0.0, False
        self.rows[i] = self.rows.get(i, 0.0) + coef
        dual = self.row_dual[i]
        if math.isfinite(self.row_upper[i]):
            side, slope = self.row_upper[i], dual
        else:
            side, slope = self.row_lower[i], -dual
        binding = abs(self.row_value[i] - side) <= _AT_BOUND * max(1.0, abs(side))
        return _clean(slope) * coef, binding

    def rows_over_blocks(self, family: str, key: tuple[Any, ...], blocks: list[str],
                         coef: float = 1.0) -> tuple[float, bool]:
        """:meth:`row` summed over the price blocks of a per-block family (spec v2 C): a
        limit that is the same in every block moves every block's row."""
        return _over_blocks(self.row, family, key, blocks, coef)

    def uppers_over_blocks(self, var: str, key: tuple[Any, ...], blocks: list[str],
                           coef: float = 1.0) -> tuple[float, bool]:
        """:meth:`upper` summed over the price blocks of a per-block variable."""
        return _over_blocks(self.upper, var, key, blocks, coef)

    def upper(self, var: str, idx: Any, coef: float = 1.0) -> tuple[float, bool]:
        """coef × slope per unit of the column's upper bound (0 unless at it); binding."""
        j = self.index.cols.get((var, idx))
        if j is None or coef == 0:
            return 0.0, False
        self.cols[j] = self.cols.get(j, 0.0) + coef
        ub = self.col_upper[j]
        at = abs(self.col_value[j] - ub) <= _AT_BOUND * max(1.0, abs(ub))
        dual = self.col_dual[j]
        return (_clean(dual) * coef if at and dual > 0 else 0.0), at

    def reduced(self, var: str, idx: Any) -> float | None:
        j = self.index.cols.get((var, idx))
        return None if j is None else _clean(self.col_dual[j])


def _clean(x: float) -> float:
    return 0.0 if abs(x) < _ZERO else float(x)


# ------------------------------------------------------------------ the table


@dataclass
class _Row:
    kind: str
    entity: str
    direction: str
    period: int | None
    value: float  # USD per unit
    unit: str
    binding: bool
    limit: float
    note: str
    moves: tuple[dict[int, float], dict[int, float]] = field(default_factory=lambda: ({}, {}))
    next_unit: float = math.nan
    # A re-solve other than moving limits (a rule lifted, an integer choice freed): returns
    # the NPV gained in USD, or None when it could not be computed.
    resolve: Callable[[], float | None] | None = None


def _merge(rows: list[_Row]) -> tuple[dict[int, float], dict[int, float]]:
    merged: tuple[dict[int, float], dict[int, float]] = ({}, {})
    for r in rows:
        for into, part in zip(merged, r.moves, strict=True):
            for k, v in part.items():
                into[k] = into.get(k, 0.0) + v
    return merged


def _per_period(sl: _Slopes, kind: str, entity: str, unit: str, limit: Any,
                periods: list[int], slope: Any, what: str, direction: str = ""
                ) -> Iterator[_Row]:
    """Rows per period (+1 unit in that period only) and their total (every period)."""
    rows = []
    for t in periods:
        value, binding = slope(t)
        lim = limit(t) if callable(limit) else limit
        rows.append(_Row(kind, entity, direction, t, value, unit, binding, lim,
                         f"1 more {unit} of {what} in period {t} only", sl.take()))
    lim = limit(periods[-1]) if callable(limit) else limit
    yield from rows
    yield _Row(kind, entity, direction, None, sum(r.value for r in rows), unit,
               any(r.binding for r in rows), lim, f"1 more {unit} of {what} in every period",
               _merge(rows))


def _value(var: Any) -> float:
    v = var.value
    return 0.0 if v is None else float(v)

