"""The spec's MILP (instance-format v1, "Decisions and rules" and "Objective"), on highspy.

Written from the spec page alone, to cross-check the product: one block per rule, each
with the rule it implements quoted above it. Money is in MUSD inside the model (so that
coefficients stay near 1); the NPV returned is in USD.

The model is held in a small builder of our own (:class:`Milp`: columns, rows as sparse
dicts, a linear objective with a constant) and handed to HiGHS in one go.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import highspy
import numpy as np

from portfolio_opt.instance import Instance

__all__ = ["Expr", "Milp", "ReferenceResult", "eligible_sites", "reference_npv",
           "reference_solve"]

MUSD = 1e6
INF = math.inf


# --------------------------------------------------------------------------------------
# A minimal linear-expression and MILP builder
# --------------------------------------------------------------------------------------


class Expr:
    """sum(coef * column) + const, over column indices of one :class:`Milp`."""

    __slots__ = ("const", "terms")

    def __init__(self, terms: dict[int, float] | None = None, const: float = 0.0) -> None:
        self.terms: dict[int, float] = dict(terms or {})
        self.const = float(const)

    @staticmethod
    def of(value: Expr | float) -> Expr:
        return value if isinstance(value, Expr) else Expr(const=float(value))

    def __add__(self, other: Expr | float) -> Expr:
        other = Expr.of(other)
        terms = dict(self.terms)
        for j, a in other.terms.items():
            terms[j] = terms.get(j, 0.0) + a
        return Expr(terms, self.const + other.const)

    __radd__ = __add__

    def __mul__(self, k: float) -> Expr:
        return Expr({j: a * k for j, a in self.terms.items()}, self.const * k)

    __rmul__ = __mul__

    def __neg__(self) -> Expr:
        return self * -1.0

    def __sub__(self, other: Expr | float) -> Expr:
        return self + (-Expr.of(other))

    def __rsub__(self, other: Expr | float) -> Expr:
        return Expr.of(other) + (-self)


def total(items: Iterable[Expr | float]) -> Expr:
    terms: dict[int, float] = {}
    const = 0.0
    for item in items:
        item = Expr.of(item)
        const += item.const
        for j, a in item.terms.items():
            terms[j] = terms.get(j, 0.0) + a
    return Expr(terms, const)


@dataclass
class Milp:
    names: list[str] = field(default_factory=list)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[tuple[dict[int, float], float, float, str]] = field(default_factory=list)
    objective: Expr = field(default_factory=Expr)  # maximised
    contradictions: list[str] = field(default_factory=list)

    def var(self, name: str, lb: float = 0.0, ub: float = INF, integer: bool = False) -> Expr:
        self.names.append(name)
        self.lb.append(float(lb))
        self.ub.append(float(ub))
        self.integer.append(integer)
        return Expr({len(self.names) - 1: 1.0})

    def binary(self, name: str, lb: float = 0.0) -> Expr:
        return self.var(name, lb, 1.0, integer=True)

    def _row(self, expr: Expr, lo: float, hi: float, name: str) -> None:
        terms = {j: a for j, a in expr.terms.items() if a != 0.0}
        lo, hi = lo - expr.const, hi - expr.const
        if not terms:  # a row without columns: either always true or a contradiction
            if lo > 1e-9 or hi < -1e-9:
                self.contradictions.append(name)
            return
        self.rows.append((terms, lo, hi, name))

    def le(self, lhs: Expr | float, rhs: Expr | float, name: str) -> None:
        self._row(Expr.of(lhs) - rhs, -INF, 0.0, name)

    def ge(self, lhs: Expr | float, rhs: Expr | float, name: str) -> None:
        self._row(Expr.of(lhs) - rhs, 0.0, INF, name)

    def eq(self, lhs: Expr | float, rhs: Expr | float, name: str) -> None:
        self._row(Expr.of(lhs) - rhs, 0.0, 0.0, name)

    def solve(self, mip_rel_gap: float, time_limit: float | None) -> ReferenceResult:
        if self.contradictions:
            return ReferenceResult("infeasible", None, None, {})
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", mip_rel_gap)
        # One thread, as the product uses: HiGHS keeps one thread scheduler per process, and
        # a later run asking for another thread count fails ("Not Set").
        h.setOptionValue("threads", 1)
        if time_limit is not None:
            h.setOptionValue("time_limit", float(time_limit))
        n = len(self.names)
        idx = np.arange(n, dtype=np.int32)
        h.addVars(n, np.array(self.lb), np.array(self.ub))
        cost = np.zeros(n)
        for j, a in self.objective.terms.items():
            cost[j] = a
        h.changeColsCost(n, idx, cost)
        kinds = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                 for i in self.integer]
        h.changeColsIntegrality(n, idx, np.array(kinds))
        for terms, lo, hi, _ in self.rows:
            cols = np.array(list(terms), dtype=np.int32)
            vals = np.array(list(terms.values()), dtype=np.float64)
            h.addRow(lo, hi, len(cols), cols, vals)
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return ReferenceResult("infeasible", None, None, {})
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"reference model: HiGHS ended with {status}")
        x = list(h.getSolution().col_value)
        value = self.objective.const + sum(a * x[j] for j, a in self.objective.terms.items())
        gap = float(h.getInfo().mip_gap) if any(self.integer) else None
        return ReferenceResult("optimal", value * MUSD, gap, dict(zip(self.names, x,
                                                                     strict=True)))


@dataclass
class ReferenceResult:
    status: str                 # "optimal" or "infeasible"
    npv_usd: float | None
    mip_gap: float | None
    values: dict[str, float]    # column name -> value (for debugging a disagreement)


# --------------------------------------------------------------------------------------
# Contract eligibility
# --------------------------------------------------------------------------------------


def fiber_latencies(inst: Instance, origin: str) -> dict[str, float]:
    """Shortest fiber-path latency (ms) from ``origin`` to every node reachable by fiber."""
    adj: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for link in inst.links:
        if link.kind == "fiber":
            assert link.latency_ms is not None
            adj[link.from_].append((link.to, link.latency_ms))
            adj[link.to].append((link.from_, link.latency_ms))
    dist = {origin: 0.0}
    heap = [(0.0, origin)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for v, w in adj[u]:
            if d + w < dist.get(v, INF):
                dist[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return dist


def eligible_sites(inst: Instance, contract_index: int) -> list[str]:
    c = inst.contracts[contract_index]
    ai_sites = [s.id for s in inst.sites if s.ai is not None]
    # "eligible: optional; default every site with an `ai` block"
    if c.eligible is None:
        return ai_sites
    # "sites: [site id, ...]  # either an explicit list ..."
    if c.eligible.sites is not None:
        return list(c.eligible.sites)
    # "near: ... every AI site whose shortest fiber-path latency to `site` is <= max (the
    #  site itself: 0); paths may run through any node; compare with a tolerance of
    #  1e-9 * max(1, max_latency_ms)"
    near = c.eligible.near
    assert near is not None
    dist = fiber_latencies(inst, near.site)
    limit = near.max_latency_ms + 1e-9 * max(1.0, near.max_latency_ms)
    return [s for s in ai_sites if dist.get(s, INF) <= limit]


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


def reference_solve(inst: Instance, mip_rel_gap: float = 1e-7,
                    time_limit: float | None = None) -> ReferenceResult:
    m = Milp()
    T = inst.horizon.periods
    P = range(1, T + 1)
    ypp = inst.horizon.years_per_period
    r = inst.horizon.discount_rate
    D = 365.0 * ypp          # days per period
    H = 8760.0 * ypp         # hours per period
    hashprice = inst.series(inst.market.hashprice_usd_per_ph_day)

    # Cash of each period, in MUSD, built up rule by rule.
    btc_rev = {t: Expr() for t in P}
    ai_rev = {t: Expr() for t in P}
    energy = {t: Expr() for t in P}
    opex = {t: Expr() for t in P}
    capex = {t: Expr() for t in P}

    # Per-site quantities (zero when the site lacks the block).
    btc_mw: dict[tuple[str, int], Expr] = {}
    reserved: dict[tuple[str, int], Expr] = {}
    available: dict[tuple[str, int], Expr] = {}

    for s in inst.sites:
        # ---------------------------------------------------------------- BTC hashing
        # "btc_mw[s,t] >= 0: ASIC IT MW hashing. btc_mw <= fleet_mw + bought so far;
        #  purchases buy[s,t] >= 0 serve from the period they are bought;
        #  sum_t buy[s,t] <= expansion.max_mw."
        b = s.btc
        if b is None:
            for t in P:
                btc_mw[s.id, t] = Expr()
        else:
            buy = {t: Expr() for t in P}
            if b.expansion is not None:
                buy = {t: m.var(f"buy[{s.id},{t}]") for t in P}
                m.le(total(buy.values()), b.expansion.max_mw, f"buy_max[{s.id}]")
            for t in P:
                btc_mw[s.id, t] = m.var(f"btc_mw[{s.id},{t}]")
                bought = total(buy[tau] for tau in P if tau <= t)
                m.le(btc_mw[s.id, t], b.fleet_mw + bought, f"fleet[{s.id},{t}]")
                # "BTC_t = sum_s hashprice[t] * (1000 / efficiency) * uptime * D * btc_mw"
                ph_per_mw = 1000.0 / b.efficiency_j_per_th
                btc_rev[t] += btc_mw[s.id, t] * (hashprice[t - 1] * ph_per_mw * b.uptime
                                                 * D / MUSD)
                # "OPEX_t = ypp * sum_s ( btc.opex * btc_mw[s,t] + ... )"
                opex[t] += btc_mw[s.id, t] * (ypp * b.opex_usd_per_mw_year / MUSD)
                # "CAPEX_t = sum_s ( ... + expansion.capex * buy[s,t] )"
                if b.expansion is not None:
                    capex[t] += buy[t] * (b.expansion.capex_usd_per_mw / MUSD)

        # ---------------------------------------------------------------- AI halls
        # "halls[s,t] integer >= 0: AI halls started in t. The most halls a site can ever
        #  start is floor((max_it_mw - existing_it_mw) / block_it_mw + 1e-9) ...
        #  reserved[s,t] = existing_it_mw + block_it_mw * sum_{tau <= t} halls[s,tau];
        #  available[s,t] = existing_it_mw + block_it_mw * sum_{tau <= t - lead} halls[s,tau]"
        a = s.ai
        if a is None:
            for t in P:
                reserved[s.id, t] = Expr()
                available[s.id, t] = Expr()
            continue
        n_max = math.floor((a.max_it_mw - a.existing_it_mw) / a.block_it_mw + 1e-9)
        n_max = max(n_max, 0)
        halls = {t: m.var(f"halls[{s.id},{t}]", 0, n_max, integer=True) for t in P}
        m.le(total(halls.values()), n_max, f"max_halls[{s.id}]")
        lead = a.lead_time_periods
        for t in P:
            reserved[s.id, t] = a.existing_it_mw + a.block_it_mw * total(
                halls[tau] for tau in P if tau <= t)
            available[s.id, t] = a.existing_it_mw + a.block_it_mw * total(
                halls[tau] for tau in P if tau <= t - lead)
            # "CAPEX_t = sum_s ( ai.capex * block_it_mw * halls[s,t] + ... )"
            capex[t] += halls[t] * (a.capex_usd_per_it_mw * a.block_it_mw / MUSD)
            # "OPEX_t = ypp * sum_s ( ... + ai.opex * available[s,t] )" (existing halls too)
            opex[t] += available[s.id, t] * (ypp * a.opex_usd_per_it_mw_year / MUSD)

        # "fixed_capex_usd: once, in the first period a hall starts, and only at a site with
        #  existing_it_mw = 0". first[s,t] = 1 exactly when t is the first period with a
        #  hall: it needs a hall in t, and no hall may start before the period it marks.
        if a.existing_it_mw == 0 and a.fixed_capex_usd > 0 and n_max > 0:
            first = {t: m.binary(f"first_hall[{s.id},{t}]") for t in P}
            m.le(total(first.values()), 1, f"first_once[{s.id}]")
            for t in P:
                m.le(first[t], halls[t], f"first_has_hall[{s.id},{t}]")
                marked = total(first[tau] for tau in P if tau <= t)
                m.le(halls[t], n_max * marked, f"hall_after_first[{s.id},{t}]")
                capex[t] += first[t] * (a.fixed_capex_usd / MUSD)

    # -------------------------------------------------------------------- contracts
    # "accept[c] binary (fixed to 1 when committed); it_mw[c] in [min * accept[c],
    #  max * accept[c]]. In each active period t (start <= t < start + term, t <= periods):
    #  sum over eligible s of serve[c,s,t] = it_mw[c]; outside its term serve = 0.
    #  At most max_sites sites serve c over the whole term (a site that serves in any
    #  period counts once)."
    accept: dict[str, Expr] = {}
    it_mw: dict[str, Expr] = {}
    serve_at: dict[tuple[str, int], list[Expr]] = defaultdict(list)  # (site, t) -> serves
    for ci, c in enumerate(inst.contracts):
        accept[c.id] = m.binary(f"accept[{c.id}]", lb=1.0 if c.committed else 0.0)
        it_mw[c.id] = m.var(f"it_mw[{c.id}]", 0, c.it_mw.max)
        m.ge(it_mw[c.id], c.it_mw.min * accept[c.id], f"it_mw_min[{c.id}]")
        m.le(it_mw[c.id], c.it_mw.max * accept[c.id], f"it_mw_max[{c.id}]")
        sites = eligible_sites(inst, ci)
        active = [t for t in range(c.start_period, c.start_period + c.term_periods) if t <= T]
        uses = {s: m.binary(f"uses[{c.id},{s}]") for s in sites}
        m.le(total(uses.values()), c.max_sites, f"max_sites[{c.id}]")
        for t in active:
            serve = {s: m.var(f"serve[{c.id},{s},{t}]", 0, c.it_mw.max) for s in sites}
            m.eq(total(serve.values()), it_mw[c.id], f"serve_all[{c.id},{t}]")
            # "AI_t = sum_{c,s} rate_c * (1+escalator)^((t - start_c) * ypp) * 12000 * ypp
            #  * serve[c,s,t]"
            usd_per_mw = (c.rate_usd_per_kw_month
                          * (1.0 + c.escalator) ** ((t - c.start_period) * ypp) * 12000.0 * ypp)
            for s in sites:
                m.le(serve[s], c.it_mw.max * uses[s], f"serve_uses[{c.id},{s},{t}]")
                serve_at[s, t].append(serve[s])
                ai_rev[t] += serve[s] * (usd_per_mw / MUSD)

    for s in inst.sites:
        for t in P:
            served = total(serve_at[s.id, t])
            # "Site AI use: sum_c serve[c,s,t] <= available[s,t]."
            if s.ai is not None:
                m.le(served, available[s.id, t], f"ai_use[{s.id},{t}]")
            # "Site envelope (reserved halls hold their power from the period they start):
            #  btc_mw * btc.pue + reserved * ai.pue <= capacity_mw."
            btc_pue = s.btc.pue if s.btc is not None else 1.0
            ai_pue = s.ai.pue if s.ai is not None else 1.0
            m.le(btc_mw[s.id, t] * btc_pue + reserved[s.id, t] * ai_pue, s.capacity_mw,
                 f"envelope[{s.id},{t}]")

    # -------------------------------------------------------------------- power
    # "Power balance at every site and source, per period, over power-link arcs:
    #  supply + sum_in flow * (1 - loss) - sum_out flow = load,
    #  where load(site) = btc_mw * btc.pue + sum_c serve[c,s,t] * ai.pue, load(source) = 0,
    #  supply(site) = grid import <= grid.capacity_mw (0 without grid),
    #  supply(source) = output <= capacity_mw[t]. Each arc: 0 <= flow <= capacity_mw."
    # "directed: default false (= two arcs, each capacity_mw)"; "the far end receives
    #  (1 - loss) of it".
    arcs: list[tuple[str, str, str, float, float]] = []  # (name, tail, head, cap, loss)
    for link in inst.links:
        if link.kind != "power":
            continue
        assert link.capacity_mw is not None
        loss = link.loss or 0.0
        arcs.append((link.link_id, link.from_, link.to, link.capacity_mw, loss))
        if not link.directed:
            arcs.append((link.link_id + "~rev", link.to, link.from_, link.capacity_mw, loss))
    for t in P:
        inflow: dict[str, Expr] = defaultdict(Expr)
        outflow: dict[str, Expr] = defaultdict(Expr)
        for name, tail, head, cap, loss in arcs:
            f = m.var(f"flow[{name},{t}]", 0, cap)
            outflow[tail] = outflow[tail] + f
            inflow[head] = inflow[head] + f * (1.0 - loss)
        for s in inst.sites:
            supply = Expr()
            if s.grid is not None:
                supply = m.var(f"grid[{s.id},{t}]", 0, s.grid.capacity_mw)
                price = inst.series(s.grid.price_usd_per_mwh)[t - 1]
                # "ENERGY_t = H * ( sum_s grid_import[s,t] * grid.price[t] + ... )"
                energy[t] += supply * (H * price / MUSD)
            load = Expr()
            if s.btc is not None:
                load += btc_mw[s.id, t] * s.btc.pue
            if s.ai is not None:
                load += total(serve_at[s.id, t]) * s.ai.pue
            m.eq(supply + inflow[s.id] - outflow[s.id], load, f"balance[{s.id},{t}]")
        for src in inst.sources:
            cap = inst.series(src.capacity_mw)[t - 1]
            price = inst.series(src.price_usd_per_mwh)[t - 1]
            output = m.var(f"output[{src.id},{t}]", 0, cap)
            # "ENERGY_t = H * ( ... + sum_src output[src,t] * price[src,t] )"
            energy[t] += output * (H * price / MUSD)
            m.eq(output + inflow[src.id] - outflow[src.id], 0.0, f"balance[{src.id},{t}]")

    # -------------------------------------------------------------------- limits
    lim = inst.limits
    # "capex_budget_usd: total capex over the horizon, undiscounted"
    if lim.capex_budget_usd is not None:
        m.le(total(capex.values()), lim.capex_budget_usd / MUSD, "capex_budget")
    # "capex_budget_usd_per_period: series; capex started in each period"
    if lim.capex_budget_usd_per_period is not None:
        budget = inst.series(lim.capex_budget_usd_per_period)
        for t in P:
            m.le(capex[t], budget[t - 1] / MUSD, f"capex_budget[{t}]")
    # "max_tenant_share: for every tenant k: sum of it_mw[c] over k's contracts <=
    #  share * sum of it_mw[c] over all contracts (committed contracts count)"
    if lim.max_tenant_share is not None:
        everyone = total(it_mw.values())
        for tenant in sorted({c.tenant for c in inst.contracts}):
            own = total(it_mw[c.id] for c in inst.contracts if c.tenant == tenant)
            m.le(own, lim.max_tenant_share * everyone, f"tenant_share[{tenant}]")
    # "max_contracts: accepted contracts, committed ones included"
    if lim.max_contracts is not None:
        m.le(total(accept.values()), lim.max_contracts, "max_contracts")

    # -------------------------------------------------------------------- objective
    # "NPV = sum_t [ (BTC_t + AI_t - ENERGY_t - OPEX_t) * (1+r)^-(t*ypp)
    #               - CAPEX_t * (1+r)^-((t-1)*ypp) ]"
    npv = Expr()
    for t in P:
        operating = btc_rev[t] + ai_rev[t] - energy[t] - opex[t]
        npv += operating * (1.0 + r) ** -(t * ypp) - capex[t] * (1.0 + r) ** -((t - 1) * ypp)
    m.objective = npv
    return m.solve(mip_rel_gap, time_limit)


def reference_npv(inst: Instance) -> tuple[str, float | None]:
    """("optimal", NPV in USD) or ("infeasible", None), per the spec, to a 1e-7 gap."""
    res = reference_solve(inst)
    return res.status, res.npv_usd
