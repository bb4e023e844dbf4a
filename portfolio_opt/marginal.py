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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .constants import MARGINAL_COLUMNS
from .lp_copy import FixedLp, compile_lp, new_highs, run_highs, solve_fixed_lp
from .model.data import MONEY_SCALE, ModelData

__all__ = ["marginal_table", "marginal_values"]

log = logging.getLogger(__name__)

_ZERO = 1e-10  # model units (MUSD per unit): 1e-4 USD
_AT_BOUND = 1e-7
# Re-solves for value_next_unit_usd (binding limits only); beyond this many, NaN.
MAX_NEXT_UNIT_SOLVES = 400


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
    for s in d.dr_sites:
        dr = d.btc(s).demand_response
        assert dr is not None

        def slope(t: int, s: str = s) -> Any:
            value, binding = sl.uppers_over_blocks("dr_mw", (s, t), d.blocks)
            return value * MONEY_SCALE, binding

        yield from _per_period(sl, "dr_capacity", s, "MW", dr.max_mw, d.periods, slope,
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


# ------------------------------------------------------------------ spec v2: deals and debt


def _ai_capex_usd(d: ModelData, m: Any, t: int) -> float:
    """AI capex started in period t in the plan (halls and first-hall charges), USD."""
    total = 0.0
    for s in d.hall_sites:
        a = d.ai(s)
        total += a.capex_usd_per_it_mw * a.block_it_mw * round(_value(m.halls[s, t]))
    for s in d.fixed_capex_sites:
        total += d.ai(s).fixed_capex_usd * round(_value(m.first_hall[s, t]))
    return total


LTC_STEP = 0.01  # debt_loan_to_cost rows: per 0.01 (one point) of max_loan_to_cost


def _debt_rows(d: ModelData, m: Any, sl: _Slopes) -> Iterator[_Row]:
    """debt_loan_to_cost (per period and total) and debt_total (spec v2 D).

    With the halls held, AI capex is a number in each period, so raising max_loan_to_cost
    by 0.01 raises the right-hand side of debt_loan_to_cost[t] by 0.01 * AI capex[t]: the
    value is that row's dual times 0.01 * AI capex[t].
    """
    if not d.loans or d.debt is None:
        return
    debt = d.debt
    capex = {t: _ai_capex_usd(d, m, t) for t in d.loans}

    def slope(t: int) -> Any:
        value, binding = sl.row("debt_loan_to_cost", t, LTC_STEP * capex[t] / MONEY_SCALE)
        return value * MONEY_SCALE, binding and capex[t] > 0

    rows = list(_per_period(sl, "debt_loan_to_cost", "debt", "0.01 LTC",
                            debt.max_loan_to_cost, list(d.loans), slope,
                            "finance.debt.max_loan_to_cost (0.01 more of the AI capex "
                            "borrowed)"))
    for r in rows:
        if r.period is not None:
            r.note += f": AI capex {capex[r.period]:,.0f} USD in the plan"
    yield from rows
    if debt.max_total_usd is not None:
        value, binding = sl.row("debt_total", None)
        yield _Row("debt_total", "debt", "", None, value, "USD", binding, debt.max_total_usd,
                   "1 more USD of finance.debt.max_total_usd (NPV USD per USD; the next unit "
                   "is 1,000,000 USD more principal allowed)", sl.take())


def _group_rows(d: ModelData, m: Any, sl: _Slopes, milp: _Milp | None) -> Iterator[_Row]:
    """contract_group: what allowing a second contract of a group is worth.

    With accept held, the group row's dual says nothing (its contracts are all fixed), so
    the value is that of the plan re-solved with every integer choice free and the group
    allowed two contracts: the NPV gained, and which contract the better plan adds.
    """
    for g, members in d.groups.items():
        taken = [c for c in members if round(_value(m.accept[c])) == 1]
        binding = len(taken) >= 1
        row = _Row("contract_group", g, "", None, 0.0, "contract", binding, 1.0, "")
        sl.take()
        names = ", ".join(f"'{c}'" for c in members)
        if not binding:
            row.note = (f"group '{g}' ({names}): no contract of the group is accepted, so "
                        "allowing a second one is worth 0")
        else:
            row.value = math.nan
            row.note = (f"group '{g}' ({names}) allows one accepted contract and the plan "
                        f"takes '{taken[0]}': accepting another structure of this offer as "
                        "well, every integer choice re-optimised")
            if milp is not None:
                row.resolve = _group_resolver(milp, g, members, row, taken,
                                              {c for c in members if d.contracts[c].committed})
            else:
                row.note += " (not re-solved)"
        yield row


def _group_resolver(milp: _Milp, g: str, members: list[str], row: _Row, taken: list[str],
                    committed: set[str]) -> Callable[[], float | None]:
    def run() -> float | None:
        out = milp.gain_with_group(g, members, committed)
        if out is None:
            row.note += "; the re-solve found no proven plan within the solve's limits"
            return None
        gain, added = out
        row.value = gain
        extra = [c for c in added if c not in taken]
        row.note += (f": worth {gain:,.0f} USD, the better plan also accepts "
                     + ", ".join(f"'{c}'" for c in extra) if extra and gain > 0 else
                     ": worth 0, no better plan accepts a second one")
        return gain
    return run


def _fixed_allocation_rows(d: ModelData, m: Any, sl: _Slopes, fixed: FixedLp
                           ) -> Iterator[_Row]:
    """fixed_allocation: what letting contract c re-split between its sites is worth.

    Row r_{s,t}: serve[c,s,t] - serve[c,s,t0] = 0. Its dual y_{s,t} is the value of one
    more IT MW at s in t relative to t0; these rows are always dependent (their sum over s
    is zero), so only differences of duals mean something. Moving 1 IT MW from s' to s
    in period t only is worth y_{s,t} - y_{s',t} (t after t0), or
    sum_{t' > t0} (y_{s',t'} - y_{s,t'}) in t0 itself. Per period: the best such move
    (from a site serving c, to a site the plan lets serve it); total: the best of them,
    and as the next unit the rule lifted for c (sites and integer choices held).
    """
    uses = set(d.uses_contracts)
    for c in d.fixed_contracts:
        accepted = round(_value(m.accept[c])) == 1
        periods = d.active[c]
        t0 = periods[0]
        dual: dict[tuple[str, int], float] = {}
        keys: list[int] = []
        for s in d.eligible[c]:
            for t in periods[1:]:
                i = sl.index.rows.get(("contract_fixed_allocation", (c, s, t)))
                if i is None:
                    continue
                keys.append(i)
                sign = _coef(fixed, i, sl.index.cols.get(("serve", (c, s, t))))
                dual[s, t] = _clean(sl.row_dual[i]) * sign
        # The rule lifted for c (integers held), re-solved now: where it gains nothing the
        # rule does not bind, and a dual difference at a kink would only be one of many.
        lifted = _lift_rows(fixed, keys)() if accepted and keys else 0.0
        binds = lifted is None or lifted > 1e-6
        served = {t: sum(_value(m.serve[c, s, t]) for s in d.eligible[c]) for t in periods}
        sites = [s for s in d.eligible[c] if c not in uses or round(_value(m.uses[c, s])) == 1]
        per: list[_Row] = []
        for t in periods[1:]:
            best, how = 0.0, ""
            for src in sites:
                for dst in sites:
                    v = (dual.get((dst, t), 0.0) - dual.get((src, t), 0.0)) * MONEY_SCALE
                    if dst != src and v > best + 1e-6:
                        best, how = v, f": 1 more at '{dst}' and 1 less at '{src}'"
            note = (f"contract '{c}' may split period {t} differently from its first period "
                    f"{t0} by 1 IT MW{how} (the plan re-optimised around it)")
            if not accepted:
                note += "; the plan does not accept it (held fixed): 0"
            best = best if accepted and binds else 0.0
            per.append(_Row("fixed_allocation", c, "", t, best, "IT MW", best > 0, served[t],
                            note))
        yield from per
        top = max(per, key=lambda r: r.value)
        binding = accepted and binds
        row = _Row("fixed_allocation", c, "", None, top.value, "IT MW", binding, top.limit,
                   f"allocation: fixed binds contract '{c}': the best single change is 1 IT "
                   f"MW in period {top.period}; value_next_unit_usd: the rule lifted for "
                   f"'{c}' (each period split freely, its sites and every integer choice "
                   "held)" if binding else
                   f"allocation: fixed of contract '{c}' costs nothing in this plan")
        row.next_unit = math.nan if lifted is None else lifted
        yield row


def _coef(fixed: FixedLp, i: int, j: int | None) -> float:
    """+1 or -1: the sign of column j in row i (1 if not found)."""
    if j is None:
        return 1.0
    a = fixed.lp.a_matrix_
    start, end = a.start_[j], a.start_[j + 1]
    for k in range(start, end):
        if a.index_[k] == i:
            return 1.0 if a.value_[k] > 0 else -1.0
    return 1.0


def _lift_rows(fixed: FixedLp, rows: list[int]) -> Callable[[], float | None]:
    """The NPV gained (USD) with ``rows`` dropped from the fixed-integer LP, then put back."""
    def run() -> float | None:
        import highspy

        h = fixed.highs
        lower, upper = fixed.bounds[0], fixed.bounds[1]
        inf = highspy.kHighsInf
        for i in rows:
            h.changeRowBounds(i, -inf, inf)
        status = run_highs(h, fixed.threads)
        after = (float(h.getInfo().objective_function_value)
                 if status == highspy.HighsModelStatus.kOptimal else None)
        for i in rows:
            h.changeRowBounds(i, float(lower[i]), float(upper[i]))
        return None if after is None else (after - fixed.objective) * MONEY_SCALE
    return run


class _Milp:
    """The MILP compiled once more (integrality kept), for re-solves with integers free."""

    def __init__(self, model: Any, options: dict[str, Any], objective: float) -> None:
        self.model = model
        self.options = options
        self.objective = objective  # the plan's NPV, model units
        self.compiled: Any = None

    def gain_with_group(self, g: str, members: list[str], committed: set[str]
                        ) -> tuple[float, list[str]] | None:
        """USD gained with contract_group[g] allowing two contracts, and the members the
        better plan accepts; None when HiGHS does not end optimal."""
        import highspy

        if self.compiled is None:
            self.compiled = compile_lp(self.model)
        lp, index = self.compiled
        i = index.rows.get(("contract_group", g))
        if i is None:
            return None
        h = new_highs(self.options)
        for key in ("mip_rel_gap", "mip_abs_gap", "mip_feasibility_tolerance", "time_limit"):
            if key in self.options:
                h.setOptionValue(key, self.options[key])
        h.passModel(lp)
        start = highspy.HighsSolution()
        start.col_value = [_value(v) for v in index.columns]
        start.value_valid = True
        h.setSolution(start)  # the plan: the re-solve can only gain
        h.changeRowBounds(i, float(lp.row_lower_[i]), float(lp.row_upper_[i]) + 1.0)
        status = run_highs(h, self.options.get("threads"))
        if status != highspy.HighsModelStatus.kOptimal:
            return None
        value = h.getSolution().col_value
        taken = [c for c in members if c in committed
                 or (("accept", c) in index.cols and value[index.cols["accept", c]] > 0.5)]
        gain = max(0.0, float(h.getInfo().objective_function_value) - self.objective)
        return gain * MONEY_SCALE, taken


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
                   options: dict[str, Any] | None = None) -> pd.DataFrame:
    """The marginal-value table (columns :data:`MARGINAL_COLUMNS`) from a solved fixed LP.

    ``options`` (the solve's HiGHS options) allow the MILP re-solves of ``contract_group``
    rows; without them those rows have no value.
    """
    sl = _Slopes(fixed)
    milp = _Milp(m, options, fixed.objective) if options is not None and d.groups else None
    rows: list[_Row] = []
    rows += _site_rows(d, sl)
    rows += _bound_rows(sl, "grid_capacity", "grid_mw",
                        [(s, s, d.sites[s].grid.capacity_mw)  # type: ignore[union-attr]
                         for s in d.grid_price], d, "grid.capacity_mw")
    rows += _link_rows(d, sl)
    for r in d.sources:
        def slope(t: int, r: str = r) -> Any:
            value, binding = sl.uppers_over_blocks("gen_mw", (r, t), d.blocks)
            return value * MONEY_SCALE, binding

        rows += _per_period(sl, "source_capacity", r, "MW",
                            lambda t, r=r: d.source_cap[r][t], d.periods, slope, "capacity_mw")
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


def marginal_values(built: Any, options: dict[str, Any]) -> pd.DataFrame | None:
    """Marginal values of the plan loaded in ``built.pyomo``; None when the LP gives none.

    A failure here is logged and never costs the plan: the table is an explanation of it.
    """
    try:
        fixed = solve_fixed_lp(built.pyomo, options)
        return None if fixed is None else marginal_table(built.data, built.pyomo, fixed, options)
    except Exception:
        log.exception("marginal values could not be computed")
        return None
