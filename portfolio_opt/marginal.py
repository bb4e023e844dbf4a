"""Marginal values: d NPV / d(one unit of an instance number), from the fixed-integer LP.

After the MILP, every integer column is held at its rounded value in an LP copy of the
model (:mod:`portfolio_opt.lp_copy`), solved in a fresh HiGHS instance; its duals and
reduced costs become USD of NPV per MW, per USD or per IT MW of the instance's limits
(docs/marginal_values.md). The solved Pyomo model and its engine are only read.

A limit can sit in several places of the model (site capacity bounds both the envelope
row and, through the envelope, the hashing bound), so each marginal value is the sum over
every row and bound it moves: sum_i dual_i * d(rhs_i)/d(limit).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .constants import MARGINAL_COLUMNS
from .lp_copy import FixedLp, solve_fixed_lp
from .model.data import MONEY_SCALE, ModelData

__all__ = ["marginal_table", "marginal_values"]

log = logging.getLogger(__name__)

_ZERO = 1e-10  # model units (MUSD per unit): 1e-4 USD
_AT_BOUND = 1e-7


# ------------------------------------------------------------------ reading duals


class _Slopes:
    """d objective / d(right-hand side or bound), in model units, by Pyomo name."""

    def __init__(self, fixed: FixedLp) -> None:
        self.lp = fixed.lp
        self.row_dual = list(fixed.solution.row_dual)
        self.row_value = list(fixed.solution.row_value)
        self.col_dual = list(fixed.solution.col_dual)
        self.col_value = list(fixed.solution.col_value)
        self.index = fixed.index
        self.row_lower = list(self.lp.row_lower_)
        self.row_upper = list(self.lp.row_upper_)
        self.col_upper = list(self.lp.col_upper_)

    def row(self, family: str, idx: Any) -> tuple[float, bool]:
        """Slope per unit of the rhs of the row written as ``body <= rhs``, and binding.

        A ``>=`` row in HiGHS (finite lower side) is the ``<=`` row negated, so its slope
        changes sign. A row Pyomo did not pass (no variables left) has slope 0.
        """
        i = self.index.rows.get((family, idx))
        if i is None:
            return 0.0, False
        dual = self.row_dual[i]
        if math.isfinite(self.row_upper[i]):
            side, slope = self.row_upper[i], dual
        else:
            side, slope = self.row_lower[i], -dual
        binding = abs(self.row_value[i] - side) <= _AT_BOUND * max(1.0, abs(side))
        return _clean(slope), binding

    def upper(self, var: str, idx: Any) -> tuple[float, bool]:
        """Slope per unit of the column's upper bound (0 unless it is at it), and binding."""
        j = self.index.cols.get((var, idx))
        if j is None:
            return 0.0, False
        ub = self.col_upper[j]
        at = abs(self.col_value[j] - ub) <= _AT_BOUND * max(1.0, abs(ub))
        dual = self.col_dual[j]
        return (_clean(dual) if at and dual > 0 else 0.0), at

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


def _per_period(kind: str, entity: str, unit: str, limit: Any, periods: list[int],
                slope: Any, what: str, direction: str = "") -> Iterator[_Row]:
    """Rows per period (+1 unit in that period only) and their total (every period)."""
    total, any_binding = 0.0, False
    for t in periods:
        value, binding = slope(t)
        total += value
        any_binding = any_binding or binding
        lim = limit(t) if callable(limit) else limit
        note = f"+1 {unit} of {what} in period {t} only"
        yield _Row(kind, entity, direction, t, value, unit, binding, lim, note)
    lim = limit(periods[-1]) if callable(limit) else limit
    yield _Row(kind, entity, direction, None, total, unit, any_binding, lim,
               f"+1 {unit} of {what} in every period")


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
                ub, at = sl.upper("btc_mw", (s, t))
                value += ub / d.btc(s).pue
                binding = binding or at
            return value * MONEY_SCALE, binding

        yield from _per_period("site_capacity", s, "MW", site.capacity_mw, d.periods, slope,
                               "capacity_mw")


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

        yield from _per_period("btc_fleet", s, "MW", b.fleet_mw, d.periods, slope,
                               "btc.fleet_mw (ASICs)")


def _bound_rows(kind: str, var: str, entities: list[tuple[str, Any, Any]], d: ModelData,
                sl: _Slopes, what: str) -> Iterator[_Row]:
    for entity, key, limit in entities:
        def slope(t: int, key: Any = key) -> Any:
            value, binding = sl.upper(var, (key, t))
            return value * MONEY_SCALE, binding

        yield from _per_period(kind, entity, "MW", limit, d.periods, slope, what)


def _link_rows(d: ModelData, sl: _Slopes) -> Iterator[_Row]:
    by_link: dict[str, list[_Row]] = {}
    for a, arc in enumerate(d.arcs):
        def slope(t: int, a: int = a) -> Any:
            value, binding = sl.upper("flow_mw", (a, t))
            return value * MONEY_SCALE, binding

        rows = list(_per_period("link_capacity", arc.link, "MW", arc.capacity_mw, d.periods,
                                slope, f"capacity_mw from {arc.tail} to {arc.head}",
                                direction=f"{arc.tail}->{arc.head}"))
        by_link.setdefault(arc.link, []).append(rows[-1])
        yield from rows
    for link, totals in by_link.items():
        yield _Row("link_capacity", link, "", None, sum(r.value for r in totals), "MW",
                   any(r.binding for r in totals), totals[0].limit,
                   "+1 MW of capacity_mw in every period, every direction of the link")


def _budget_rows(d: ModelData, sl: _Slopes) -> Iterator[_Row]:
    lim = d.instance.limits
    if lim.capex_budget_usd is not None:
        value, binding = sl.row("capex_budget", None)
        yield _Row("capex_budget", "limits", "", None, value, "USD", binding,
                   lim.capex_budget_usd, "+1 USD of limits.capex_budget_usd (NPV USD per USD)")
    if lim.capex_budget_usd_per_period is not None:
        budgets = d.instance.series(lim.capex_budget_usd_per_period)
        for t, limit in zip(d.periods, budgets, strict=True):
            value, binding = sl.row("capex_budget_period", t)
            yield _Row("capex_budget_period", "limits", "", t, value, "USD", binding, limit,
                       f"+1 USD of limits.capex_budget_usd_per_period in period {t}")


def _contract_rows(d: ModelData, m: Any, sl: _Slopes) -> Iterator[_Row]:
    uses = set(d.uses_contracts)
    for c, con in d.contracts.items():
        accepted = round(_value(m.accept[c]))
        top, top_binding = sl.upper("it_mw", c)
        row, row_binding = sl.row("contract_max", c)
        value, binding = row * accepted + top, top_binding or row_binding
        floor_value, floor_binding = sl.row("contract_min", c)
        floor_value *= -accepted
        for s in d.eligible[c]:
            used = round(_value(m.uses[c, s])) if c in uses else 1
            # U_cs = min(it_mw.max, most IT MW at s) moves with it_mw.max only when smaller.
            serve_cap = d.formulation.data_bounds and \
                con.it_mw.max < d.available_upper(s) - 1e-9
            for t in d.active[c]:
                if serve_cap:
                    ub, at = sl.upper("serve", (c, s, t))
                    value += ub
                    binding = binding or at
                    if c in uses:
                        u, at = sl.row("contract_site_use", (c, s, t))
                        value += u * used
                        binding = binding or at
                if c in uses:
                    f, at = sl.row("contract_site_floor", (c, s, t))
                    floor_value -= f * used
                    floor_binding = floor_binding or at
        state = "committed" if con.committed else ("accepted" if accepted else "not accepted")
        held = "" if accepted else "; the plan does not accept it (held fixed): 0"
        yield _Row("contract_it_mw_max", c, "", None, value * MONEY_SCALE, "IT MW",
                   binding and bool(accepted), con.it_mw.max,
                   f"+1 IT MW of it_mw.max ({state}){held}")
        yield _Row("contract_it_mw_min", c, "", None, floor_value * MONEY_SCALE, "IT MW",
                   floor_binding and bool(accepted), con.it_mw.min,
                   f"+1 IT MW of it_mw.min ({state}){held}")


def _hall_rows(d: ModelData, m: Any, sl: _Slopes) -> Iterator[_Row]:
    for s in d.hall_sites:
        for t in d.periods:
            rc = sl.reduced("halls", (s, t))
            if rc is None:
                continue
            started = round(_value(m.halls[s, t]))
            yield _Row("ai_halls", s, "", t, rc * MONEY_SCALE, "hall", False, float(started),
                       f"one more hall started in period {t} ({started} in the plan), other "
                       "integer choices held: a linear estimate of a whole block")


def _value(var: Any) -> float:
    v = var.value
    return 0.0 if v is None else float(v)


def marginal_table(d: ModelData, m: Any, fixed: FixedLp) -> pd.DataFrame:
    """The marginal-value table (columns :data:`MARGINAL_COLUMNS`) from a solved fixed LP."""
    sl = _Slopes(fixed)
    rows: list[_Row] = []
    rows += _site_rows(d, sl)
    rows += _bound_rows("grid_capacity", "grid_mw",
                        [(s, s, d.sites[s].grid.capacity_mw)  # type: ignore[union-attr]
                         for s in d.grid_price], d, sl, "grid.capacity_mw")
    rows += _link_rows(d, sl)
    for r in d.sources:
        def slope(t: int, r: str = r) -> Any:
            value, binding = sl.upper("gen_mw", (r, t))
            return value * MONEY_SCALE, binding

        rows += _per_period("source_capacity", r, "MW", lambda t, r=r: d.source_cap[r][t],
                            d.periods, slope, "capacity_mw")
    rows += _fleet_rows(d, sl)
    rows += _budget_rows(d, sl)
    rows += _contract_rows(d, m, sl)
    rows += _hall_rows(d, m, sl)
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
