"""The objective: maximise NPV (in MUSD inside the model).

NPV = sum_t [ (BTC_t + AI_t + ER_t - ENERGY_t - OPEX_t) * delta^op_t
              - (CAPEX_t - TC_t) * delta^cap_t + lambda^loan_t loan[t] ] + TV
with delta^op_t = (1+r)^-(t*ypp) and delta^cap_t = (1+r)^-((t-1)*ypp); ER (energy
recovery), TC (tenant capex) and TV (contract tail) from spec v2 A, loans from v2 D.

With scenarios (spec v2 B) NPV_w is that sum in scenario w, held by npv_scenario[w], and

max (1 - lambda) sum_w p_w npv_scenario[w]
    + lambda ( eta - 1/(1 - alpha) sum_w p_w shortfall[w] )
cvar_shortfall[w]:  shortfall[w] >= eta - npv_scenario[w],  shortfall[w] >= 0
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pyomo.core as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from .data import ModelData
from .expressions import (
    Term,
    available_terms,
    capex_terms,
    tenant_capex_terms,
    terminal_value_terms,
)

__all__ = ["define_objective", "operating_cash", "scenario_npv"]


class _Linear:
    """constant + sum_v coef_v v with one coefficient per variable.

    The NPV's terms are merged as they are added (halls[s,tau] appears in every later
    period's available[s,t]), so the standard-form compiler walks one flat sum of distinct
    variables instead of nested products of sums. A coefficient stays a Param expression
    when the model's parameters are mutable."""

    def __init__(self) -> None:
        self.constant: Any = 0.0
        self.coefs: dict[int, Any] = {}
        self.vars: dict[int, Any] = {}

    def add(self, scale: Any, terms: Iterable[Term]) -> None:
        coefs, variables = self.coefs, self.vars
        for c, v in terms:
            k = id(v)
            before = coefs.get(k)
            if before is None:
                coefs[k] = scale * c
                variables[k] = v
            else:
                coefs[k] = before + scale * c

    def expression(self) -> Any:
        return LinearExpression(constant=self.constant, linear_coefs=list(self.coefs.values()),
                                linear_vars=list(self.vars.values()))


def operating_cash(
    m: pyo.ConcreteModel, d: ModelData, t: int, serves: list[tuple[str, str]] | None = None,
    w: str | None = None,
) -> tuple[list[Any], list[Term]]:
    """BTC_t + AI_t + ER_t + DR_t - ENERGY_t - OPEX_t of period t, in MUSD (undiscounted),
    as (constants, (coefficient, variable) pairs).

    (each block b weighted by its hours share w_b; one block of share 1 without blocks)
    BTC_t    = sum_{s,b} w_b h_t (1000 / e_s) u_s D btc_mw[s,t,b]
    AI_t     = sum_{c,s} rho_c (1+g_c)^((t - t0_c) ypp) 12000 ypp serve[c,s,t]
    ER_t     = sum_{c,s} er_c[t] P^a_s H serve[c,s,t]           (spec v2 A)
    ENERGY_t = H sum_b w_b ( sum_s p_stb grid_mw[s,t,b] + sum_r p_rtb gen_mw[r,t,b] )
    OPEX_t   = ypp sum_s ( o^b_s sum_b w_b btc_mw[s,t,b] + o^a_s available[s,t] )
    DR_t     = ypp sum_{s,b} w_b c^dr_s dr_mw[s,t,b]                (spec v2 C)
    (BTC revenue and BTC opex share one coefficient per MW: p_btc_margin.)
    """
    if serves is None:
        serves = [(c, s) for c, s, tt in m.CST if tt == t]
    if w is None:
        w = d.scenarios[0]
    h = m.p_share
    wk = (w,) if d.by_scenario else ()  # the scenario in operational keys
    nk = (d.node[t, w],) if d.multi_stage else ()  # the node in first-stage keys
    B = d.blocks
    terms: list[Term] = [(h[b] * m.p_btc_margin[(s, t, *wk)], m.btc_mw[(s, t, *wk, b)])
                         for s in d.btc_sites for b in B]
    recovery = set(d.recovery_contracts)  # AI revenue and energy recovery: one coefficient
    terms += [(m.p_ai_rev[c, t] + m.p_er_rev[c, t] * m.p_ai_pue[s] if c in recovery
               else m.p_ai_rev[c, t], m.serve[(c, s, t, *nk)]) for c, s in serves]
    terms += [(-h[b] * m.p_grid_cost[(s, t, *wk, b)], m.grid_mw[(s, t, *wk, b)])
              for s in d.grid_price for b in B]
    terms += [(-h[b] * m.p_src_cost[(r, t, *wk, b)], m.gen_mw[(r, t, *wk, b)])
              for r in d.sources for b in B]
    terms += [(h[b] * m.p_dr_credit[s], m.dr_mw[(s, t, *wk, b)])
              for s in d.dr_sites for b in B]
    constants: list[Any] = []
    for s in d.ai_sites:
        opex = m.p_ai_opex[s]
        existing, halls = available_terms(m, d, s, t, w)
        constants.append(-opex * existing)
        terms += [(-opex * c, v) for c, v in halls]
    return constants, terms


def scenario_npv(m: pyo.ConcreteModel, d: ModelData, w: str,
                 by_period: dict[int, list[tuple[str, str]]] | None = None) -> Any:
    """NPV_w = sum_t [ operating_cash_t delta^op_t - (capex_t - tenant_capex_t) delta^cap_t
    + lambda^loan_t loan[t] ] + terminal_value, in scenario w (MUSD), as one linear
    expression with a coefficient per variable."""
    if by_period is None:
        by_period = defaultdict(list)
        for c, s, t in m.CST:
            by_period[t].append((c, s))
    npv = _Linear()
    for t in d.periods:
        op, cap = m.p_disc_op[t], m.p_disc_cap[t]
        constants, terms = operating_cash(m, d, t, by_period[t], w)  # distinct variables
        if constants:
            npv.constant = npv.constant + op * pyo.quicksum(constants)
        npv.add(op, terms)
        npv.add(-cap, capex_terms(m, d, t, w))
        npv.add(cap, tenant_capex_terms(m, d, t))
    npv.add(1.0, [(m.p_loan_npv[t], m.loan[d.fs((), t, w)]) for t in d.loans])
    npv.add(1.0, terminal_value_terms(m, d, w))
    return npv.expression()


def define_objective(m: pyo.ConcreteModel, d: ModelData) -> None:
    """npv:  max NPV (one scenario), or with scenarios
    max (1 - lambda) sum_w p_w npv_scenario[w]
        + lambda (eta - sum_w p_w shortfall[w] / (1 - alpha)),
    with scenario_npv[w]: npv_scenario[w] = NPV_w and
    cvar_shortfall[w]: shortfall[w] >= eta - npv_scenario[w]."""
    by_period: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for c, s, t in m.CST:
        by_period[t].append((c, s))
    if not d.by_scenario:
        m.npv = pyo.Objective(expr=scenario_npv(m, d, d.scenarios[0], by_period),
                              sense=pyo.maximize)
        return
    m.scenario_npv = pyo.Constraint(
        m.W, rule=lambda m, w: m.npv_scenario[w] == scenario_npv(m, d, w, by_period))
    m.cvar_shortfall = pyo.Constraint(
        m.W, rule=lambda m, w: m.shortfall[w] >= m.eta - m.npv_scenario[w])
    lam = m.p_cvar_weight
    expected = pyo.quicksum(m.p_prob[w] * m.npv_scenario[w] for w in m.W)
    cvar = m.eta - m.p_cvar_tail * pyo.quicksum(
        m.p_prob[w] * m.shortfall[w] for w in m.W)
    m.npv = pyo.Objective(expr=(1 - lam) * expected + lam * cvar, sense=pyo.maximize)
