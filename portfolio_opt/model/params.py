"""Model parameters: every number the model reads, computed from the data.

With ``mutable=False`` (a single solve) they are plain numbers by index
(:class:`FixedValues`), which the expressions take as constants. With ``mutable=True``
(batches) they are mutable Pyomo Params and stay symbolic, so a variant instance with the
same structure is solved by :func:`update_parameters` and an incremental re-solve instead
of a rebuild. :func:`structure_signature` says when two data sets share a structure.

Money parameters are in MUSD (model units); power in MW; per-period money rates are
already multiplied by the period length (ypp years, D days, H hours).
"""

from __future__ import annotations

import math
from typing import Any

import pyomo.core as pyo

from .data import BIG_M, MONEY_SCALE, ModelData

HALLS_NEEDED_EPS = 1e-9  # rounds h_cs down, never up, when m_c - E_s is a float multiple of B_s

__all__ = ["FixedValues", "define_parameters", "halls_needed", "param_index", "parameter_values",
           "structure_signature", "update_parameters"]

# name -> index sets (attribute names on the model); () for a scalar Param.
PARAM_INDEX: dict[str, tuple[str, ...]] = {
    "p_disc_op": ("T",),
    "p_disc_cap": ("T",),
    "p_btc_margin": ("S_btc", "T"),  # (BTC revenue - BTC opex) per hashing MW, MUSD
    "p_btc_pue": ("S_btc",),
    "p_btc_upper": ("S_btc",),
    "p_fleet": ("S_btc",),
    "p_exp_max": ("S_exp",),
    "p_exp_capex": ("S_exp",),  # MUSD per MW bought
    "p_existing": ("S_ai",),
    "p_block": ("S_ai",),
    "p_ai_pue": ("S_ai",),
    "p_ai_opex": ("S_ai",),  # MUSD per available IT MW per period
    "p_hall_max": ("S_hall",),
    "p_hall_capex": ("S_hall",),  # MUSD per hall
    "p_first_hall_m": ("S_fix",),  # N_s (or an arbitrary big-M in the weak formulation)
    "p_fixed_capex": ("S_fix",),  # MUSD once
    "p_capacity": ("S",),
    "p_grid_cap": ("S_grid",),
    "p_grid_cost": ("S_grid", "T", "B"),  # MUSD per MW imported over the whole period
    "p_src_cap": ("R", "T"),
    "p_src_cost": ("R", "T", "B"),
    "p_arc_cap": ("A",),
    "p_arc_eff": ("A",),  # 1 - loss
    "p_it_min": ("C",),
    "p_it_max": ("C",),
    "p_ai_rev": ("CT",),  # MUSD per served IT MW in t
    "p_serve_upper": ("CS",),
    "p_halls_needed": ("CS",),  # halls s must have ready by c's start if it serves c alone
    "p_room_existing": ("CS",),  # min(M_c, E_s): what s serves of c without new halls
    "p_room_block": ("CS",),  # min(M_c, B_s): what each new hall adds to it
    "p_budget": (),
    "p_budget_period": ("T",),
    "p_tenant_share": (),
    "p_max_contracts": (),
    # spec v2, part A
    "p_er_rev": ("CT",),  # MUSD per served IT MW per unit of AI PUE: recovery tariff * H
    "p_tenant_capex": ("C",),  # MUSD per contracted IT MW
    "p_tail": ("CS",),  # MUSD per IT MW served at s in the last period, discounted
    # spec v2, part D
    "p_loan_npv": ("T_loan",),  # NPV per unit borrowed at the start of t
    "p_ltc": (),
    "p_debt_max": (),  # MUSD
    # spec v2, part C
    "p_share": ("B",),  # hours share of each price block
    "p_dr_credit": ("S_dr",),  # MUSD per MW standing ready over a whole period
    "p_dr_max": ("S_dr",),
    # spec v2, part B
    "p_prob": ("W",),  # probability of each scenario
    "p_cvar_weight": (),  # w in (1 - w) E[NPV] + w CVaR
    "p_cvar_tail": (),  # 1 / (1 - alpha)
}

# With scenarios, the parameters that carry the hashprice or energy prices gain W.
_BY_SCENARIO: dict[str, tuple[str, ...]] = {
    "p_btc_margin": ("S_btc", "T", "W"),
    "p_grid_cost": ("S_grid", "T", "W", "B"),
    "p_src_cost": ("R", "T", "W", "B"),
}


def param_index(d: ModelData) -> dict[str, tuple[str, ...]]:
    """Each Param's index sets for these data (:data:`PARAM_INDEX`, with W where the
    instance has scenarios)."""
    if not d.by_scenario:
        return PARAM_INDEX
    return {**PARAM_INDEX, **_BY_SCENARIO}


def halls_needed(d: ModelData, c: str, s: str) -> float:
    """h_cs = ceil(max(0, m_c - E_s) / B_s): the fewest halls started at s that let s serve
    m_c IT MW (contract_halls_ready); at a site that can start no hall, 1 if E_s < m_c
    (then no number of halls is enough) and 0 otherwise."""
    need = d.contracts[c].it_mw.min - d.ai(s).existing_it_mw
    if need <= HALLS_NEEDED_EPS * max(1.0, d.contracts[c].it_mw.min):
        return 0.0
    if s not in d.hall_max or d.hall_max[s] < 1:
        return 1.0
    return float(math.ceil(need / d.ai(s).block_it_mw - HALLS_NEEDED_EPS))


def parameter_values(d: ModelData) -> dict[str, dict[Any, float]]:
    """Every parameter's values, keyed like its Param (scalars under the key None)."""
    k = 1.0 / MONEY_SCALE
    T = d.periods
    v: dict[str, dict[Any, float]] = {name: {} for name in PARAM_INDEX}
    W = d.scenarios
    for t in T:
        v["p_disc_op"][t] = d.disc_op[t]
        v["p_disc_cap"][t] = d.disc_cap[t]
    for s in d.btc_sites:
        b = d.btc(s)
        v["p_btc_pue"][s] = b.pue
        v["p_btc_upper"][s] = d.btc_upper(s)
        v["p_fleet"][s] = b.fleet_mw
        for t in T:
            for w in W:
                key = d.opt(s, t, w)
                v["p_btc_margin"][key] = (d.btc_revenue[key] - d.ypp * b.opex_usd_per_mw_year) * k
    for s in d.exp_sites:
        x = d.btc(s).expansion
        assert x is not None
        v["p_exp_max"][s] = x.max_mw
        v["p_exp_capex"][s] = x.capex_usd_per_mw * k
    for s in d.ai_sites:
        ai = d.ai(s)
        v["p_existing"][s] = ai.existing_it_mw
        v["p_block"][s] = ai.block_it_mw
        v["p_ai_pue"][s] = ai.pue
        v["p_ai_opex"][s] = d.ypp * ai.opex_usd_per_it_mw_year * k
    for s in d.hall_sites:
        ai = d.ai(s)
        v["p_hall_max"][s] = d.hall_max[s]
        v["p_hall_capex"][s] = ai.capex_usd_per_it_mw * ai.block_it_mw * k
    strong = d.formulation.data_bounds
    for s in d.fixed_capex_sites:
        v["p_fixed_capex"][s] = d.ai(s).fixed_capex_usd * k
        v["p_first_hall_m"][s] = d.hall_max[s] if strong else BIG_M
    for s, site in d.sites.items():
        v["p_capacity"][s] = site.capacity_mw
    for s, price in d.grid_price.items():
        grid = d.sites[s].grid
        assert grid is not None
        v["p_grid_cap"][s] = grid.capacity_mw
        for (t, blk), p in price.items():
            for w in W:
                v["p_grid_cost"][d.op(s, t, w, blk)] = d.hours * p * d.energy_scale[t, w] * k
    for r in d.sources:
        for t in T:
            v["p_src_cap"][r, t] = d.source_cap[r][t]
        for (t, blk), p in d.source_price[r].items():
            for w in W:
                v["p_src_cost"][d.op(r, t, w, blk)] = d.hours * p * d.energy_scale[t, w] * k
    for i, arc in enumerate(d.arcs):
        v["p_arc_cap"][i] = arc.capacity_mw
        v["p_arc_eff"][i] = 1.0 - arc.loss
    room = d.formulation.valid_inequalities and d.formulation.site_room_cuts
    for c, con in d.contracts.items():
        v["p_it_min"][c] = con.it_mw.min
        v["p_it_max"][c] = con.it_mw.max
        for t in d.active[c]:
            v["p_ai_rev"][c, t] = d.ai_revenue[c, t] * k
        for s in d.eligible[c]:
            v["p_serve_upper"][c, s] = (
                min(con.it_mw.max, d.serve_site_upper(s)) if strong else BIG_M
            )
            v["p_halls_needed"][c, s] = halls_needed(d, c, s)
            if room:  # only read by contract_site_room
                ai = d.ai(s)
                v["p_room_existing"][c, s] = min(con.it_mw.max, ai.existing_it_mw)
                v["p_room_block"][c, s] = min(con.it_mw.max, ai.block_it_mw)
    lim = d.instance.limits
    v["p_budget"][None] = (lim.capex_budget_usd or 0.0) * k
    per = lim.capex_budget_usd_per_period
    budgets = d.instance.series(per) if per is not None else [0.0] * len(T)
    for t, limit in zip(T, budgets, strict=True):
        v["p_budget_period"][t] = limit * k
    v["p_tenant_share"][None] = lim.max_tenant_share if lim.max_tenant_share is not None else 1.0
    v["p_max_contracts"][None] = float(lim.max_contracts or 0)
    for (c, t), tariff in d.energy_recovery.items():
        v["p_er_rev"][c, t] = d.hours * tariff * k
    for c, con in d.contracts.items():
        v["p_tenant_capex"][c] = con.tenant_capex_usd_per_it_mw * k
    for key, value in d.tail_value.items():
        v["p_tail"][key] = value * k
    for t, loan in d.loans.items():
        v["p_loan_npv"][t] = loan.npv
    for blk in d.blocks:
        v["p_share"][blk] = d.share[blk]
    for s in d.dr_sites:
        dr = d.btc(s).demand_response
        assert dr is not None
        v["p_dr_credit"][s] = d.ypp * dr.credit_usd_per_mw_year * k
        v["p_dr_max"][s] = dr.max_mw
    for w in W:
        v["p_prob"][w] = d.probability[w]
    u = d.instance.uncertainty
    v["p_cvar_weight"][None] = u.risk.cvar_weight if u is not None else 0.0
    v["p_cvar_tail"][None] = 1.0 / (1.0 - u.risk.cvar_alpha) if u is not None else 1.0
    debt = d.debt
    v["p_ltc"][None] = debt.max_loan_to_cost if debt is not None else 0.0
    v["p_debt_max"][None] = (debt.max_total_usd or 0.0) * k if debt is not None else 0.0
    return v


class FixedValues(dict[Any, float]):
    """An immutable parameter of a single-solve model: its values by index, 0.0 where the
    data give none (as ``Param(default=0.0)``).

    ``m.p_x[k]`` of an immutable Pyomo Param returns the plain number too, so the rules
    read both alike; constructing the Param components cost 6-10 % of build + hand-off at
    5,000 sites (docs/performance.md), for values Pyomo would only inline.
    """

    mutable = False

    def __missing__(self, key: Any) -> float:
        return 0.0


def define_parameters(m: pyo.ConcreteModel, d: ModelData, mutable: bool = False) -> None:
    """Every parameter on the model (after the sets): Pyomo Params with ``mutable=True``
    (updated between re-solves), plain numbers (:class:`FixedValues`, scalars as floats)
    for a single solve."""
    values = parameter_values(d)
    for name, index in param_index(d).items():
        vals = values[name]
        if not mutable:
            object.__setattr__(m, name, vals[None] if not index else FixedValues(vals))
            continue
        if not index:
            param = pyo.Param(initialize=vals[None], mutable=mutable, within=pyo.Any)
        else:
            sets = [getattr(m, i) for i in index]
            param = pyo.Param(*sets, initialize=vals, mutable=mutable, within=pyo.Any,
                              default=0.0)
        setattr(m, name, param)


def update_parameters(m: pyo.ConcreteModel, d: ModelData) -> int:
    """Write a same-structure variant's values into a mutable model; returns values changed."""
    changed = 0
    index = param_index(d)
    for name, vals in parameter_values(d).items():
        param = getattr(m, name)
        if not index[name]:
            if pyo.value(param) != vals[None]:
                param.set_value(vals[None])
                changed += 1
            continue
        for key, x in vals.items():
            p = param[key]
            if p.value != x:
                p.set_value(x)
                changed += 1
    return changed


def structure_signature(d: ModelData) -> tuple[Any, ...]:
    """Everything that shapes the model besides parameter values.

    Two data sets with equal signatures build models with the same variables, constraints
    and nonzero pattern, so one can be turned into the other by :func:`update_parameters`.
    """
    lim = d.instance.limits
    contracts = tuple(
        (c, con.tenant, con.committed, con.max_sites, con.it_mw.min > 0, con.allocation,
         tuple(d.active[c]), d.eligible[c])
        for c, con in d.contracts.items()
    )
    return (
        d.formulation,
        tuple(d.periods),
        tuple(d.sites),
        tuple(d.btc_sites),
        tuple(d.exp_sites),
        tuple(d.ai_sites),
        tuple(d.hall_sites),
        tuple(d.fixed_capex_sites),
        tuple(d.grid_price),
        tuple(d.sources),
        tuple(d.blocks),
        tuple(d.dr_sites),
        tuple((a.link, a.tail, a.head) for a in d.arcs),
        tuple((s, d.ai(s).lead_time_periods) for s in d.ai_sites),
        contracts,
        tuple(d.uses_contracts),
        lim.capex_budget_usd is not None,
        lim.capex_budget_usd_per_period is not None,
        lim.max_tenant_share is not None and lim.max_tenant_share < 1.0,
        lim.max_contracts is not None,
        tuple(d.recovery_contracts),
        tuple((c, d.contracts[c].tenant_capex_at) for c in d.tenant_capex_contracts),
        tuple(d.groups.items()),
        tuple(d.fixed_contracts),
        tuple(d.tail_value),
        tuple(d.loans),
        d.debt is not None and d.debt.max_total_usd is not None,
        tuple(d.scenarios) if d.by_scenario else None,
        tuple(sorted(d.node.items())) if d.multi_stage else None,
    )
