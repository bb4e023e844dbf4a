"""Decision variables, sparse: each exists only where the instance gives it meaning.

Names and symbols follow docs/formulation.md. Bounds come from the data (no arbitrary big-M).
"""

from __future__ import annotations

from typing import Any

import pyomo.core as pyo

from .data import ModelData

__all__ = ["define_sets", "define_variables", "op_index"]


def define_sets(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Index sets: T periods, S sites, R sources, A arcs, C contracts, B price blocks and
    the sparse pairs."""
    m.T = pyo.Set(initialize=d.periods, ordered=True)
    m.S = pyo.Set(initialize=list(d.sites), ordered=True)
    m.S_btc = pyo.Set(initialize=d.btc_sites, ordered=True)
    m.S_exp = pyo.Set(initialize=d.exp_sites, ordered=True)
    m.S_ai = pyo.Set(initialize=d.ai_sites, ordered=True)
    m.S_hall = pyo.Set(initialize=d.hall_sites, ordered=True)
    m.S_fix = pyo.Set(initialize=d.fixed_capex_sites, ordered=True)
    m.S_grid = pyo.Set(initialize=list(d.grid_price), ordered=True)
    m.R = pyo.Set(initialize=d.sources, ordered=True)
    m.B = pyo.Set(initialize=d.blocks, ordered=True)
    m.S_dr = pyo.Set(initialize=d.dr_sites, ordered=True)
    m.A = pyo.Set(initialize=list(range(len(d.arcs))), ordered=True)
    m.C = pyo.Set(initialize=list(d.contracts), ordered=True)
    m.C_uses = pyo.Set(initialize=d.uses_contracts, ordered=True)
    m.CT = pyo.Set(dimen=2, ordered=True,
                   initialize=[(c, t) for c in d.contracts for t in d.active[c]])
    m.CS = pyo.Set(dimen=2, ordered=True,
                   initialize=[(c, s) for c in d.contracts for s in d.eligible[c]])
    m.CS_uses = pyo.Set(dimen=2, ordered=True,
                        initialize=[(c, s) for c in d.uses_contracts for s in d.eligible[c]])
    m.CST = pyo.Set(dimen=3, ordered=True, initialize=[
        (c, s, t) for c in d.contracts for s in d.eligible[c] for t in d.active[c]
    ])
    m.T_loan = pyo.Set(initialize=list(d.loans), ordered=True)
    m.W = pyo.Set(initialize=d.scenarios, ordered=True)


def op_index(m: pyo.ConcreteModel, d: ModelData, head: Any) -> tuple[Any, ...]:
    """Index sets of an operational variable or row: (head, T, B), or (head, T, W, B) with
    scenarios (spec v2 B: hashing, imports, output, flows and DR are per scenario)."""
    return (head, m.T, m.W, m.B) if d.by_scenario else (head, m.T, m.B)


def _fs_set(d: ModelData, sites: list[str]) -> pyo.Set:
    """Index (s, t, node) of a first-stage site variable under multi_stage: one copy per
    node of period t, i.e. per group of scenarios sharing their data up to t."""
    keys = [(s, t, n) for s in sites for t in d.periods for n in d.nodes(t)]
    return pyo.Set(dimen=3, initialize=keys, ordered=True)


def define_variables(m: pyo.ConcreteModel, d: ModelData) -> None:
    """Variables with data-derived bounds (MW, IT MW, counts, binaries), read from the Params."""
    m.btc_mw = pyo.Var(*op_index(m, d, m.S_btc), domain=pyo.NonNegativeReals,
                       bounds=lambda m, s, *tb: (0.0, m.p_btc_upper[s]))
    if d.multi_stage:
        m.FS_exp = _fs_set(d, d.exp_sites)
        m.FS_hall = _fs_set(d, d.hall_sites)
        m.FS_fix = _fs_set(d, d.fixed_capex_sites)
        m.buy_mw = pyo.Var(m.FS_exp, domain=pyo.NonNegativeReals,
                           bounds=lambda m, s, *tn: (0.0, m.p_exp_max[s]))
        m.halls = pyo.Var(m.FS_hall, domain=pyo.NonNegativeIntegers,
                          bounds=lambda m, s, *tn: (0, m.p_hall_max[s]))
        m.first_hall = pyo.Var(m.FS_fix, domain=pyo.Binary)
    else:
        m.buy_mw = pyo.Var(m.S_exp, m.T, domain=pyo.NonNegativeReals,
                           bounds=lambda m, s, t: (0.0, m.p_exp_max[s]))
        m.halls = pyo.Var(m.S_hall, m.T, domain=pyo.NonNegativeIntegers,
                          bounds=lambda m, s, t: (0, m.p_hall_max[s]))
        m.first_hall = pyo.Var(m.S_fix, m.T, domain=pyo.Binary)
    m.accept = pyo.Var(m.C, domain=pyo.Binary)
    m.it_mw = pyo.Var(m.C, domain=pyo.NonNegativeReals,
                      bounds=lambda m, c: (0.0, m.p_it_max[c]))
    if d.multi_stage:
        m.T_node = pyo.Set(dimen=2, ordered=True, initialize=[
            (t, n) for t in d.periods for n in d.nodes(t)])
        # serve exists only in a contract's active periods
        m.CST_node = pyo.Set(dimen=4, ordered=True, initialize=[
            (c, s, t, n) for (c, s, t) in m.CST for n in d.nodes(t)])
    m.serve = pyo.Var(m.CST_node if d.multi_stage else m.CST, domain=pyo.NonNegativeReals,
                      bounds=lambda m, c, s, *tn: (0.0, m.p_serve_upper[c, s]))
    m.uses = pyo.Var(m.CS_uses, domain=pyo.Binary)
    m.grid_mw = pyo.Var(*op_index(m, d, m.S_grid), domain=pyo.NonNegativeReals,
                        bounds=lambda m, s, *tb: (0.0, m.p_grid_cap[s]))
    m.gen_mw = pyo.Var(*op_index(m, d, m.R), domain=pyo.NonNegativeReals,
                       bounds=lambda m, r, t, *b: (0.0, m.p_src_cap[r, t]))
    m.flow_mw = pyo.Var(*op_index(m, d, m.A), domain=pyo.NonNegativeReals,
                        bounds=lambda m, a, *tb: (0.0, m.p_arc_cap[a]))
    # Gross site MW standing ready to shed in block b (spec v2 C), bounded by max_mw.
    m.dr_mw = pyo.Var(*op_index(m, d, m.S_dr), domain=pyo.NonNegativeReals,
                      bounds=lambda m, s, *tb: (0.0, m.p_dr_max[s]))
    # MUSD drawn at the start of t; bounded by loan-to-cost rows (define_debt_constraints).
    if d.multi_stage:
        m.T_loan_node = pyo.Set(dimen=2, ordered=True, initialize=[
            (t, n) for t in d.loans for n in d.nodes(t)])
    m.loan = pyo.Var(m.T_loan_node if d.multi_stage else m.T_loan,
                     domain=pyo.NonNegativeReals)
    if d.by_scenario:
        # CVaR auxiliaries (spec v2 B): eta free, shortfall[w] >= eta - npv[w]
        m.npv_scenario = pyo.Var(m.W, domain=pyo.Reals)
        m.eta = pyo.Var(domain=pyo.Reals)
        m.shortfall = pyo.Var(m.W, domain=pyo.NonNegativeReals)
    for c, con in d.contracts.items():
        if con.committed:
            m.accept[c].fix(1)
