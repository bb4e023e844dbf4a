"""An irreducible infeasible subsystem (IIS) of the LP relaxation, in the instance's words.

HiGHS computes the IIS (``iis_strategy`` from the LP, reduced to irreducible: the default
strategy only checks bounds and returns nothing for a conflict between rows). Each row and
column is translated back to its constraint family (docs/formulation.md), its entities
and the instance's numbers. The relaxation is compiled from the Pyomo model on its own,
so the solved model and its engine are only read.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .lp_copy import compile_lp, new_highs, run_highs
from .model.data import ModelData

__all__ = ["compute_iis", "describe_column", "describe_row"]

log = logging.getLogger(__name__)

# HiGHS IisStrategy bits (highspy exposes them as kIisStrategy*): from the LP, irreducible.
_IIS_STRATEGY = 2 | 4
_IIS_STATUS = {-1: "feasible", 0: "unknown", 1: "time_limit", 2: "reducible", 3: "irreducible"}
_BOUND = {1: "free", 2: "lower", 3: "upper", 4: "boxed"}

Entity = dict[str, str]


def _e(kind: str, ident: str) -> Entity:
    return {"type": kind, "id": ident}


def _names(ids: Any, limit: int = 6) -> str:
    ids = list(ids)
    text = ", ".join(f"'{i}'" for i in ids[:limit])
    return text + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _site_period(s: str, t: int, d: ModelData | None = None, b: str | None = None) -> str:
    """"site 's', period t", with the price block when the instance has several."""
    return f"site '{s}', period {t}{_block(d, b)}"


def _block(d: ModelData | None, b: str | None) -> str:
    if d is None or b is None or not d.instance.market.blocks:
        return ""
    return f", block '{b}'"


# ------------------------------------------------------------------ rows


def describe_row(d: ModelData, family: str, idx: Any) -> tuple[str, list[Entity]]:
    """Plain words for one constraint of the model, with the instance's numbers."""
    lim = d.instance.limits
    if family == "btc_fleet":
        s, t, b = idx
        return (f"{_site_period(s, t, d, b)}: hashing ASIC MW <= btc.fleet_mw "
                f"{d.btc(s).fleet_mw:g} + ASICs bought so far", [_e("site", s)])
    if family == "btc_expansion":
        x = d.btc(idx).expansion
        top = x.max_mw if x else 0.0
        return (f"site '{idx}': ASICs bought over the horizon <= btc.expansion.max_mw {top:g}",
                [_e("site", idx)])
    if family == "ai_hall_limit":
        a = d.ai(idx)
        q = d.sites[idx].capacity_mw
        return (f"site '{idx}' can start at most {d.hall_max[idx]} hall(s) of "
                f"{a.block_it_mw:g} IT MW in all (ai.max_it_mw {a.max_it_mw:g}, existing "
                f"{a.existing_it_mw:g}; capacity_mw {q:g} at ai.pue {a.pue:g})",
                [_e("site", idx)])
    if family.startswith("ai_first_hall"):
        s = idx if isinstance(idx, str) else idx[0]
        return (f"site '{s}' pays fixed_capex_usd {d.ai(s).fixed_capex_usd:,.0f} in the period "
                "its first hall starts", [_e("site", s)])
    if family in ("contract_min", "contract_max"):
        con = d.contracts[idx]
        state = "committed contract" if con.committed else "contract"
        if family == "contract_min":
            text = f"{state} '{idx}' takes at least it_mw.min {con.it_mw.min:g} IT MW"
        else:
            text = f"{state} '{idx}' takes at most it_mw.max {con.it_mw.max:g} IT MW"
        return text, [_e("contract", idx)]
    if family == "contract_serve":
        c, t = idx
        sites = d.eligible[c]
        return (f"in period {t}, contract '{c}' must be served in full by its eligible "
                f"site(s) {_names(sites)}", [_e("contract", c), *(_e("site", s) for s in sites)])
    if family.startswith("contract_site"):
        return _contract_site(d, family, idx)
    if family == "site_ai_capacity":
        s, t = idx
        a = d.ai(s)
        last = t - a.lead_time_periods
        if last < 1:
            ready = (f"existing_it_mw {a.existing_it_mw:g} only (no hall can be ready by period "
                     f"{t}: lead time {a.lead_time_periods})")
        else:
            ready = (f"existing_it_mw {a.existing_it_mw:g} + halls of {a.block_it_mw:g} started "
                     f"by period {last} (lead time {a.lead_time_periods})")
        return f"{_site_period(s, t)}: IT MW served <= available IT MW = {ready}", [_e("site", s)]
    if family == "site_envelope":
        s, t, b = idx
        parts = []
        if s in d.btc_sites:
            parts.append(f"hashing MW × btc.pue {d.btc(s).pue:g}")
        if s in d.hall_max:
            parts.append(f"reserved IT MW × ai.pue {d.ai(s).pue:g}")
        return (f"{_site_period(s, t, d, b if s in d.btc_sites else None)}: "
                f"{' + '.join(parts)} <= capacity_mw "
                f"{d.sites[s].capacity_mw:g} (halls hold their room from the period they start)",
                [_e("site", s)])
    if family == "power_balance":
        return _power_balance(d, *idx)
    if family == "capex_budget":
        return (f"total {_equity(d)} over the horizon <= limits.capex_budget_usd "
                f"{lim.capex_budget_usd:,.0f} USD", [_e("limits", "limits")])
    if family == "capex_budget_period":
        per = lim.capex_budget_usd_per_period
        budget = d.instance.series(per)[idx - 1] if per is not None else 0.0
        return (f"{_equity(d)} started in period {idx} <= limits.capex_budget_usd_per_period "
                f"{budget:,.0f} USD", [_e("limits", "limits")])
    if family == "contract_group":
        members = d.groups.get(idx, [])
        committed = [c for c in members if d.contracts[c].committed]
        text = (f"at most one contract of group '{idx}' is accepted (alternative structures "
                f"of one offer: {_names(members)})")
        if committed:
            text += f"; committed '{committed[0]}' excludes the others"
        return text, [*(_e("contract", c) for c in members)]
    if family == "contract_fixed_allocation":
        c, s, t = idx
        t0 = d.active[c][0]
        return (f"contract '{c}' has allocation: fixed: its IT MW at site '{s}' in period {t} "
                f"equals that in period {t0}", [_e("contract", c), _e("site", s)])
    if family == "debt_loan_to_cost":
        ltc = d.debt.max_loan_to_cost if d.debt is not None else 0.0
        return (f"loan drawn in period {idx} <= finance.debt.max_loan_to_cost {ltc:g} × AI "
                f"capex started in period {idx} (halls and first-hall charges)",
                [_e("finance", "debt")])
    if family == "debt_total":
        top = (d.debt.max_total_usd if d.debt is not None else None) or 0.0
        return (f"loans drawn over the horizon <= finance.debt.max_total_usd "
                f"{top:,.0f} USD", [_e("finance", "debt")])
    if family == "tenant_share":
        return (f"tenant '{idx}''s contracted IT MW <= limits.max_tenant_share "
                f"{lim.max_tenant_share:g} × all contracted IT MW", [_e("tenant", idx)])
    if family == "max_contracts":
        committed = [c for c, con in d.contracts.items() if con.committed]
        return (f"accepted contracts <= limits.max_contracts {lim.max_contracts} (committed "
                f"ones count: {_names(committed)})",
                [_e("limits", "limits"), *(_e("contract", c) for c in committed)])
    return f"{family}[{idx}]", []


def _contract_site(d: ModelData, family: str, idx: Any) -> tuple[str, list[Entity]]:
    c = idx if isinstance(idx, str) else idx[0]
    con = d.contracts[c]
    ents = [_e("contract", c)]
    if family == "contract_site_count":
        return (f"contract '{c}' is served by at most max_sites {con.max_sites} of its "
                f"eligible sites {_names(d.eligible[c])}", ents)
    if family == "contract_site_needed":
        return (f"accepted contract '{c}' is served by at least one of its eligible sites "
                f"{_names(d.eligible[c])}", ents)
    s = idx[1]
    ents.append(_e("site", s))
    if family == "contract_site_accept":
        return f"site '{s}' serves contract '{c}' only if the contract is accepted", ents
    t = idx[2]
    if family == "contract_site_floor":
        return (f"period {t}: if site '{s}' is the one site serving contract '{c}' (max_sites "
                f"1), it serves at least it_mw.min {con.it_mw.min:g} IT MW", ents)
    return (f"period {t}: site '{s}' serves contract '{c}' only if it is one of the contract's "
            f"at most max_sites {con.max_sites} sites", ents)


def _power_balance(d: ModelData, n: str, t: int, b: str) -> tuple[str, list[Entity]]:
    links = sorted({a.link for a in d.arcs if n in (a.tail, a.head)})
    ents = [_e("source" if n in d.sources else "site", n), *(_e("link", k) for k in links)]
    via = f"power links {_names(links)}" if links else "no power link"
    if n in d.sources:
        return (f"source '{n}', period {t}{_block(d, b)}: its output (capacity_mw "
                f"{d.source_cap[n][t]:g}) leaves only through {via}", ents)
    grid = d.sites[n].grid
    used = (f"{_site_period(n, t, d, b)}: power used (hashing MW × btc.pue + served IT MW "
            "× ai.pue)")
    if grid is None and not links:
        return f"{used} must come from a grid block or power links, and it has neither", ents
    supply = f"grid import (grid.capacity_mw {grid.capacity_mw:g})" if grid else "no grid"
    return (f"{used} = {supply} + power arriving through {via} after loss − power sent on",
            ents)


def _equity(d: ModelData) -> str:
    """What the budgets bound: capex, or equity capex when contributions or loans net it."""
    parts = ["capex"]
    if d.tenant_capex_contracts:
        parts.append("tenant contributions")
    if d.loans:
        parts.append("loans")
    if len(parts) == 1:
        return "capex"
    return "equity capex (" + " − ".join(parts) + ")"


# ------------------------------------------------------------------ columns


def describe_column(d: ModelData, var: str, idx: Any, bound: str) -> tuple[str, list[Entity]]:
    """Plain words for the bound of one variable that takes part in the conflict."""
    what, ents, upper = _column(d, var, idx)  # names the price block where there are several
    if bound == "lower":
        return f"{what} >= 0", ents
    if bound == "boxed":
        return f"0 <= {what} <= {upper}", ents
    return f"{what} <= {upper}", ents


def _column(d: ModelData, var: str, idx: Any) -> tuple[str, list[Entity], str]:
    if var in ("btc_mw", "buy_mw"):
        s, t = idx[:2]
        b = d.btc(s)
        if var == "btc_mw":
            return (f"{_site_period(s, t, d, idx[2])}: hashing MW", [_e("site", s)],
                    f"{d.btc_upper(s):g} (fleet + expansion, within capacity_mw)")
        top = b.expansion.max_mw if b.expansion else 0.0
        return (f"{_site_period(s, t)}: ASIC MW bought", [_e("site", s)],
                f"btc.expansion.max_mw {top:g}")
    if var in ("halls", "first_hall"):
        s, t = idx
        if var == "halls":
            return (f"{_site_period(s, t)}: halls started", [_e("site", s)],
                    f"{d.hall_max[s]} (most halls at the site)")
        return f"{_site_period(s, t)}: first hall starts (yes/no)", [_e("site", s)], "1"
    if var in ("accept", "it_mw"):
        con = d.contracts[idx]
        if var == "accept":
            return f"contract '{idx}' accepted (yes/no)", [_e("contract", idx)], "1"
        return (f"contract '{idx}' IT MW", [_e("contract", idx)],
                f"it_mw.max {con.it_mw.max:g}")
    if var == "serve":
        c, s, t = idx
        con = d.contracts[c]
        a = d.ai(s)
        halls = f"existing {a.existing_it_mw:g} + {d.hall_max[s]} hall(s) of {a.block_it_mw:g}"
        why = (f"the smaller of it_mw.max {con.it_mw.max:g} and {halls}"
               if not d.formulation.power_bounds else
               f"the smallest of it_mw.max {con.it_mw.max:g}, {halls}, and the "
               f"{d.power_in[s]:g} MW that grid and power links can bring to the site / "
               f"ai.pue {a.pue:g}")
        return (f"period {t}: IT MW of contract '{c}' served at site '{s}'",
                [_e("contract", c), _e("site", s)],
                f"{min(con.it_mw.max, d.serve_site_upper(s)):g} ({why})")
    if var == "uses":
        c, s = idx
        return (f"site '{s}' serves contract '{c}' (yes/no)",
                [_e("contract", c), _e("site", s)], "1")
    if var == "grid_mw":
        s, t, blk = idx
        grid = d.sites[s].grid
        return (f"{_site_period(s, t, d, blk)}: grid import MW", [_e("site", s)],
                f"grid.capacity_mw {grid.capacity_mw if grid else 0.0:g}")
    if var == "gen_mw":
        r, t, blk = idx
        return (f"source '{r}', period {t}{_block(d, blk)}: output MW", [_e("source", r)],
                f"capacity_mw {d.source_cap[r][t]:g}")
    if var == "flow_mw":
        a, t, blk = idx
        arc = d.arcs[a]
        return (f"power link '{arc.link}' from '{arc.tail}' to '{arc.head}', period {t}"
                f"{_block(d, blk)}: MW "
                "entering it", [_e("link", arc.link)],
                f"capacity_mw {arc.capacity_mw:g} (loss {arc.loss:g})")
    if var == "loan":
        return (f"period {idx}: loan drawn (USD)", [_e("finance", "debt")],
                "max_loan_to_cost × AI capex")
    return f"{var}[{idx}]", [], "its bound"


# ------------------------------------------------------------------ IIS


def _index_list(idx: Any) -> list[Any]:
    if idx is None:
        return []
    return list(idx) if isinstance(idx, tuple) else [idx]


def _name(family: str, idx: Any) -> str:
    parts = _index_list(idx)
    return family if not parts else f"{family}[{','.join(str(p) for p in parts)}]"


def _row_entry(d: ModelData, family: str, idx: Any, bound: str) -> dict[str, Any]:
    text, ents = describe_row(d, family, idx)
    return {"name": _name(family, idx), "family": family, "index": _index_list(idx),
            "bound": bound, "text": text, "entities": ents}


def _broken_by_fixed_values(model: Any, d: ModelData) -> list[dict[str, Any]]:
    """Constraints that fixed values alone (committed ``accept``) already violate."""
    import pyomo.environ as pyo
    from pyomo.core.expr.visitor import identify_variables

    rows = []
    for con in model.component_data_objects(pyo.Constraint, active=True):
        if any(not v.fixed for v in identify_variables(con.body)):
            continue
        body = pyo.value(con.body)
        if con.has_ub() and body > pyo.value(con.upper) + 1e-9:
            bound = "upper"
        elif con.has_lb() and body < pyo.value(con.lower) - 1e-9:
            bound = "lower"
        else:
            continue
        rows.append(_row_entry(d, con.parent_component().local_name, con.index(), bound))
    return rows


def _ray_subsystem(h: Any, lp: Any) -> tuple[Any, list[int], list[int]] | None:
    """The rows of HiGHS's Farkas certificate (dual ray) and their columns, as a small LP.

    The certificate proves infeasibility from these rows and column bounds alone, so the
    sub-LP is infeasible too, and an IIS of it is an IIS of the whole. HiGHS's own IIS
    search solves one LP per row it tries to drop (thousands on a portfolio-sized model,
    and it does not stop at time_limit); on the sub-LP it takes milliseconds.
    """
    import highspy
    import numpy as np

    st, has_ray, ray = h.getDualRay()
    if st == highspy.HighsStatus.kError or not has_ray:
        return None
    rows = np.flatnonzero(np.abs(np.asarray(ray)) > 1e-9)
    if not len(rows):
        return None
    # Keep the certificate's rows of the column-wise matrix, and the columns they touch.
    start = np.asarray(lp.a_matrix_.start_)
    index = np.asarray(lp.a_matrix_.index_)
    value = np.asarray(lp.a_matrix_.value_)
    position = np.full(lp.num_row_, -1)
    position[rows] = np.arange(len(rows))
    column = np.repeat(np.arange(lp.num_col_), np.diff(start))
    keep = position[index] >= 0
    cols = np.unique(column[keep])
    counts = np.bincount(np.searchsorted(cols, column[keep]), minlength=len(cols))
    sub = highspy.HighsLp()
    sub.num_row_, sub.num_col_ = len(rows), len(cols)
    sub.col_cost_ = np.zeros(len(cols))
    sub.col_lower_ = np.asarray(lp.col_lower_)[cols]
    sub.col_upper_ = np.asarray(lp.col_upper_)[cols]
    sub.row_lower_ = np.asarray(lp.row_lower_)[rows]
    sub.row_upper_ = np.asarray(lp.row_upper_)[rows]
    sub.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    sub.a_matrix_.start_ = np.concatenate(([0], np.cumsum(counts)))
    sub.a_matrix_.index_ = position[index[keep]]
    sub.a_matrix_.value_ = value[keep]
    sub.integrality_ = [highspy.HighsVarType.kContinuous] * len(cols)
    return sub, [int(i) for i in rows], [int(j) for j in cols]


def _solve_iis(lp: Any, options: dict[str, Any]) -> tuple[str, Any, list[int], list[int]]:
    """Solve the relaxation; if infeasible, its IIS (row and column maps into ``lp``)."""
    import highspy

    h = new_highs(options)
    # Simplex without presolve: an infeasible LP then comes with its Farkas ray.
    h.setOptionValue("presolve", "off")
    h.setOptionValue("solver", "simplex")
    h.passModel(lp)
    status = run_highs(h, options.get("threads"))
    S = highspy.HighsModelStatus
    if status == S.kOptimal:
        return "feasible", None, [], []
    if status not in (S.kInfeasible, S.kUnboundedOrInfeasible):
        log.warning("LP relaxation ended with %s; no IIS", h.modelStatusToString(status))
        return "skipped", None, [], []
    reduced = _ray_subsystem(h, lp)
    rows, cols = list(range(lp.num_row_)), list(range(lp.num_col_))
    if reduced is not None:
        sub, rows, cols = reduced
        h = new_highs(options)
        h.passModel(sub)
        if run_highs(h, options.get("threads")) not in (S.kInfeasible,
                                                         S.kUnboundedOrInfeasible):
            log.warning("the dual ray's rows are not infeasible alone; IIS of the whole LP")
            h = new_highs(options)
            h.passModel(lp)
            run_highs(h, options.get("threads"))
            rows, cols = list(range(lp.num_row_)), list(range(lp.num_col_))
    h.setOptionValue("iis_strategy", _IIS_STRATEGY)  # after a run: HiGHS needs the solve
    st, iis = h.getIis()
    if st == highspy.HighsStatus.kError or not iis.valid_:
        log.warning("HiGHS found no IIS (%s)", st)
        return "infeasible", None, rows, cols
    return "infeasible", iis, rows, cols


def compute_iis(built: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The IIS of the LP relaxation of ``built``, translated (docs/infeasibility.md).

    ``relaxation`` is ``infeasible`` with the IIS, or ``feasible`` (integer choices alone
    make the instance infeasible: there is no LP conflict to show).
    """
    import highspy
    from pyomo.common.errors import InfeasibleConstraintException

    d: ModelData = built.data
    t0 = time.perf_counter()
    out: dict[str, Any] = {"relaxation": "skipped", "status": "unknown",
                           "strategy": _IIS_STRATEGY, "seconds": 0.0, "rows": [], "columns": []}
    try:
        lp, index = compile_lp(built.pyomo)
    except InfeasibleConstraintException:
        # No variable left in a broken row: each such row is an IIS on its own.
        out.update(relaxation="infeasible", status="irreducible", strategy=0,
                   rows=_broken_by_fixed_values(built.pyomo, d))
        out["seconds"] = round(time.perf_counter() - t0, 6)
        return out
    lp.integrality_ = [highspy.HighsVarType.kContinuous] * lp.num_col_
    out["relaxation"], iis, rows, cols = _solve_iis(lp, options)
    if iis is not None:
        out["status"] = _IIS_STATUS.get(int(iis.status_), "unknown")
        out["rows"] = [
            _row_entry(d, *_key(index.row_key[rows[i]]), _BOUND.get(int(b), "free"))
            for i, b in zip(iis.row_index_, iis.row_bound_, strict=True)
        ]
        for j, b in zip(iis.col_index_, iis.col_bound_, strict=True):
            bound = _BOUND.get(int(b), "free")
            if bound == "free":  # the column takes part, its bounds do not
                continue
            var, idx = index.col_key[cols[j]]
            text, ents = describe_column(d, var, idx, bound)
            out["columns"].append({"name": _name(var, idx), "variable": var,
                                   "index": _index_list(idx), "bound": bound, "text": text,
                                   "entities": ents})
    out["seconds"] = round(time.perf_counter() - t0, 6)
    return out


def _key(key: tuple[str, Any]) -> tuple[str, Any]:
    return key[0], key[1]
