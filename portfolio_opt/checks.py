"""Checks on the data alone for why committed contracts cannot all be served.

Each check is a necessary condition for a plan, relaxing every other rule, so a failed
check proves infeasibility (tests/test_diagnosis.py checks this on random instances):
too many committed contracts, too little IT MW by a contract's start (capacity, lead
times, capex budgets), contracts competing for the same sites (a max-flow from contracts
to sites), too little power reaching the eligible sites (a max-flow on the power graph),
a tenant share that cannot hold. Messages use the instance's ids and numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .model.data import HALL_FLOOR_EPS, ModelData

__all__ = ["Cause", "data_checks"]

_TOL = 1e-6


@dataclass
class Cause:
    """One failed data check: what kind, plain words, the entities and numbers it names."""

    kind: str
    text: str
    entities: list[dict[str, str]] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)


def _e(kind: str, ident: str) -> dict[str, str]:
    return {"type": kind, "id": ident}


def _names(ids: Any) -> str:
    ids = [f"'{i}'" for i in ids]
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]


def _committed(d: ModelData) -> list[str]:
    return [c for c, con in d.contracts.items() if con.committed]


# ------------------------------------------------------------------ IT MW ready in time


@dataclass
class _Ready:
    site: str
    it_mw: float
    detail: str


def _floor(x: float) -> float:
    return x if math.isinf(x) else float(math.floor(x + HALL_FLOOR_EPS))


def _budget_halls(d: ModelData, s: str, last: int) -> float:
    """Most halls site s alone can pay for when started in periods 1..last (inf: no limit).

    A hall's capex falls whole in its start period; the site's first hall also pays
    fixed_capex_usd in that period. Other capex (other sites, ASICs) is left out, so this
    is an upper bound.
    """
    lim = d.instance.limits
    per = d.instance.series(lim.capex_budget_usd_per_period) \
        if lim.capex_budget_usd_per_period is not None else [math.inf] * len(d.periods)
    total = math.inf if lim.capex_budget_usd is None else lim.capex_budget_usd
    a = d.ai(s)
    hall = a.capex_usd_per_it_mw * a.block_it_mw
    fixed = a.fixed_capex_usd if s in d.fixed_capex_sites else 0.0

    def fit(money: float) -> float:
        return math.inf if hall == 0 else _floor(money / hall)

    best = 0.0
    for first in range(1, last + 1):
        if per[first - 1] < fixed + hall or total < fixed + hall:
            continue
        halls = fit(per[first - 1] - fixed) + sum(fit(per[t - 1]) for t in range(first + 1,
                                                                                 last + 1))
        best = max(best, min(halls, fit(total - fixed)))
    return best


def _costs(d: ModelData, s: str) -> str:
    a = d.ai(s)
    lim = d.instance.limits
    text = f"a hall costs {a.capex_usd_per_it_mw * a.block_it_mw:,.0f} USD"
    if s in d.fixed_capex_sites:
        text += f" + fixed_capex_usd {a.fixed_capex_usd:,.0f} with the first"
    if lim.capex_budget_usd is not None:
        text += f", capex_budget_usd {lim.capex_budget_usd:,.0f}"
    if lim.capex_budget_usd_per_period is not None:
        per = d.instance.series(lim.capex_budget_usd_per_period)
        text += ", capex_budget_usd_per_period " + (
            f"{per[0]:,.0f}" if len(set(per)) == 1 else "[" + ", ".join(f"{b:,.0f}" for b in per)
            + "]")
    return text


def _ready(d: ModelData, s: str, t: int, lead: bool = True, budget: bool = True) -> _Ready:
    """IT MW site s can have available in period t, and why no more (an upper bound)."""
    a = d.ai(s)
    site = d.sites[s]
    by_max = max(0.0, _floor((a.max_it_mw - a.existing_it_mw) / a.block_it_mw))
    by_room = max(0.0, _floor((site.capacity_mw - a.existing_it_mw * a.pue)
                              / (a.block_it_mw * a.pue)))
    last = t - a.lead_time_periods if lead else t
    if last < 1:
        return _Ready(s, a.existing_it_mw, f"existing {a.existing_it_mw:g}; no hall can be "
                      f"ready by period {t}: lead time {a.lead_time_periods}")
    by_budget = _budget_halls(d, s, last) if budget else math.inf
    halls = int(min(by_max, by_room, by_budget))
    why = []
    if halls == by_max:
        why.append(f"max_it_mw {a.max_it_mw:g}")
    if halls == by_room:
        why.append(f"capacity_mw {site.capacity_mw:g} at ai.pue {a.pue:g} fits {int(by_room)}")
    if halls == by_budget:
        why.append(f"the capex budgets pay for {int(by_budget)}: {_costs(d, s)}")
    detail = (f"existing {a.existing_it_mw:g} + {halls} hall(s) of {a.block_it_mw:g} started by "
              f"period {last}, lead time {a.lead_time_periods}; {', '.join(why)}")
    return _Ready(s, a.existing_it_mw + a.block_it_mw * halls, detail)


def _best(ready: list[_Ready], k: int) -> list[_Ready]:
    return sorted(ready, key=lambda r: -r.it_mw)[:k]


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
        causes.append(Cause(
            kind,
            f"committed contract '{c}' needs {need:g} IT MW from period {start}; {which} can "
            f"have at most {most:g} IT MW available by period {start}: {parts}",
            [_e("contract", c), *(_e("site", r.site) for r in best)],
            {"need_it_mw": need, "start_period": start, "available_it_mw": most,
             "max_sites": k, "sites": {r.site: r.it_mw for r in best}},
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
        most = sum(d.contracts[c].it_mw.max for c in others)
        needed = floor * (1.0 - share) / share
        if needed <= most + _TOL:
            continue
        causes.append(Cause(
            "tenant_share",
            f"tenant '{k}''s committed contract(s) {_names(mine)} take at least {floor:g} IT MW; "
            f"with limits.max_tenant_share {share:g} the other tenants must take at least "
            f"{needed:g} IT MW, but their contracts"
            + (f" ({_names(others)}) can take at most {most:g} IT MW" if others
               else " do not exist"),
            [_e("tenant", k), _e("limits", "limits"), *(_e("contract", c) for c in mine)],
            {"tenant_it_mw_min": floor, "max_tenant_share": share,
             "others_needed_it_mw": needed, "others_max_it_mw": most},
        ))
    return causes


def data_checks(d: ModelData) -> list[Cause]:
    """Every failed data check, in the order of docs/infeasibility.md."""
    causes = _limit_causes(d)
    tenant = [c for c in causes if c.kind == "tenant_share"]
    causes = [c for c in causes if c.kind != "tenant_share"]
    capacity = _capacity_causes(d)
    reported = {e["id"] for c in capacity for e in c.entities if e["type"] == "contract"}
    return causes + capacity + _shared_capacity_causes(d, reported) + _power_causes(d) + tenant
