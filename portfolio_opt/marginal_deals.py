"""Marginal values of the spec v2 deal terms and debt (docs/marginal_values.md).

``contract_group`` (a second structure of an offer allowed, every integer choice
re-solved), ``fixed_allocation`` (the rule lifted for one contract) and
``debt_loan_to_cost`` / ``debt_total``; the slopes come from
:mod:`portfolio_opt.marginal_slopes`, the table is built by :mod:`portfolio_opt.marginal`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from .lp_copy import FixedLp, compile_lp, new_highs, run_highs
from .marginal_slopes import _clean, _per_period, _Row, _Slopes, _value
from .model.data import MONEY_SCALE, ModelData

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
            row.note += "; the re-solve found no plan within its time limit"
            return None
        gain, added, gap = out
        row.value = gain
        extra = [c for c in added if c not in taken]
        worth = "worth" if gap is None else "worth at least"
        row.note += (f": {worth} {gain:,.0f} USD, the better plan also accepts "
                     + ", ".join(f"'{c}'" for c in extra) if extra and gain > 0 else
                     f": {worth} 0, no better plan found accepts a second one")
        if gap is not None:
            row.note += (f" (the re-solve stopped at its time limit of {milp.limit():,.1f} s"
                         f" with a relative gap of {gap:.2%}: a lower bound)")
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
        fixed.restore()
        return None if after is None else (after - fixed.objective) * MONEY_SCALE
    return run


# A contract_group re-solve stops after as long as the plan's own solve took, and never
# sooner than this (seconds), within the solve's time limit (docs/marginal_values.md).
GROUP_RESOLVE_MIN_SECONDS = 5.0


class _Milp:
    """The MILP compiled once more (integrality kept), for re-solves with integers free.

    ``solve_seconds``: how long the plan's solve took; each re-solve may take as long, at
    least GROUP_RESOLVE_MIN_SECONDS (None: only the solve's own time limit, if any)."""

    def __init__(self, model: Any, options: dict[str, Any], objective: float,
                 solve_seconds: float | None = None) -> None:
        self.model = model
        self.options = options
        self.objective = objective  # the plan's NPV, model units
        self.seconds = (None if solve_seconds is None
                        else max(GROUP_RESOLVE_MIN_SECONDS, solve_seconds))
        self.compiled: Any = None

    def limit(self) -> float | None:
        """Seconds each re-solve may take: ``seconds`` within the solve's time limit."""
        user = self.options.get("time_limit")
        if self.seconds is None:
            return None if user is None else float(user)
        return self.seconds if user is None else min(self.seconds, float(user))

    def gain_with_group(self, g: str, members: list[str], committed: set[str]
                        ) -> tuple[float, list[str], float | None] | None:
        """USD gained with contract_group[g] allowing two contracts, the members the better
        plan accepts, and None when that is proven optimal, else the re-solve's relative gap
        at its time limit (the gain is then at least this); None when HiGHS ends with no
        plan or not at a limit."""
        import highspy

        if self.compiled is None:
            self.compiled = compile_lp(self.model)
        lp, index = self.compiled
        i = index.rows.get(("contract_group", g))
        if i is None:
            return None
        h = new_highs(self.options)
        for key in ("mip_rel_gap", "mip_abs_gap", "mip_feasibility_tolerance"):
            if key in self.options:
                h.setOptionValue(key, self.options[key])
        limit = self.limit()
        if limit is not None:
            h.setOptionValue("time_limit", limit)
        h.passModel(lp)
        start = highspy.HighsSolution()
        start.col_value = [_value(v) for v in index.columns]
        start.value_valid = True
        h.setSolution(start)  # the plan: the re-solve can only gain
        h.changeRowBounds(i, float(lp.row_lower_[i]), float(lp.row_upper_[i]) + 1.0)
        status = run_highs(h, self.options.get("threads"))
        info = h.getInfo()
        S = highspy.HighsModelStatus
        if status == S.kOptimal:
            gap = None
        elif status == S.kTimeLimit and info.primal_solution_status == 2:  # a feasible plan
            gap = float(info.mip_gap)
        else:
            return None
        value = h.getSolution().col_value
        taken = [c for c in members if c in committed
                 or (("accept", c) in index.cols and value[index.cols["accept", c]] > 0.5)]
        gain = max(0.0, float(info.objective_function_value) - self.objective)
        return gain * MONEY_SCALE, taken, gap
