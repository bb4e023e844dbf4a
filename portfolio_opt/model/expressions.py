"""Linear expressions shared by several constraint families and the objective.

reserved[s,t]  = E_s + B_s * sum_{tau <= t} halls[s,tau]
available[s,t] = E_s + B_s * sum_{tau <= t - L_s} halls[s,tau]
capex[t]       = K_s B_s halls[s,t] + Phi_s first_hall[s,t] + chi_s buy_mw[s,t]   (MUSD)
"""

from __future__ import annotations

from typing import Any

import pyomo.core as pyo

from .data import ModelData

__all__ = ["available", "capex", "fleet", "reserved"]


def _halls_upto(m: pyo.ConcreteModel, d: ModelData, s: str, last: int) -> Any:
    if s not in d.hall_max or d.hall_max[s] < 1:
        return 0.0
    return pyo.quicksum(m.halls[s, tau] for tau in d.periods if tau <= last)


def reserved(m: pyo.ConcreteModel, d: ModelData, s: str, t: int) -> Any:
    """IT MW reserved at s in t: existing halls plus every hall started up to t."""
    return m.p_existing[s] + m.p_block[s] * _halls_upto(m, d, s, t)


def available(m: pyo.ConcreteModel, d: ModelData, s: str, t: int) -> Any:
    """IT MW ready to serve at s in t: halls started at least lead_time_periods earlier."""
    lead = d.ai(s).lead_time_periods
    return m.p_existing[s] + m.p_block[s] * _halls_upto(m, d, s, t - lead)


def fleet(m: pyo.ConcreteModel, d: ModelData, s: str, t: int) -> Any:
    """ASIC MW installed at s in t: initial fleet plus purchases up to and including t."""
    bought: Any = 0.0
    if s in m.S_exp:
        bought = pyo.quicksum(m.buy_mw[s, tau] for tau in d.periods if tau <= t)
    return m.p_fleet[s] + bought


def capex(m: pyo.ConcreteModel, d: ModelData, t: int) -> Any:
    """Capex started in period t, in MUSD (undiscounted)."""
    terms = [m.p_hall_capex[s] * m.halls[s, t] for s in d.hall_sites]
    terms += [m.p_fixed_capex[s] * m.first_hall[s, t] for s in d.fixed_capex_sites]
    terms += [m.p_exp_capex[s] * m.buy_mw[s, t] for s in d.exp_sites]
    return pyo.quicksum(terms)
