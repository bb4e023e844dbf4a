"""The objective: maximise NPV (in MUSD inside the model).

NPV = sum_t [ (BTC_t + AI_t + ER_t - ENERGY_t - OPEX_t) * delta^op_t
              - (CAPEX_t - TC_t) * delta^cap_t + lambda^loan_t loan[t] ] + TV
with delta^op_t = (1+r)^-(t*ypp) and delta^cap_t = (1+r)^-((t-1)*ypp); ER (energy
recovery), TC (tenant capex) and TV (contract tail) from spec v2 A, loans from v2 D.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyomo.core as pyo

from .data import ModelData
from .expressions import available, capex, tenant_capex, terminal_value

__all__ = ["define_objective", "operating_cash"]


def operating_cash(
    m: pyo.ConcreteModel, d: ModelData, t: int, serves: list[tuple[str, str]] | None = None
) -> Any:
    """BTC_t + AI_t + ER_t + DR_t - ENERGY_t - OPEX_t of period t, in MUSD (undiscounted).

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
    w = m.p_share
    terms: list[Any] = [w[b] * m.p_btc_margin[s, t] * m.btc_mw[s, t, b]
                        for s in d.btc_sites for b in d.blocks]
    terms += [m.p_ai_rev[c, t] * m.serve[c, s, t] for c, s in serves]
    recovery = set(d.recovery_contracts)
    terms += [m.p_er_rev[c, t] * m.p_ai_pue[s] * m.serve[c, s, t]
              for c, s in serves if c in recovery]
    terms += [-w[b] * m.p_grid_cost[s, t, b] * m.grid_mw[s, t, b]
              for s in d.grid_price for b in d.blocks]
    terms += [-w[b] * m.p_src_cost[r, t, b] * m.gen_mw[r, t, b]
              for r in d.sources for b in d.blocks]
    terms += [w[b] * m.p_dr_credit[s] * m.dr_mw[s, t, b] for s in d.dr_sites for b in d.blocks]
    terms += [-m.p_ai_opex[s] * available(m, d, s, t) for s in d.ai_sites]
    return pyo.quicksum(terms)


def define_objective(m: pyo.ConcreteModel, d: ModelData) -> None:
    """npv:  max sum_t [ operating_cash_t delta^op_t - (capex_t - tenant_capex_t) delta^cap_t
    + lambda^loan_t loan[t] ] + terminal_value   (MUSD)."""
    by_period: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for c, s, t in m.CST:
        by_period[t].append((c, s))
    m.npv = pyo.Objective(
        expr=pyo.quicksum(
            m.p_disc_op[t] * operating_cash(m, d, t, by_period[t])
            - m.p_disc_cap[t] * (capex(m, d, t) - tenant_capex(m, d, t))
            for t in d.periods
        )
        + pyo.quicksum(m.p_loan_npv[t] * m.loan[t] for t in m.T_loan)
        + terminal_value(m, d),
        sense=pyo.maximize,
    )
