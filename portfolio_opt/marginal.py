"""Marginal values: d NPV / d(one unit of an instance number), from the fixed-integer LP.

After the MILP, every integer column is held at its rounded value in an LP copy of the
model (:mod:`portfolio_opt.lp_copy`), solved in a fresh HiGHS instance; its duals and
reduced costs become USD of NPV per MW, per USD or per IT MW of the instance's limits
(docs/marginal_values.md). The solved Pyomo model and its engine are only read.

A limit can sit in several places of the model (site capacity bounds both the envelope
row and, through the envelope, the hashing bound), so each marginal value is the sum over
every row and bound it moves: sum_i dual_i * d(rhs_i)/d(limit). Those moves are recorded,
so that the same limit can also be raised by one whole unit and the LP re-solved: the
``value_next_unit_usd`` column, exact where a degenerate LP's dual is only one of several.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .constants import MARGINAL_COLUMNS
from .lp_copy import FixedLp, solve_fixed_lp
from .model.data import MONEY_SCALE, ModelData

__all__ = ["marginal_table", "marginal_values"]

log = logging.getLogger(__name__)

_ZERO = 1e-10  # model units (MUSD per unit): 1e-4 USD
_AT_BOUND = 1e-7
# Re-solves for value_next_unit_usd (binding limits only); beyond this many, NaN.
MAX_NEXT_UNIT_SOLVES = 400


# ------------------------------------------------------------------ reading duals


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


def _site_rows(d: ModelData, sl: _Slopes) -> Iterator[_Row]:
    envelope = set(d.btc_sites) | set(d.hall_sites)
    for s, site in d.sites.items():
        if s not in envelope:
            continue
        room_bound, fleet_bound = math.inf, math.inf
        if s in d.btc_sites:
            b = d.btc(s)
            room = site.capacity_mw - (site.ai.existing_it_mw * site.ai.pue if site.ai else 0.0)
            room_bound = room / b.pue
            fleet_bound = b.fleet_mw + (b.expansion.max_mw if b.expansion else 0.0)

        def slope(t: int, s: str = s, rb: float = room_bound, fb: float = fleet_bound) -> Any:
            value, binding = sl.row("site_envelope", (s, t))
            if rb < fb - 1e-9:  # the hashing bound is the envelope's: it moves with capacity
                ub, at = sl.upper("btc_mw", (s, t), 1.0 / d.btc(s).pue)
                value += ub
                binding = binding or at
            return value * MONEY_SCALE, binding

        yield from _per_period(sl, "site_capacity", s, "MW", site.capacity_mw, d.periods,
                               slope, "capacity_mw")


def _fleet_rows(d: ModelData, sl: _Slopes) -> Iterator[_Row]:
    for s in d.btc_sites:
        b = d.btc(s)
        site = d.sites[s]
        room = site.capacity_mw - (site.ai.existing_it_mw * site.ai.pue if site.ai else 0.0)
        fleet_bound = b.fleet_mw + (b.expansion.max_mw if b.expansion else 0.0)

        def slope(t: int, s: str = s, moves: bool = fleet_bound < room / b.pue - 1e-9) -> Any:
            value, binding = sl.row("btc_fleet", (s, t))
            if moves:  # the hashing bound is fleet + expansion: it moves with fleet_mw
                ub, at = sl.upper("btc_mw", (s, t))
                value += ub
                binding = binding or at
            return value * MONEY_SCALE, binding

        yield from _per_period(sl, "btc_fleet", s, "MW", b.fleet_mw, d.periods, slope,
                               "btc.fleet_mw (ASICs)")


def _bound_rows(sl: _Slopes, kind: str, var: str, entities: list[tuple[str, Any, Any]],
                d: ModelData, what: str) -> Iterator[_Row]:
    for entity, key, limit in entities:
        def slope(t: int, key: Any = key) -> Any:
            value, binding = sl.upper(var, (key, t))
            return value * MONEY_SCALE, binding

        yield from _per_period(sl, kind, entity, "MW", limit, d.periods, slope, what)


def _link_rows(d: ModelData, sl: _Slopes) -> Iterator[_Row]:
    by_link: dict[str, list[_Row]] = {}
    for a, arc in enumerate(d.arcs):
        def slope(t: int, a: int = a) -> Any:
            value, binding = sl.upper("flow_mw", (a, t))
            return value * MONEY_SCALE, binding

        rows = list(_per_period(sl, "link_capacity", arc.link, "MW", arc.capacity_mw,
                                d.periods, slope, f"capacity_mw from {arc.tail} to {arc.head}",
                                direction=f"{arc.tail}->{arc.head}"))
        by_link.setdefault(arc.link, []).append(rows[-1])
        yield from rows
    for link, totals in by_link.items():
        yield _Row("link_capacity", link, "", None, sum(r.value for r in totals), "MW",
                   any(r.binding for r in totals), totals[0].limit,
                   "1 more MW of capacity_mw in every period, every direction of the link",
                   _merge(totals))


def _budget_rows(d: ModelData, sl: _Slopes) -> Iterator[_Row]:
    lim = d.instance.limits
    if lim.capex_budget_usd is not None:
        value, binding = sl.row("capex_budget", None)
        yield _Row("capex_budget", "limits", "", None, value, "USD", binding,
                   lim.capex_budget_usd, "1 more USD of limits.capex_budget_usd (NPV USD per USD)",
                   sl.take())
    if lim.capex_budget_usd_per_period is not None:
        budgets = d.instance.series(lim.capex_budget_usd_per_period)
        for t, limit in zip(d.periods, budgets, strict=True):
            value, binding = sl.row("capex_budget_period", t)
            yield _Row("capex_budget_period", "limits", "", t, value, "USD", binding, limit,
                       f"1 more USD of limits.capex_budget_usd_per_period in period {t}",
                       sl.take())


def _contract_rows(d: ModelData, m: Any, sl: _Slopes) -> Iterator[_Row]:
    uses = set(d.uses_contracts)
    for c, con in d.contracts.items():
        accepted = round(_value(m.accept[c]))
        used = {s: round(_value(m.uses[c, s])) if c in uses else 1 for s in d.eligible[c]}
        top, binding = sl.upper("it_mw", c)
        row, at = sl.row("contract_max", c, accepted)
        value, binding = top + row, binding or at
        for s in d.eligible[c]:
            # U_cs = min(it_mw.max, most IT MW at s) moves with it_mw.max only when smaller.
            if not (d.formulation.data_bounds and con.it_mw.max < d.available_upper(s) - 1e-9):
                continue
            for t in d.active[c]:
                ub, at = sl.upper("serve", (c, s, t))
                value, binding = value + ub, binding or at
                if c in uses:
                    u, at = sl.row("contract_site_use", (c, s, t), used[s])
                    value, binding = value + u, binding or at
        state = "committed" if con.committed else ("accepted" if accepted else "not accepted")
        held = "" if accepted else "; the plan does not accept it (held fixed): 0"
        yield _Row("contract_it_mw_max", c, "", None, value * MONEY_SCALE, "IT MW",
                   binding and bool(accepted), con.it_mw.max,
                   f"1 more IT MW of it_mw.max ({state}){held}", sl.take())
        value, binding = sl.row("contract_min", c, -accepted)
        for s in d.eligible[c]:
            for t in d.active[c] if c in uses else ():
                f, at = sl.row("contract_site_floor", (c, s, t), -used[s])
                value, binding = value + f, binding or at
        yield _Row("contract_it_mw_min", c, "", None, value * MONEY_SCALE, "IT MW",
                   binding and bool(accepted), con.it_mw.min,
                   f"1 more IT MW of it_mw.min ({state}){held}", sl.take())


def _hall_rows(d: ModelData, m: Any, sl: _Slopes) -> Iterator[_Row]:
    for s in d.hall_sites:
        started = {t: round(_value(m.halls[s, t])) for t in d.periods}
        full = sum(started.values()) >= d.hall_max[s]
        for t in d.periods:
            rc = sl.reduced("halls", (s, t))
            if rc is None:
                continue
            note = (f"one more hall started in period {t} ({started[t]} in the plan), other "
                    "integer choices held: a linear estimate of a whole block")
            if full:
                note += (f"; the site already has its most halls ({d.hall_max[s]}): this is "
                         "what that limit holds back")
            yield _Row("ai_halls", s, "", t, rc * MONEY_SCALE, "hall", False,
                       float(started[t]), note)


def _value(var: Any) -> float:
    v = var.value
    return 0.0 if v is None else float(v)


def _next_units(rows: list[_Row], fixed: FixedLp) -> None:
    """value_next_unit_usd: raise each binding limit by one whole unit and re-solve.

    For the rows that stand for a number of the instance: the totals (empty period) and
    the per-period budgets; per-period rows of the other kinds are left empty (each would
    be one more re-solve, twelve times as many). One unit is 1 MW or 1 IT MW, and
    1,000,000 USD for budgets (reported per USD). A limit with room left gains nothing (0);
    at most MAX_NEXT_UNIT_SOLVES binding ones are re-solved; an infeasible step (e.g.
    it_mw.min above it_mw.max) gives NaN.
    """
    budget = MAX_NEXT_UNIT_SOLVES
    order = [r for r in rows if r.period is None or r.kind == "capex_budget_period"]
    for r in order:
        if not r.binding:
            r.next_unit = 0.0
            continue
        if budget <= 0 or not (r.moves[0] or r.moves[1]):
            continue
        budget -= 1
        after = fixed.objective_after(*r.moves)
        if after is not None:
            scale = 1.0 if r.unit == "USD" else MONEY_SCALE  # MUSD per MUSD, or USD per MW
            r.next_unit = (after - fixed.objective) * scale
    if budget <= 0:
        log.info("value_next_unit_usd left empty beyond %d re-solves", MAX_NEXT_UNIT_SOLVES)


def marginal_table(d: ModelData, m: Any, fixed: FixedLp) -> pd.DataFrame:
    """The marginal-value table (columns :data:`MARGINAL_COLUMNS`) from a solved fixed LP."""
    sl = _Slopes(fixed)
    rows: list[_Row] = []
    rows += _site_rows(d, sl)
    rows += _bound_rows(sl, "grid_capacity", "grid_mw",
                        [(s, s, d.sites[s].grid.capacity_mw)  # type: ignore[union-attr]
                         for s in d.grid_price], d, "grid.capacity_mw")
    rows += _link_rows(d, sl)
    for r in d.sources:
        def slope(t: int, r: str = r) -> Any:
            value, binding = sl.upper("gen_mw", (r, t))
            return value * MONEY_SCALE, binding

        rows += _per_period(sl, "source_capacity", r, "MW",
                            lambda t, r=r: d.source_cap[r][t], d.periods, slope, "capacity_mw")
    rows += _fleet_rows(d, sl)
    rows += _budget_rows(d, sl)
    rows += _contract_rows(d, m, sl)
    rows += _hall_rows(d, m, sl)
    _next_units(rows, fixed)
    ypp = d.ypp
    start = d.instance.horizon.start_year
    year_dtype = "Int64" if float(ypp).is_integer() else "Float64"
    frame = pd.DataFrame({
        "kind": [r.kind for r in rows],
        "entity": [r.entity for r in rows],
        "direction": [r.direction for r in rows],
        "period": pd.array([r.period for r in rows], dtype="Int64"),
        "year": pd.Series([None if r.period is None else start + (r.period - 1) * ypp
                           for r in rows], dtype=year_dtype),
        "value_usd_per_unit": [0.0 if abs(r.value) < 1e-6 else r.value for r in rows],
        "value_next_unit_usd": [0.0 if abs(r.next_unit) < 1e-6 else r.next_unit
                                for r in rows],
        "unit": [r.unit for r in rows],
        "binding": [bool(r.binding) for r in rows],
        "limit": [float(r.limit) for r in rows],
        "note": [r.note for r in rows],
    })
    return frame[MARGINAL_COLUMNS]


def marginal_values(built: Any, options: dict[str, Any]) -> pd.DataFrame | None:
    """Marginal values of the plan loaded in ``built.pyomo``; None when the LP gives none.

    A failure here is logged and never costs the plan: the table is an explanation of it.
    """
    try:
        fixed = solve_fixed_lp(built.pyomo, options)
        return None if fixed is None else marginal_table(built.data, built.pyomo, fixed)
    except Exception:
        log.exception("marginal values could not be computed")
        return None
