"""Linear expressions shared by several constraint families and the objective.

reserved[s,t]  = E_s + B_s * sum_{tau <= t} halls[s,tau]
available[s,t] = E_s + B_s * sum_{tau <= t - L_s} halls[s,tau]
capex[t]       = (K_s B_s halls[s,t] + F_s first_hall[s,t] + X_s buy_mw[s,t]) / MONEY_SCALE
"""

from __future__ import annotations

from typing import Any

import pyomo.environ as pyo

from .data import MONEY_SCALE, ModelData

__all__ = ["available", "capex", "fleet", "reserved"]


def _halls_upto(m: pyo.ConcreteModel, d: ModelData, s: str, last: int) -> Any:
    if s not in d.hall_max or d.hall_max[s] < 1:
        return 0.0
    return pyo.quicksum(m.halls[s, tau] for tau in d.periods if tau <= last)


def reserved(m: pyo.ConcreteModel, d: ModelData, s: str, t: int) -> Any:
    """IT MW reserved at s in t: existing halls plus every hall started up to t."""
    a = d.ai(s)
    return a.existing_it_mw + a.block_it_mw * _halls_upto(m, d, s, t)


def available(m: pyo.ConcreteModel, d: ModelData, s: str, t: int) -> Any:
    """IT MW ready to serve at s in t: halls started at least lead_time_periods earlier."""
    a = d.ai(s)
    return a.existing_it_mw + a.block_it_mw * _halls_upto(m, d, s, t - a.lead_time_periods)


def fleet(m: pyo.ConcreteModel, d: ModelData, s: str, t: int) -> Any:
    """ASIC MW installed at s in t: initial fleet plus purchases up to and including t."""
    bought = 0.0
    if s in d.exp_sites:
        bought = pyo.quicksum(m.buy_mw[s, tau] for tau in d.periods if tau <= t)
    return d.btc(s).fleet_mw + bought


def capex(m: pyo.ConcreteModel, d: ModelData, t: int) -> Any:
    """Capex started in period t, in MUSD (undiscounted)."""
    terms = []
    for s in d.hall_sites:
        a = d.ai(s)
        terms.append(a.capex_usd_per_it_mw * a.block_it_mw / MONEY_SCALE * m.halls[s, t])
    for s in d.fixed_capex_sites:
        terms.append(d.ai(s).fixed_capex_usd / MONEY_SCALE * m.first_hall[s, t])
    for s in d.exp_sites:
        x = d.btc(s).expansion
        assert x is not None
        terms.append(x.capex_usd_per_mw / MONEY_SCALE * m.buy_mw[s, t])
    return pyo.quicksum(terms)
