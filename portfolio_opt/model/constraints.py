"""Constraint families, one function each, named and written as in docs/formulation.md.

Symbols: F_s fleet MW, X_s expansion max MW, E_s existing IT MW, B_s block IT MW,
N_s most halls, L_s lead time, P^b_s / P^a_s BTC / AI PUE, Q_s site capacity MW,
m_c / M_c contract IT MW range, k_c max sites, U_cs = min(M_c, E_s + B_s N_s)
(and P^in_s / P^a_s with Formulation.power_bounds: ModelData.serve_site_upper).

Scenarios (spec v2 B): rows on operational variables hold in every scenario w (a w in
their key when the instance has scenarios); rows on first-stage variables hold once, or
under multi_stage once per node of the scenario tree (a node in their key).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyomo.core as pyo

from .data import ModelData
from .expressions import Term, ai_capex, available, equity_capex, fleet, linear, reserved_terms
from .variables import op_index

__all__ = [
    "define_ai_first_hall_constraints",
    "define_ai_first_hall_cumulative_constraints",
    "define_ai_hall_limit_constraints",
    "define_btc_demand_response_constraints",
    "define_btc_expansion_constraints",
    "define_btc_fleet_constraints",
    "define_capex_budget_constraints",
    "define_contract_fixed_allocation_constraints",
    "define_contract_group_constraints",
    "define_contract_halls_ready_constraints",
    "define_contract_serve_constraints",
    "define_contract_single_site_constraints",
    "define_contract_site_room_constraints",
    "define_contract_sites_constraints",
    "define_contract_size_constraints",
    "define_debt_constraints",
    "define_hall_block_constraints",
    "define_max_contracts_constraints",
    "define_power_balance_constraints",
    "define_site_ai_capacity_constraints",
    "define_site_envelope_constraints",
    "define_tenant_share_constraints",
]


def _add(m: pyo.ConcreteModel, name: str, rows: dict[Any, Any]) -> None:
    """Constraint ``name`` with one row per key of ``rows`` (key -> relational expression)."""
    setattr(m, name, pyo.Constraint(
        list(rows), rule=lambda m, *k: rows[k if len(k) > 1 else k[0]]))


def _node_key(d: ModelData, head: tuple[Any, ...], n: str) -> Any:
    """Key of a row over first-stage variables of every period: head, or (*head, node)
    with the node of the last period under multi_stage."""
    key = (*head, n) if d.multi_stage else head
    return key[0] if len(key) == 1 else key


def _leaves(d: ModelData) -> list[str]:
    return d.nodes(d.periods[-1])


def _fs_index(m: pyo.ConcreteModel, d: ModelData, sites: Any, nodes: Any) -> tuple[Any, ...]:
    """Index sets of a row per first-stage site key: (sites, T), or the (s, t, node) set."""
    return (nodes,) if d.multi_stage else (sites, m.T)


def define_btc_fleet_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """btc_fleet[s,t,w,b]:  btc_mw[s,t,w,b] <= F_s + sum_{tau <= t} buy_mw[s,tau]."""
    m.btc_fleet = pyo.Constraint(
        *op_index(m, d, m.S_btc),
        rule=lambda m, s, t, *wb: m.btc_mw[(s, t, *wb)]
        <= fleet(m, d, s, t, d.scenario_of(wb[:-1])))


def define_btc_demand_response_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """btc_demand_response[s,t,b]:  dr_mw[s,t,b] <= P^b_s btc_mw[s,t,b]   (spec v2 C: only
    gross MW that hashes in block b can stand ready to shed there; dr_mw <= max_mw is the
    variable's bound)."""
    if not d.dr_sites:
        return
    m.btc_demand_response = pyo.Constraint(
        *op_index(m, d, m.S_dr),
        rule=lambda m, s, t, *wb: m.dr_mw[(s, t, *wb)] <= m.p_btc_pue[s] * m.btc_mw[(s, t, *wb)])


def define_btc_expansion_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """btc_expansion[s]:  sum_t buy_mw[s,t] <= X_s."""
    _add(m, "btc_expansion", {
        _node_key(d, (s,), n):
        pyo.quicksum(m.buy_mw[d.fs((s,), t, n)] for t in d.periods) <= m.p_exp_max[s]
        for s in d.exp_sites for n in _leaves(d)})


def define_ai_hall_limit_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """ai_hall_limit[s]:  sum_t halls[s,t] <= N_s = floor((max_it_mw - E_s) / B_s + 1e-9)."""
    _add(m, "ai_hall_limit", {
        _node_key(d, (s,), n):
        pyo.quicksum(m.halls[d.fs((s,), t, n)] for t in d.periods) <= m.p_hall_max[s]
        for s in d.hall_sites for n in _leaves(d)})


def define_ai_first_hall_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Site enablement, for sites paying fixed_capex_usd (E_s = 0, F^fix_s > 0):

    ai_first_hall_once[s]:    sum_t first_hall[s,t] <= 1
    ai_first_hall_link[s,t]:  halls[s,t] <= N_s * sum_{tau <= t} first_hall[s,tau]
    ai_first_hall_start[s,t]: first_hall[s,t] <= halls[s,t]
    Together: first_hall[s,t] = 1 exactly in the period the first hall starts, so the fixed
    capex lands in that period's capex (and per-period budget), never earlier.
    """
    fix, last = d.fixed_capex_sites, d.periods[-1]
    first = m.first_hall
    _add(m, "ai_first_hall_once", {
        _node_key(d, (s,), n): pyo.quicksum(first[k] for k in d.fs_upto((s,), last, n)) <= 1
        for s in fix for n in _leaves(d)})
    index = _fs_index(m, d, m.S_fix, m.component("FS_fix"))
    m.ai_first_hall_link = pyo.Constraint(
        *index, rule=lambda m, s, t, *n: m.halls[(s, t, *n)] <= m.p_first_hall_m[s]
        * pyo.quicksum(first[k] for k in d.fs_upto((s,), t, d.scenario_of(n))))
    m.ai_first_hall_start = pyo.Constraint(
        *index, rule=lambda m, s, t, *n: first[(s, t, *n)] <= m.halls[(s, t, *n)])


def define_ai_first_hall_cumulative_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Valid inequality (Formulation.first_hall_cuts), for sites paying fixed_capex_usd:

    ai_first_hall_cumulative[s,t]:
        sum_{tau <= t} halls[s,tau] <= N_s sum_{tau <= t} first_hall[s,tau]
    No hall starts before the first one, and never more than N_s in all. It implies
    ai_first_hall_link (halls >= 0) but is tighter in the LP relaxation, where the link
    lets a fraction 1/k of the fixed capex in each of k periods enable N_s halls in each.
    """
    f = d.formulation
    if not (f.valid_inequalities and f.first_hall_cuts) or not d.fixed_capex_sites:
        return
    halls, first = m.halls, m.first_hall

    def rule(m: pyo.ConcreteModel, s: str, t: int, *n: str) -> Any:
        keys = d.fs_upto((s,), t, d.scenario_of(n))
        return (pyo.quicksum(halls[k] for k in keys)
                <= m.p_first_hall_m[s] * pyo.quicksum(first[k] for k in keys))

    m.ai_first_hall_cumulative = pyo.Constraint(
        *_fs_index(m, d, m.S_fix, m.component("FS_fix")), rule=rule)


def define_contract_size_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """contract_min[c]:  it_mw[c] >= m_c accept[c];  contract_max[c]:  it_mw[c] <= M_c accept[c]."""
    m.contract_min = pyo.Constraint(
        m.C, rule=lambda m, c: m.it_mw[c] >= m.p_it_min[c] * m.accept[c]
    )
    m.contract_max = pyo.Constraint(
        m.C, rule=lambda m, c: m.it_mw[c] <= m.p_it_max[c] * m.accept[c]
    )


def define_contract_serve_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """contract_serve[c,t]:  sum_{s in eligible(c)} serve[c,s,t] = it_mw[c], t in term(c)."""
    _add(m, "contract_serve", {
        d.fs((c,), t, n):
        pyo.quicksum(m.serve[d.fs((c, s), t, n)] for s in d.eligible[c]) == m.it_mw[c]
        for c, t in m.CT for n in d.nodes(t)})


def define_contract_sites_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """At most k_c sites serve contract c over its term (only where |eligible(c)| > k_c).

    contract_site_use[c,s,t]:  serve[c,s,t] <= U_cs uses[c,s]
    contract_site_count[c]:    sum_s uses[c,s] <= k_c accept[c]
    Valid inequalities that tighten the relaxation without cutting off any plan:
    contract_site_accept[c,s]: uses[c,s] <= accept[c]
    contract_site_needed[c]:   sum_s uses[c,s] >= accept[c]               (m_c > 0)
    contract_site_floor[c,s,t]: serve[c,s,t] >= m_c uses[c,s]             (k_c = 1)
    """
    cst = [(c, s, t) for (c, s, t) in m.CST if c in m.C_uses]

    _add(m, "contract_site_use", {
        d.fs((c, s), t, n): m.serve[d.fs((c, s), t, n)] <= m.p_serve_upper[c, s] * m.uses[c, s]
        for c, s, t in cst for n in d.nodes(t)})
    m.contract_site_count = pyo.Constraint(
        m.C_uses,
        rule=lambda m, c: pyo.quicksum(m.uses[c, s] for s in d.eligible[c])
        <= d.contracts[c].max_sites * m.accept[c],
    )
    if not d.formulation.valid_inequalities:
        return
    m.contract_site_accept = pyo.Constraint(
        m.CS_uses, rule=lambda m, c, s: m.uses[c, s] <= m.accept[c]
    )
    needed = [c for c in d.uses_contracts if d.contracts[c].it_mw.min > 0]
    m.contract_site_needed = pyo.Constraint(
        needed, rule=lambda m, c: pyo.quicksum(m.uses[c, s] for s in d.eligible[c]) >= m.accept[c]
    )
    single = [
        (c, s, t) for (c, s, t) in cst
        if d.contracts[c].max_sites == 1 and d.contracts[c].it_mw.min > 0
    ]
    _add(m, "contract_site_floor", {
        d.fs((c, s), t, n): m.serve[d.fs((c, s), t, n)] >= m.p_it_min[c] * m.uses[c, s]
        for c, s, t in single for n in d.nodes(t)})


def _single_site(d: ModelData, c: str) -> bool:
    """c is served by one site over its whole term, with at least m_c > 0 IT MW if taken."""
    con = d.contracts[c]
    return con.max_sites == 1 and con.it_mw.min > 0


def define_contract_single_site_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Valid inequality (Formulation.single_site_cuts), c in C^u with k_c = 1, flexible
    allocation, two or more active periods, t1_c its first active period:

    contract_single_site[c,s,t]:  serve[c,s,t] = serve[c,s,t1_c],  t in T_c, t > t1_c
    The one site that serves c serves all of it_mw[c] in every active period (the others
    serve 0), so every site's service of c is the same in every period. Without the rows
    the LP relaxation can serve a one-site lease from different sites in different periods.
    """
    f = d.formulation
    if not (f.valid_inequalities and f.single_site_cuts):
        return
    single = [c for c in d.uses_contracts
              if d.contracts[c].max_sites == 1 and c not in d.fixed_contracts]
    _flat_over_term(m, d, "contract_single_site", single)


def define_contract_halls_ready_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Valid inequalities (Formulation.site_hall_cuts) for a contract c with k_c = 1 and
    m_c > 0, at each eligible site s, with t1_c its first active period and
    z_cs = uses[c,s] (c in C^u) or accept[c] (c has the one eligible site s, not committed):

    contract_halls_ready[c,s]:  h_cs z_cs <= sum_{tau <= t1_c - L_s} halls[s,tau],
        h_cs = ceil((m_c - E_s) / B_s) > 0   (0 halls possible at s: the right side is 0)
    contract_first_hall_ready[c,s]:  z_cs <= sum_{tau <= t1_c - L_s} first_hall[s,tau],  s in S^f
    If s serves c, it serves at least m_c in t1_c (contract_site_floor, contract_serve),
    so available[s,t1_c] >= m_c: at least h_cs halls (an integer) started by t1_c - L_s,
    and at a site without AI of its own the first of them too. The LP relaxation otherwise
    lets a fraction of a hall, or of the fixed capex, carry a whole lease.
    """
    f = d.formulation
    if not (f.valid_inequalities and f.site_hall_cuts):
        return
    uses = set(d.uses_contracts)
    pairs: list[tuple[str, str]] = []
    for c in d.contracts:
        if not _single_site(d, c) or not d.active[c]:
            continue
        if c in uses:
            pairs += [(c, s) for s in d.eligible[c]]
        elif len(d.eligible[c]) == 1 and not d.contracts[c].committed:
            # Committed: accept is fixed at 1 and the row would be a bare bound on halls;
            # left out so that a lease that cannot be served is explained by the rules.
            pairs.append((c, d.eligible[c][0]))
    if not pairs:
        return
    mutable = m.p_halls_needed.mutable

    def choice(m: pyo.ConcreteModel, c: str, s: str) -> Any:
        return m.uses[c, s] if c in uses else m.accept[c]

    def last(c: str, s: str) -> int:
        return d.active[c][0] - d.ai(s).lead_time_periods

    def halls_row(c: str, s: str, n: str) -> Any:
        h = m.p_halls_needed[c, s]
        if not mutable and h == 0:
            return None
        ready = [m.halls[d.fs((s,), tau, n)] for tau in d.periods
                 if tau <= last(c, s)] if s in d.hall_sites else []
        if not ready:
            if not mutable:
                # No hall can be ready: s cannot serve c (h_cs > 0).
                return choice(m, c, s) <= 0
            return h * choice(m, c, s) <= 0
        return h * choice(m, c, s) <= pyo.quicksum(ready)

    def ready_nodes(c: str, s: str) -> list[str]:
        return d.nodes(max(1, last(c, s)))

    rows = {_node_key(d, (c, s), n): halls_row(c, s, n)
            for c, s in pairs for n in ready_nodes(c, s)}
    _add(m, "contract_halls_ready", {k: r for k, r in rows.items() if r is not None})
    fix = set(d.fixed_capex_sites)
    first = [(c, s) for (c, s) in pairs if s in fix]
    if first:
        _add(m, "contract_first_hall_ready", {
            _node_key(d, (c, s), n): choice(m, c, s) <= pyo.quicksum(
                m.first_hall[d.fs((s,), tau, n)] for tau in d.periods if tau <= last(c, s))
            for c, s in first for n in ready_nodes(c, s)})


def define_contract_site_room_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Valid inequality (Formulation.site_room_cuts), c in C^u, s an eligible site that
    may start halls (N_s >= 1), t in T_c:

    contract_site_room[c,s,t]:
        serve[c,s,t] <= min(M_c, E_s) uses[c,s] + min(M_c, B_s) sum_{tau <= t - L_s} halls[s,tau]
    If s serves c, it serves at most min(M_c, available[s,t]) <= min(M_c, E_s) +
    min(M_c, B_s) H for any whole number H >= 0 of halls ready; if not, serve is 0. The
    LP relaxation of contract_site_use alone lets a fraction U_cs^-1 of uses[c,s] per
    IT MW take a site's existing IT MW as if all its halls were built, so a lease spreads
    over many sites' spare IT MW at a fraction of each site choice (docs/formulation.md).
    A row is left out where it adds nothing (E_s >= U_cs: contract_site_use is as tight).
    """
    f = d.formulation
    if not (f.valid_inequalities and f.site_room_cuts):
        return
    mutable = m.p_room_existing.mutable
    halls, uses = set(d.hall_sites), set(d.uses_contracts)
    rows: dict[Any, Any] = {}
    for c, s, t in m.CST:
        if c not in uses or s not in halls:
            continue
        if not mutable and m.p_room_existing[c, s] >= m.p_serve_upper[c, s] - 1e-9:
            continue
        lead = d.ai(s).lead_time_periods
        for n in d.nodes(t):
            ready = d.fs_upto((s,), t - lead, n)
            room = m.p_room_existing[c, s] * m.uses[c, s]
            if ready:
                room = room + m.p_room_block[c, s] * pyo.quicksum(m.halls[k] for k in ready)
            rows[d.fs((c, s), t, n)] = m.serve[d.fs((c, s), t, n)] <= room
    _add(m, "contract_site_room", rows)


def define_hall_block_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Only in the block-binary encoding (measured, not the default):

    hall_block_count[s,t]:  halls[s,t] = sum_k hall_block[s,k,t]
    hall_block_once[s,k]:   sum_t hall_block[s,k,t] <= 1
    """
    if d.formulation.hall_encoding != "block_binaries":
        return
    if d.multi_stage:
        raise ValueError("the block-binary hall encoding is for deterministic and two-stage "
                         "models only")
    keys = [(s, k) for s in d.hall_sites for k in range(1, d.hall_max[s] + 1)]
    m.SK_hall = pyo.Set(dimen=2, initialize=keys, ordered=True)
    m.hall_block = pyo.Var(m.SK_hall, m.T, domain=pyo.Binary)
    m.hall_block_count = pyo.Constraint(
        m.S_hall, m.T,
        rule=lambda m, s, t: m.halls[s, t]
        == pyo.quicksum(m.hall_block[s, k, t] for k in range(1, d.hall_max[s] + 1)),
    )
    m.hall_block_once = pyo.Constraint(
        m.SK_hall, rule=lambda m, s, k: pyo.quicksum(m.hall_block[s, k, t] for t in m.T) <= 1
    )


def _served_at(d: ModelData, m: pyo.ConcreteModel) -> dict[tuple[str, int], list[str]]:
    """(site, period) -> the contracts it may serve then."""
    by_site: dict[tuple[str, int], list[str]] = defaultdict(list)
    for c, s, t in m.CST:
        by_site[s, t].append(c)
    return by_site


def define_site_ai_capacity_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """site_ai_capacity[s,t]:  sum_c serve[c,s,t] <= available[s,t]."""
    served = _served_at(d, m)
    keys = [(s, t, *((n,) if d.multi_stage else ())) for s in d.ai_sites for t in d.periods
            if served.get((s, t)) for n in d.nodes(t)]
    serve = m.serve

    def rule(m: pyo.ConcreteModel, s: str, t: int, *n: str) -> Any:
        return (pyo.quicksum(serve[(c, s, t, *n)] for c in served[s, t])
                <= available(m, d, s, t, d.scenario_of(n)))

    m.site_ai_capacity = pyo.Constraint(keys, rule=rule)


def define_site_envelope_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """site_envelope[s,t,b]:  P^b_s btc_mw[s,t,b] + P^a_s reserved[s,t] <= Q_s.

    One row per block only at mining sites (their load varies by block); a site without
    mining has one row per period, indexed by the first block.
    """
    btc = set(d.btc_sites)
    halls = set(d.hall_sites)

    def row(s: str, t: int, w: str, b: str) -> Any:
        terms: list[Term] = []
        existing: Any = 0.0
        if s in btc:
            terms.append((m.p_btc_pue[s], m.btc_mw[d.op(s, t, w, b)]))
        if s in d.hall_max:
            pue = m.p_ai_pue[s]
            existing, halls = reserved_terms(m, d, s, t, w)
            existing = pue * existing
            terms += [(pue * c, v) for c, v in halls]
        return linear(existing, terms) <= m.p_capacity[s]

    # A site without mining has one row per period (and node), indexed by the first block
    # (and the node's scenario).
    _add(m, "site_envelope", {
        d.op(s, t, w, b): row(s, t, w, b)
        for s in d.sites if s in btc or s in halls for t in d.periods
        for w in (d.scenarios if s in btc else d.nodes(t))
        for b in (d.blocks if s in btc else d.blocks[:1])})


def define_power_balance_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """power_balance[n,t,b] at every site and source, in every price block b:

    supply[n,t,b] + sum_{a into n} (1 - loss_a) flow_mw[a,t,b] - sum_{a out of n} flow_mw[a,t,b]
        = P^b_n btc_mw[n,t,b] + P^a_n sum_c serve[c,n,t]    (sites; AI load is firm)
        = 0                                                  (sources)
    with supply = grid_mw (sites with grid), gen_mw (sources), 0 otherwise.
    """
    into: dict[str, list[int]] = defaultdict(list)
    out: dict[str, list[int]] = defaultdict(list)
    for a, arc in enumerate(d.arcs):
        out[arc.tail].append(a)
        into[arc.head].append(a)
    served = _served_at(d, m)
    grid = set(d.grid_price)
    sources = set(d.sources)
    btc = set(d.btc_sites)

    def has_terms(n: str) -> bool:
        served_here = any(served.get((n, t)) for t in d.periods)
        return bool(into[n] or out[n] or n in grid or n in sources or n in btc or served_here)

    nodes = [n for n in [*d.sites, *d.sources] if has_terms(n)]

    def rule(m: pyo.ConcreteModel, n: str, t: int, *wb: str) -> Any:
        terms: list[Any] = []
        if n in grid:
            terms.append(m.grid_mw[(n, t, *wb)])
        if n in sources:
            terms.append(m.gen_mw[(n, t, *wb)])
        terms += [m.p_arc_eff[a] * m.flow_mw[(a, t, *wb)] for a in into[n]]
        terms += [-m.flow_mw[(a, t, *wb)] for a in out[n]]
        if n in btc:
            terms.append(-m.p_btc_pue[n] * m.btc_mw[(n, t, *wb)])
        if served.get((n, t)):
            nk = (d.node[t, wb[0]],) if d.multi_stage else ()
            terms += [-m.p_ai_pue[n] * m.serve[(c, n, t, *nk)] for c in served[n, t]]
        if not terms:
            return pyo.Constraint.Skip
        return pyo.quicksum(terms) == 0

    m.power_balance = pyo.Constraint(*op_index(m, d, nodes), rule=rule)


def define_capex_budget_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Budgets bound equity capex (MUSD, undiscounted), net of tenant contributions
    (spec v2 A) and loans (spec v2 D):

    capex_budget:           sum_t (capex[t] - tenant_capex[t] - loan[t]) <= budget
    capex_budget_period[t]: capex[t] - tenant_capex[t] - loan[t] <= budget_t
    """
    lim = d.instance.limits
    if not (d.hall_sites or d.exp_sites):
        return  # nothing can be built: every budget holds trivially
    if lim.capex_budget_usd is not None:
        total = {n: pyo.quicksum(equity_capex(m, d, t, n) for t in d.periods) <= m.p_budget
                 for n in _leaves(d)}
        if d.multi_stage:
            _add(m, "capex_budget", total)
        else:
            m.capex_budget = pyo.Constraint(expr=total[d.scenarios[0]])
    if lim.capex_budget_usd_per_period is not None:
        m.capex_budget_period = pyo.Constraint(
            m.T_node if d.multi_stage else m.T,
            rule=lambda m, t, *n: equity_capex(m, d, t, d.scenario_of(n)) <= m.p_budget_period[t])


def define_tenant_share_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """tenant_share[k]:  sum_{c of k} it_mw[c] <= sigma * it_total,
    with contract_total:  it_total = sum_c it_mw[c]   (one row, so each tenant's row stays
    as long as its own contracts list, not the whole book).
    """
    share = d.instance.limits.max_tenant_share
    if share is None or share >= 1.0 or not d.contracts:
        return  # a share of 1 can never bind
    tenants: dict[str, list[str]] = defaultdict(list)
    for c, con in d.contracts.items():
        tenants[con.tenant].append(c)
    m.K = pyo.Set(initialize=list(tenants), ordered=True)
    m.it_total = pyo.Var(domain=pyo.NonNegativeReals)
    m.contract_total = pyo.Constraint(
        expr=m.it_total == pyo.quicksum(m.it_mw[c] for c in m.C)
    )
    m.tenant_share = pyo.Constraint(
        m.K,
        rule=lambda m, k: pyo.quicksum(m.it_mw[c] for c in tenants[k])
        <= m.p_tenant_share * m.it_total,
    )


def define_max_contracts_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """max_contracts:  sum_c accept[c] <= n_max."""
    cap = d.instance.limits.max_contracts
    if cap is None or not d.contracts:
        return
    m.max_contracts = pyo.Constraint(
        expr=pyo.quicksum(m.accept[c] for c in m.C) <= m.p_max_contracts
    )


def define_contract_group_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """contract_group[g]:  sum_{c in g} accept[c] <= 1   (alternative structures of one
    offer, spec v2 A; only groups of two or more contracts)."""
    if not d.groups:
        return
    m.G = pyo.Set(initialize=list(d.groups), ordered=True)
    m.contract_group = pyo.Constraint(
        m.G, rule=lambda m, g: pyo.quicksum(m.accept[c] for c in d.groups[g]) <= 1
    )


def define_contract_fixed_allocation_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """contract_fixed_allocation[c,s,t]:  serve[c,s,t] = serve[c,s,t0_c]
    for a fixed-allocation contract c, each eligible s and every active t after its first
    active period t0_c (spec v2 A: each site's IT MW is the same over the whole term)."""
    _flat_over_term(m, d, "contract_fixed_allocation", d.fixed_contracts)


def _flat_over_term(m: pyo.ConcreteModel, d: ModelData, name: str,
                    contracts: list[str]) -> None:
    """Rows ``name[c,s,t]``: serve[c,s,t] = serve[c,s,t1_c] for each of ``contracts``, each
    eligible s and every active t after the first active period t1_c."""
    keys = [(c, s, t) for c in contracts for s in d.eligible[c] for t in d.active[c][1:]]
    if not keys:
        return
    _add(m, name, {
        d.fs((c, s), t, n): m.serve[d.fs((c, s), t, n)] == m.serve[d.fs((c, s), d.active[c][0], n)]
        for c, s, t in keys for n in d.nodes(t)})


def define_debt_constraints(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Project debt (spec v2 D), loans in MUSD drawn at the start of t:

    debt_loan_to_cost[t]:  loan[t] <= lambda * ai_capex[t]
    debt_total:            sum_t loan[t] <= L^max            (when max_total_usd is given)
    """
    if not d.loans:
        return
    _add(m, "debt_loan_to_cost", {
        d.fs((), t, n): m.loan[d.fs((), t, n)] <= m.p_ltc * ai_capex(m, d, t, n)
        for t in d.loans for n in d.nodes(t)})
    if d.debt is not None and d.debt.max_total_usd is not None:
        total = {n: pyo.quicksum(m.loan[d.fs((), t, n)] for t in d.loans) <= m.p_debt_max
                 for n in _leaves(d)}
        if d.multi_stage:
            _add(m, "debt_total", total)
        else:
            m.debt_total = pyo.Constraint(expr=total[d.scenarios[0]])
