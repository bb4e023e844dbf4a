"""Linear expressions shared by several constraint families and the objective.

reserved[s,t]  = E_s + B_s * sum_{tau <= t} halls[s,tau]
available[s,t] = E_s + B_s * sum_{tau <= t - L_s} halls[s,tau]
capex[t]       = ai_capex[t] + chi_s buy_mw[s,t]                                   (MUSD)
ai_capex[t]    = K_s B_s halls[s,t] + Phi_s first_hall[s,t]
tenant_capex[t] = sum_{c : tau_c = t} kappa_c it_mw[c]
terminal_value = sum_{c,s} V_cs serve[c,s,P]

Each takes the scenario w: under multi_stage the first-stage variables of period t are
those of w's node in t (data.ModelData.fs); otherwise w changes nothing.
"""

from __future__ import annotations

from typing import Any

import pyomo.core as pyo

from .data import ModelData

__all__ = [
    "ai_capex",
    "available",
    "capex",
    "equity_capex",
    "fleet",
    "reserved",
    "tenant_capex",
    "terminal_value",
]


def _halls_upto(m: pyo.ConcreteModel, d: ModelData, s: str, last: int, w: str) -> Any:
    if s not in d.hall_max or d.hall_max[s] < 1:
        return 0.0
    halls = m.halls
    return pyo.quicksum(halls[k] for k in d.fs_upto((s,), last, w))


def reserved(m: pyo.ConcreteModel, d: ModelData, s: str, t: int, w: str) -> Any:
    """IT MW reserved at s in t: existing halls plus every hall started up to t."""
    return m.p_existing[s] + m.p_block[s] * _halls_upto(m, d, s, t, w)


def available(m: pyo.ConcreteModel, d: ModelData, s: str, t: int, w: str) -> Any:
    """IT MW ready to serve at s in t: halls started at least lead_time_periods earlier."""
    lead = d.ai(s).lead_time_periods
    return m.p_existing[s] + m.p_block[s] * _halls_upto(m, d, s, t - lead, w)


def fleet(m: pyo.ConcreteModel, d: ModelData, s: str, t: int, w: str) -> Any:
    """ASIC MW installed at s in t: initial fleet plus purchases up to and including t."""
    bought: Any = 0.0
    if s in m.S_exp:
        buy = m.buy_mw
        bought = pyo.quicksum(buy[k] for k in d.fs_upto((s,), t, w))
    return m.p_fleet[s] + bought


def _node(d: ModelData, t: int, w: str) -> tuple[str, ...]:
    """The node suffix of first-stage keys of period t: (node,) under multi_stage, else ()."""
    return (d.node[t, w],) if d.multi_stage else ()


def _ai_capex_terms(m: pyo.ConcreteModel, d: ModelData, t: int, w: str) -> list[Any]:
    nk = _node(d, t, w)
    terms = [m.p_hall_capex[s] * m.halls[(s, t, *nk)] for s in d.hall_sites]
    terms += [m.p_fixed_capex[s] * m.first_hall[(s, t, *nk)] for s in d.fixed_capex_sites]
    return terms


def ai_capex(m: pyo.ConcreteModel, d: ModelData, t: int, w: str) -> Any:
    """AI capex started in period t (halls and first-hall charges), MUSD: what lenders
    lend against (spec v2 D)."""
    return pyo.quicksum(_ai_capex_terms(m, d, t, w))


def capex(m: pyo.ConcreteModel, d: ModelData, t: int, w: str) -> Any:
    """Capex started in period t, in MUSD (undiscounted)."""
    terms = _ai_capex_terms(m, d, t, w)
    nk = _node(d, t, w)
    terms += [m.p_exp_capex[s] * m.buy_mw[(s, t, *nk)] for s in d.exp_sites]
    return pyo.quicksum(terms)


def tenant_capex(m: pyo.ConcreteModel, d: ModelData, t: int) -> Any:
    """Tenants' contributions paid in period t, MUSD (spec v2 A)."""
    return pyo.quicksum(
        m.p_tenant_capex[c] * m.it_mw[c]
        for c in d.tenant_capex_contracts if d.contracts[c].tenant_capex_at == t
    )


def equity_capex(m: pyo.ConcreteModel, d: ModelData, t: int, w: str) -> Any:
    """capex[t] - tenant_capex[t] - loan[t]: what the capex budgets bound (v2 A and D)."""
    loan = m.loan[d.fs((), t, w)] if t in d.loans else 0.0
    return capex(m, d, t, w) - tenant_capex(m, d, t) - loan


def terminal_value(m: pyo.ConcreteModel, d: ModelData, w: str) -> Any:
    """TV = sum_{c,s} V_cs serve[c,s,P], V_cs the discounted tail per IT MW (spec v2 A)."""
    last = d.periods[-1]
    nk = _node(d, last, w)
    return pyo.quicksum(m.p_tail[c, s] * m.serve[(c, s, last, *nk)] for c, s in d.tail_value)
