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
from typing import Any

import pandas as pd

from .constants import MARGINAL_COLUMNS
from .lp_copy import FixedLp, solve_fixed_lp
from .marginal_deals import _debt_rows, _fixed_allocation_rows, _group_rows, _Milp
from .marginal_slopes import _merge, _per_period, _Row, _Slopes, _value
from .model.data import MONEY_SCALE, ModelData

__all__ = ["marginal_table", "marginal_values"]

log = logging.getLogger(__name__)

# Re-solves for value_next_unit_usd (binding limits only); beyond this many, NaN.
MAX_NEXT_UNIT_SOLVES = 400


# ------------------------------------------------------------------ v1 rows


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
            value, binding = sl.rows_over_blocks("site_envelope", (s, t), d.blocks)
            if rb < fb - 1e-9:  # the hashing bound is the envelope's: it moves with capacity
                ub, at = sl.uppers_over_blocks("btc_mw", (s, t), d.blocks,
                                               1.0 / d.btc(s).pue)
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
            value, binding = sl.rows_over_blocks("btc_fleet", (s, t), d.blocks)
            if moves:  # the hashing bound is fleet + expansion: it moves with fleet_mw
                ub, at = sl.uppers_over_blocks("btc_mw", (s, t), d.blocks)
                value += ub
                binding = binding or at
            return value * MONEY_SCALE, binding

        yield from _per_period(sl, "btc_fleet", s, "MW", b.fleet_mw, d.periods, slope,
                               "btc.fleet_mw (ASICs)")


def _dr_rows(d: ModelData, sl: _Slopes) -> Iterator[_Row]:
    """dr_capacity: one more MW of btc.demand_response.max_mw (spec v2 C).

    max_mw is the upper bound of dr_mw[s,t,b] in every block, so its value in period t is
    the sum over blocks of that bound's reduced cost: credit × ypp × h_b (discounted) for
    each block where the cap binds rather than btc.pue × btc_mw, 0 where it does not.
    """
    limits: list[tuple[str, Any, Any]] = []
    for s in d.dr_sites:
        dr = d.btc(s).demand_response
        assert dr is not None
        limits.append((s, s, dr.max_mw))
    yield from _bound_rows(sl, "dr_capacity", "dr_mw", limits, d,
                           "btc.demand_response.max_mw (gross MW)")


def _bound_rows(sl: _Slopes, kind: str, var: str, entities: list[tuple[str, Any, Any]],
                d: ModelData, what: str) -> Iterator[_Row]:
    for entity, key, limit in entities:
        def slope(t: int, key: Any = key) -> Any:
            value, binding = sl.uppers_over_blocks(var, (key, t), d.blocks)
            return value * MONEY_SCALE, binding

        yield from _per_period(sl, kind, entity, "MW", limit, d.periods, slope, what)


def _link_rows(d: ModelData, sl: _Slopes) -> Iterator[_Row]:
    by_link: dict[str, list[_Row]] = {}
    for a, arc in enumerate(d.arcs):
        def slope(t: int, a: int = a) -> Any:
            value, binding = sl.uppers_over_blocks("flow_mw", (a, t), d.blocks)
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
                   lim.capex_budget_usd, "1 more USD of limits.capex_budget_usd (NPV USD per "
                   f"USD){_EQUITY if _nets(d) else ''}", sl.take())
    if lim.capex_budget_usd_per_period is not None:
        budgets = d.instance.series(lim.capex_budget_usd_per_period)
        for t, limit in zip(d.periods, budgets, strict=True):
            value, binding = sl.row("capex_budget_period", t)
            yield _Row("capex_budget_period", "limits", "", t, value, "USD", binding, limit,
                       f"1 more USD of limits.capex_budget_usd_per_period in period {t}"
                       f"{_EQUITY if _nets(d) else ''}", sl.take())


_EQUITY = "; the budget bounds equity: capex - tenant capex - loans"


def _nets(d: ModelData) -> bool:
    """Whether tenant contributions or loans stand between capex and the budgets."""
    return bool(d.tenant_capex_contracts or d.loans)


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
            if not (d.formulation.data_bounds and con.it_mw.max < d.serve_site_upper(s) - 1e-9):
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
    # Lifting a rule or freeing integer choices: after the cheap moves of limits.
    order.sort(key=lambda r: r.resolve is not None)
    for r in order:
        if r.kind == "fixed_allocation":
            continue  # the rule lifted, computed with the row
        if not r.binding:
            r.next_unit = 0.0
            continue
        if budget <= 0:
            continue
        if r.resolve is not None:
            budget -= 1
            gain = r.resolve()
            if gain is not None:
                r.next_unit = gain
            continue
        if not (r.moves[0] or r.moves[1]):
            continue
        budget -= 1
        after = fixed.objective_after(*r.moves)
        if after is not None:
            scale = 1.0 if r.unit == "USD" else MONEY_SCALE  # MUSD per MUSD, or USD per MW
            r.next_unit = (after - fixed.objective) * scale
    if budget <= 0:
        log.info("value_next_unit_usd left empty beyond %d re-solves", MAX_NEXT_UNIT_SOLVES)


def marginal_table(d: ModelData, m: Any, fixed: FixedLp,
                   options: dict[str, Any] | None = None,
                   solve_seconds: float | None = None) -> pd.DataFrame:
    """The marginal-value table (columns :data:`MARGINAL_COLUMNS`) from a solved fixed LP.

    ``options`` (the solve's HiGHS options) allow the MILP re-solves of ``contract_group``
    rows; without them those rows have no value. ``solve_seconds`` (how long the plan's
    solve took) limits each of those re-solves (:class:`marginal_deals._Milp`).
    """
    sl = _Slopes(fixed)
    milp = (_Milp(m, options, fixed.objective, solve_seconds)
            if options is not None and d.groups else None)
    rows: list[_Row] = []
    rows += _site_rows(d, sl)
    rows += _bound_rows(sl, "grid_capacity", "grid_mw",
                        [(s, s, d.sites[s].grid.capacity_mw)  # type: ignore[union-attr]
                         for s in d.grid_price], d, "grid.capacity_mw")
    rows += _link_rows(d, sl)
    rows += _bound_rows(sl, "source_capacity", "gen_mw",
                        [(r, r, lambda t, r=r: d.source_cap[r][t]) for r in d.sources], d,
                        "capacity_mw")
    rows += _fleet_rows(d, sl)
    rows += _dr_rows(d, sl)
    rows += _budget_rows(d, sl)
    rows += _contract_rows(d, m, sl)
    rows += _hall_rows(d, m, sl)
    rows += _group_rows(d, m, sl, milp)
    rows += _fixed_allocation_rows(d, m, sl, fixed)
    rows += _debt_rows(d, m, sl)
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


def marginal_values(built: Any, options: dict[str, Any], compiled: Any = None,
                    solve_seconds: float | None = None) -> pd.DataFrame | None:
    """Marginal values of the plan loaded in ``built.pyomo``; None when the LP gives none.

    ``compiled``: the model's LP as a direct hand-off kept it (``DirectHighs.compiled``),
    used instead of compiling the model again. ``solve_seconds``: how long the plan's own
    solve took; each ``contract_group`` MILP re-solve then stops after as long (at least
    ``GROUP_RESOLVE_MIN_SECONDS``). A failure here is logged and never costs the plan: the
    table is an explanation of it.
    """
    try:
        fixed = solve_fixed_lp(built.pyomo, options, compiled)
        if fixed is None:
            return None
        return marginal_table(built.data, built.pyomo, fixed, options, solve_seconds)
    except Exception:
        log.exception("marginal values could not be computed")
        return None
