"""Checks on the data alone for why committed contracts cannot all be served.

Each check is a necessary condition for a plan, relaxing every other rule, so a failed
check proves infeasibility (tests/test_diagnosis.py checks this on random instances):
too many committed contracts, too little IT MW by a contract's start (capacity, lead
times, capex budgets), contracts competing for the same sites (a max-flow from contracts
to sites), too little power reaching the eligible sites (a max-flow on the power graph),
a tenant share that cannot hold. Messages use the instance's ids and numbers. The most IT
MW a site can have by a period, and what the budgets can pay, are
:mod:`portfolio_opt.checks_ready`.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from .checks_ready import _TOL, Cause, _best, _committed, _e, _funding, _names, _ready
from .model.data import ModelData

__all__ = ["Cause", "data_checks"]


# ------------------------------------------------------------------ IT MW ready in time


def _capacity_causes(d: ModelData) -> list[Cause]:
    causes = []
    for c in _committed(d):
        con = d.contracts[c]
        need, start, sites = con.it_mw.min, con.start_period, d.eligible[c]
        if need <= 0:
            continue
        if not sites:
            causes.append(Cause("no_eligible_site", f"committed contract '{c}' needs {need:g} "
                                "IT MW but no site is eligible for it (no AI site matches its "
                                "'eligible')", [_e("contract", c)], {"need_it_mw": need}))
            continue
        k = con.max_sites
        best = _best([_ready(d, s, start) for s in sites], k)
        most = sum(r.it_mw for r in best)
        if most >= need - _TOL:
            continue

        no_lead = _best([_ready(d, s, start, lead=False) for s in sites], k)
        no_budget = _best([_ready(d, s, start, budget=False) for s in sites], k)
        kind = ("lead_time" if sum(r.it_mw for r in no_lead) >= need - _TOL
                else "budget" if sum(r.it_mw for r in no_budget) >= need - _TOL
                else "capacity")
        which = (f"its eligible site(s) {_names(sites)}" if len(sites) <= k else
                 f"its best {k} of {len(sites)} eligible sites (max_sites {k})")
        parts = "; ".join(f"'{r.site}' {r.it_mw:g} ({r.detail})" for r in best)
        money, numbers = _funding(d, c, need, start) if kind == "budget" else ("", {})
        causes.append(Cause(
            kind,
            f"committed contract '{c}' needs {need:g} IT MW from period {start}; {which} can "
            f"have at most {most:g} IT MW available by period {start}: {parts}{money}",
            [_e("contract", c), *(_e("site", r.site) for r in best)],
            {"need_it_mw": need, "start_period": start, "available_it_mw": most,
             "max_sites": k, "sites": {r.site: r.it_mw for r in best}, **numbers},
        ))
    return causes


def _shared_capacity_causes(d: ModelData, reported: set[str]) -> list[Cause]:
    """Committed contracts active together needing more than their sites can have."""
    causes, seen = [], set()
    # A contract that cannot be served even alone is already explained: leave it out, so a
    # conflict found here is one between contracts that each fit on their own.
    committed = [c for c in _committed(d)
                 if d.contracts[c].it_mw.min > 0 and d.eligible[c] and c not in reported]
    for t in d.periods:
        active = [c for c in committed if t in d.active[c]]
        if len(active) < 2:
            continue
        sites = sorted({s for c in active for s in d.eligible[c]}, key=list(d.sites).index)
        ready = {s: _ready(d, s, t) for s in sites}
        g: nx.DiGraph = nx.DiGraph()
        for c in active:
            g.add_edge(("src",), ("c", c), capacity=d.contracts[c].it_mw.min)
            for s in d.eligible[c]:
                g.add_edge(("c", c), ("s", s))
        for s in sites:
            g.add_edge(("s", s), ("sink",), capacity=ready[s].it_mw)
        flow, (side, _) = nx.minimum_cut(g, ("src",), ("sink",))
        need = sum(d.contracts[c].it_mw.min for c in active)
        group = tuple(c for c in active if ("c", c) in side)
        if flow >= need - _TOL or len(group) < 2 or group in seen:
            continue
        seen.add(group)
        near = [s for s in sites if ("s", s) in side]
        want = sum(d.contracts[c].it_mw.min for c in group)
        have = sum(ready[s].it_mw for s in near)
        causes.append(Cause(
            "shared_capacity",
            f"committed contracts {_names(group)} together need {want:g} IT MW in period {t} ("
            + ", ".join(f"'{c}' {d.contracts[c].it_mw.min:g}" for c in group)
            + f"); the sites eligible for them, {_names(near)}, can have at most {have:g} IT MW "
            f"available by period {t} ("
            + "; ".join(f"'{s}' {ready[s].it_mw:g}: {ready[s].detail}" for s in near) + ")",
            [*(_e("contract", c) for c in group), *(_e("site", s) for s in near)],
            {"period": t, "need_it_mw": want, "available_it_mw": have,
             "contracts": {c: d.contracts[c].it_mw.min for c in group},
             "sites": {s: ready[s].it_mw for s in near}},
        ))
    return causes


def _fixed_allocation_causes(d: ModelData, reported: set[str]) -> list[Cause]:
    """A committed fixed-allocation contract keeps the same IT MW at each site over its
    term, so each site can give it only its least room over the term. Room at s in t: the
    IT MW s can have available by t, less the it_mw.min of the other committed contracts
    active in t that only s can serve. Reported when the contract would fit period by
    period (so the fixed rule is what breaks)."""
    causes = []
    for c in d.fixed_contracts:
        con = d.contracts[c]
        need, sites, k = con.it_mw.min, d.eligible[c], con.max_sites
        if not con.committed or need <= 0 or not sites or c in reported:
            continue
        periods = d.active[c]
        room: dict[tuple[str, int], float] = {}
        taken: dict[tuple[str, int], list[str]] = {}
        for s in sites:
            for t in periods:
                others = [o for o in _committed(d) if o != c and t in d.active[o]
                          and d.eligible[o] == (s,)]
                taken[s, t] = others
                room[s, t] = max(0.0, _ready(d, s, t).it_mw
                                 - sum(d.contracts[o].it_mw.min for o in others))
        per_period = {t: sum(sorted((room[s, t] for s in sites), reverse=True)[:k])
                      for t in periods}
        if any(v < need - _TOL for v in per_period.values()):
            continue  # short even period by period: another check's cause
        keep = {s: min(room[s, t] for t in periods) for s in sites}
        best = sorted(sites, key=lambda s: -keep[s])[:k]
        most = sum(keep[s] for s in best)
        if most >= need - _TOL:
            continue

        parts = []
        for s in best:
            low = min(periods, key=lambda u: room[s, u])
            text = f"'{s}' {keep[s]:g} (period {low}: {_ready(d, s, low).it_mw:g} available"
            if taken[s, low]:
                text += ", less " + ", ".join(
                    f"{d.contracts[o].it_mw.min:g} for committed '{o}' that only '{s}' can "
                    "serve" for o in taken[s, low])
            parts.append(text + ")")

        changes = "; ".join(f"period {t} {per_period[t]:g}" for t in periods)
        causes.append(Cause(
            "fixed_allocation",
            f"committed contract '{c}' has allocation: fixed, so it needs {need:g} IT MW at "
            f"the same site(s) in every period {periods[0]}-{periods[-1]}; kept over the "
            f"whole term its best {min(k, len(sites))} site(s) hold at most {most:g} IT MW: "
            + "; ".join(parts)
            + f". Period by period it would fit ({changes} IT MW of room), but only by "
            "moving between sites",
            [_e("contract", c), *(_e("site", s) for s in best),
             *(_e("contract", o) for o in dict.fromkeys(
                 o for s in best for t in periods for o in taken[s, t]))],
            {"need_it_mw": need, "kept_it_mw": most, "max_sites": k,
             "sites": {s: keep[s] for s in best},
             "room_by_period": {str(t): v for t, v in per_period.items()}},
        ))
    return causes


# ------------------------------------------------------------------ power through the network


def _power_graph(d: ModelData, t: int) -> nx.DiGraph:
    """Supplies and links of period t; an arc delivers at most capacity_mw × (1 − loss)."""
    g: nx.DiGraph = nx.DiGraph()
    for s, site in d.sites.items():
        if site.grid is not None:
            g.add_edge(("src",), s, capacity=site.grid.capacity_mw, what=[("grid", s)])
    for r in d.sources:
        g.add_edge(("src",), r, capacity=d.source_cap[r][t], what=[("source", r)])
    for a, arc in enumerate(d.arcs):
        cap = arc.capacity_mw * (1.0 - arc.loss)
        if g.has_edge(arc.tail, arc.head):  # parallel links add up
            g[arc.tail][arc.head]["capacity"] += cap
            g[arc.tail][arc.head]["what"].append(("link", a))
        else:
            g.add_edge(arc.tail, arc.head, capacity=cap, what=[("link", a)])
    return g


def _describe_cut(d: ModelData, g: nx.DiGraph, side: set[Any], t: int) -> tuple[str, list[Any]]:
    parts, ents = [], []
    for u, v, data in g.edges(data=True):
        if u not in side or v in side:
            continue
        for kind, key in data["what"]:
            if kind == "grid":
                grid = d.sites[key].grid
                parts.append(f"grid at '{key}' {grid.capacity_mw:g} MW")  # type: ignore[union-attr]
                ents.append(_e("site", key))
            elif kind == "source":
                parts.append(f"source '{key}' {d.source_cap[key][t]:g} MW in period {t}")
                ents.append(_e("source", key))
            else:
                arc = d.arcs[key]
                parts.append(f"link '{arc.link}' ('{arc.tail}' -> '{arc.head}') "
                             f"{arc.capacity_mw:g} MW × (1 − loss {arc.loss:g})")
                ents.append(_e("link", arc.link))
    return ", ".join(parts), ents


def _power_causes(d: ModelData) -> list[Cause]:
    causes: list[Cause] = []
    reported: set[str] = set()
    committed = [c for c in _committed(d) if d.contracts[c].it_mw.min > 0 and d.eligible[c]]
    for t in d.periods:
        active = [c for c in committed if t in d.active[c]]
        groups = [[c] for c in active if c not in reported]
        if len(active) > 1:
            groups.append(active)
        g = _power_graph(d, t)
        for group in groups:
            sites = sorted({s for c in group for s in d.eligible[c]}, key=list(d.sites).index)
            need_by = {c: d.contracts[c].it_mw.min * min(d.ai(s).pue for s in d.eligible[c])
                       for c in group}
            need = sum(need_by.values())
            h = g.copy()
            for s in sites:
                h.add_edge(s, ("sink",))
            h.add_node(("src",))
            reach, (side, _) = nx.minimum_cut(h, ("src",), ("sink",))
            if reach >= need - _TOL or (len(group) > 1 and reported & set(group)):
                continue
            reported.update(group)
            cut, ents = _describe_cut(d, h, side, t)
            how = ", ".join(f"'{c}' {d.contracts[c].it_mw.min:g} × "
                            f"{need_by[c] / d.contracts[c].it_mw.min:g}" for c in group)
            causes.append(Cause(
                "network_power",
                f"in period {t} committed contract(s) {_names(group)} need at least {need:g} MW "
                f"of power at their eligible site(s) {_names(sites)} (it_mw.min × lowest "
                f"ai.pue: {how}); at most {reach:g} MW can reach them: "
                + (cut or "no grid connection, source or power link reaches them"),
                [*(_e("contract", c) for c in group), *(_e("site", s) for s in sites), *ents],
                {"period": t, "need_mw": need, "reachable_mw": reach},
            ))
    return causes


# ------------------------------------------------------------------ limits


def _excluded_by(d: ModelData, c: str) -> str | None:
    """The committed contract of c's group that keeps c out (None: none does)."""
    g = d.contracts[c].group
    if g is None or g not in d.groups or d.contracts[c].committed:
        return None
    return next((o for o in d.groups[g] if o != c and d.contracts[o].committed), None)


def _most_it_mw(d: ModelData, contracts: list[str]) -> float:
    """Most IT MW the contracts can take together: one per group, the largest."""
    by_group: dict[str, float] = {}
    most = 0.0
    for c in contracts:
        con = d.contracts[c]
        if con.group is not None and con.group in d.groups:
            by_group[con.group] = max(by_group.get(con.group, 0.0), con.it_mw.max)
        else:
            most += con.it_mw.max
    return most + sum(by_group.values())


def _limit_causes(d: ModelData) -> list[Cause]:
    causes = []
    lim = d.instance.limits
    committed = _committed(d)
    if lim.max_contracts is not None and len(committed) > lim.max_contracts:
        causes.append(Cause(
            "max_contracts",
            f"{len(committed)} contracts are committed ({_names(committed)}) but "
            f"limits.max_contracts is {lim.max_contracts}",
            [_e("limits", "limits"), *(_e("contract", c) for c in committed)],
            {"committed": len(committed), "max_contracts": lim.max_contracts},
        ))
    share = lim.max_tenant_share
    if share is None or share >= 1.0:
        return causes
    tenants = sorted({con.tenant for c, con in d.contracts.items() if con.committed})
    for k in tenants:
        mine = [c for c in committed if d.contracts[c].tenant == k]
        floor = sum(d.contracts[c].it_mw.min for c in mine)
        others = [c for c, con in d.contracts.items() if con.tenant != k]
        excluded = {c: _excluded_by(d, c) for c in others}
        counted = [c for c in others if excluded[c] is None]
        most = _most_it_mw(d, counted)
        needed = floor * (1.0 - share) / share
        if needed <= most + _TOL:
            continue
        shut = [c for c in others if excluded[c] is not None]
        groups = "".join(f"; '{c}' cannot be accepted: group '{d.contracts[c].group}' takes "
                         f"committed '{excluded[c]}' (at most one contract per group)"
                         for c in shut)
        causes.append(Cause(
            "tenant_share",
            f"tenant '{k}''s committed contract(s) {_names(mine)} take at least {floor:g} IT MW; "
            f"with limits.max_tenant_share {share:g} the other tenants must take at least "
            f"{needed:g} IT MW, but their contracts"
            + (f" ({_names(counted)}) can take at most {most:g} IT MW" if counted
               else " that could be accepted do not exist") + groups,
            [_e("tenant", k), _e("limits", "limits"), *(_e("contract", c) for c in mine),
             *(_e("contract", c) for c in shut),
             *(_e("contract", str(excluded[c])) for c in shut)],
            {"tenant_it_mw_min": floor, "max_tenant_share": share,
             "others_needed_it_mw": needed, "others_max_it_mw": most,
             "excluded_by_group": {c: str(excluded[c]) for c in shut}},
        ))
    return causes


def data_checks(d: ModelData) -> list[Cause]:
    """Every failed data check, in the order of docs/infeasibility.md."""
    causes = _limit_causes(d)
    tenant = [c for c in causes if c.kind == "tenant_share"]
    causes = [c for c in causes if c.kind != "tenant_share"]
    capacity = _capacity_causes(d)
    reported = {e["id"] for c in capacity for e in c.entities if e["type"] == "contract"}
    return (causes + capacity + _shared_capacity_causes(d, reported)
            + _fixed_allocation_causes(d, reported) + _power_causes(d) + tenant)
