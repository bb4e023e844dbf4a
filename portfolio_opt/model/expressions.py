"""Linear expressions shared by several constraint families and the objective.

reserved[s,t]  = E_s + B_s * sum_{tau <= t} halls[s,tau]
available[s,t] = E_s + B_s * sum_{tau <= t - L_s} halls[s,tau]
capex[t]       = ai_capex[t] + chi_s buy_mw[s,t]                                   (MUSD)
ai_capex[t]    = K_s B_s halls[s,t] + Phi_s first_hall[s,t]
tenant_capex[t] = sum_{c : tau_c = t} kappa_c it_mw[c]
terminal_value = sum_{c,s} V_cs serve[c,s,P]

Each takes the scenario w: under multi_stage the first-stage variables of period t are
those of w's node in t (data.ModelData.fs); otherwise w changes nothing. The ``*_terms``
forms give the same sums as (coefficient, variable) pairs, which the objective merges into
one coefficient per variable (objective.py).
"""

from __future__ import annotations

from typing import Any

import pyomo.core as pyo

from .data import ModelData

__all__ = [
    "Term",
    "ai_capex",
    "available",
    "available_terms",
    "capex",
    "capex_terms",
    "equity_capex",
    "fleet",
    "linear",
    "reserved",
    "reserved_terms",
    "tenant_capex",
    "tenant_capex_terms",
    "terminal_value",
    "terminal_value_terms",
]

# (coefficient, variable): the coefficient a number, or a Param expression when the model
# keeps its parameters mutable.
Term = tuple[Any, Any]


def _halls_upto_vars(m: pyo.ConcreteModel, d: ModelData, s: str, last: int,
                     w: str) -> list[Any]:
    if s not in d.hall_max or d.hall_max[s] < 1:
        return []
    halls = m.halls
    return [halls[k] for k in d.fs_upto((s,), last, w)]


def linear(constant: Any, terms: list[Term]) -> Any:
    """constant + sum c v as one flat sum: the compiler reads it without descending into
    products of sums."""
    return pyo.quicksum([c * v for c, v in terms], start=constant) if terms else constant


def reserved_terms(m: pyo.ConcreteModel, d: ModelData, s: str, t: int,
                   w: str) -> tuple[Any, list[Term]]:
    """reserved[s,t] as (E_s, [(B_s, halls[s,tau]) for tau <= t])."""
    block = m.p_block[s]
    return m.p_existing[s], [(block, v) for v in _halls_upto_vars(m, d, s, t, w)]


def reserved(m: pyo.ConcreteModel, d: ModelData, s: str, t: int, w: str) -> Any:
    """IT MW reserved at s in t: existing halls plus every hall started up to t."""
    return linear(*reserved_terms(m, d, s, t, w))


def available(m: pyo.ConcreteModel, d: ModelData, s: str, t: int, w: str) -> Any:
    """IT MW ready to serve at s in t: halls started at least lead_time_periods earlier."""
    return linear(*available_terms(m, d, s, t, w))


def available_terms(m: pyo.ConcreteModel, d: ModelData, s: str, t: int,
                    w: str) -> tuple[Any, list[Term]]:
    """available[s,t] as (E_s, [(B_s, halls[s,tau]) for tau <= t - L_s])."""
    lead = d.ai(s).lead_time_periods
    block = m.p_block[s]
    return m.p_existing[s], [(block, v) for v in _halls_upto_vars(m, d, s, t - lead, w)]


def fleet(m: pyo.ConcreteModel, d: ModelData, s: str, t: int, w: str) -> Any:
    """ASIC MW installed at s in t: initial fleet plus purchases up to and including t."""
    if s not in m.S_exp:
        return m.p_fleet[s]
    buy = m.buy_mw
    return pyo.quicksum([buy[k] for k in d.fs_upto((s,), t, w)], start=m.p_fleet[s])


def _node(d: ModelData, t: int, w: str) -> tuple[str, ...]:
    """The node suffix of first-stage keys of period t: (node,) under multi_stage, else ()."""
    return (d.node[t, w],) if d.multi_stage else ()


def _ai_capex_terms(m: pyo.ConcreteModel, d: ModelData, t: int, w: str) -> list[Term]:
    nk = _node(d, t, w)
    terms = [(m.p_hall_capex[s], m.halls[(s, t, *nk)]) for s in d.hall_sites]
    terms += [(m.p_fixed_capex[s], m.first_hall[(s, t, *nk)]) for s in d.fixed_capex_sites]
    return terms


def ai_capex(m: pyo.ConcreteModel, d: ModelData, t: int, w: str) -> Any:
    """AI capex started in period t (halls and first-hall charges), MUSD: what lenders
    lend against (spec v2 D)."""
    return linear(0.0, _ai_capex_terms(m, d, t, w))


def capex_terms(m: pyo.ConcreteModel, d: ModelData, t: int, w: str) -> list[Term]:
    """capex[t] as (coefficient, variable) pairs."""
    terms = _ai_capex_terms(m, d, t, w)
    nk = _node(d, t, w)
    terms += [(m.p_exp_capex[s], m.buy_mw[(s, t, *nk)]) for s in d.exp_sites]
    return terms


def capex(m: pyo.ConcreteModel, d: ModelData, t: int, w: str) -> Any:
    """Capex started in period t, in MUSD (undiscounted)."""
    return linear(0.0, capex_terms(m, d, t, w))


def tenant_capex_terms(m: pyo.ConcreteModel, d: ModelData, t: int) -> list[Term]:
    """tenant_capex[t] as (coefficient, variable) pairs."""
    return [(m.p_tenant_capex[c], m.it_mw[c])
            for c in d.tenant_capex_contracts if d.contracts[c].tenant_capex_at == t]


def tenant_capex(m: pyo.ConcreteModel, d: ModelData, t: int) -> Any:
    """Tenants' contributions paid in period t, MUSD (spec v2 A)."""
    return linear(0.0, tenant_capex_terms(m, d, t))


def equity_capex(m: pyo.ConcreteModel, d: ModelData, t: int, w: str) -> Any:
    """capex[t] - tenant_capex[t] - loan[t]: what the capex budgets bound (v2 A and D)."""
    loan = m.loan[d.fs((), t, w)] if t in d.loans else 0.0
    return capex(m, d, t, w) - tenant_capex(m, d, t) - loan


def terminal_value_terms(m: pyo.ConcreteModel, d: ModelData, w: str) -> list[Term]:
    """TV as (coefficient, variable) pairs."""
    last = d.periods[-1]
    nk = _node(d, last, w)
    return [(m.p_tail[c, s], m.serve[(c, s, last, *nk)]) for c, s in d.tail_value]


def terminal_value(m: pyo.ConcreteModel, d: ModelData, w: str) -> Any:
    """TV = sum_{c,s} V_cs serve[c,s,P], V_cs the discounted tail per IT MW (spec v2 A)."""
    return linear(0.0, terminal_value_terms(m, d, w))
