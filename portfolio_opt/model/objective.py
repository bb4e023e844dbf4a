"""The objective: maximise NPV (in MUSD inside the model).

NPV = sum_t [ (BTC_t + AI_t - ENERGY_t - OPEX_t) * delta^op_t - CAPEX_t * delta^cap_t ]
with delta^op_t = (1+r)^-(t*ypp) and delta^cap_t = (1+r)^-((t-1)*ypp).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyomo.core as pyo

from .data import ModelData
from .expressions import available, capex

__all__ = ["define_objective", "operating_cash"]


def operating_cash(
    m: pyo.ConcreteModel, d: ModelData, t: int, serves: list[tuple[str, str]] | None = None
) -> Any:
    """BTC_t + AI_t - ENERGY_t - OPEX_t of period t, in MUSD (undiscounted).

    BTC_t    = sum_s h_t (1000 / e_s) u_s D btc_mw[s,t]
    AI_t     = sum_{c,s} rho_c (1+g_c)^((t - t0_c) ypp) 12000 ypp serve[c,s,t]
    ENERGY_t = H ( sum_s p_st grid_mw[s,t] + sum_r p_rt gen_mw[r,t] )
    OPEX_t   = ypp sum_s ( o^b_s btc_mw[s,t] + o^a_s available[s,t] )
    (BTC revenue and BTC opex share one coefficient per MW: p_btc_margin.)
    """
    if serves is None:
        serves = [(c, s) for c, s, tt in m.CST if tt == t]
    terms: list[Any] = [m.p_btc_margin[s, t] * m.btc_mw[s, t] for s in d.btc_sites]
    terms += [m.p_ai_rev[c, t] * m.serve[c, s, t] for c, s in serves]
    terms += [-m.p_grid_cost[s, t] * m.grid_mw[s, t] for s in d.grid_price]
    terms += [-m.p_src_cost[r, t] * m.gen_mw[r, t] for r in d.sources]
    terms += [-m.p_ai_opex[s] * available(m, d, s, t) for s in d.ai_sites]
    return pyo.quicksum(terms)


def define_objective(m: pyo.ConcreteModel, d: ModelData) -> None:
    """npv:  max sum_t operating_cash_t delta^op_t - capex_t delta^cap_t   (MUSD)."""
    by_period: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for c, s, t in m.CST:
        by_period[t].append((c, s))
    m.npv = pyo.Objective(
        expr=pyo.quicksum(
            m.p_disc_op[t] * operating_cash(m, d, t, by_period[t])
            - m.p_disc_cap[t] * capex(m, d, t)
            for t in d.periods
        ),
        sense=pyo.maximize,
    )
