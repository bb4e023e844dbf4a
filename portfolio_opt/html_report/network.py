"""A map of the site graph: sites and sources placed by a networkx layout, sized by MW,
coloured by what the plan does there; power links solid (with capacity), fiber dashed.

The instance gives every node and link; without it (a folder from a plain ``solve``, which
has no instance.json) the map is drawn from the plan alone: the sites, and the power links
and sources that carry flow in flows.csv. Fiber links do not appear in any result table, so
that map says they are missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from ..instance import Instance
from .svg import PALETTE, render

__all__ = ["MapEdge", "MapNode", "layout", "network_map", "site_graph"]

LABEL_LIMIT = 60  # beyond this many nodes only the largest are labelled, links not at all
KAMADA_KAWAI_LIMIT = 80


@dataclass(frozen=True)
class MapNode:
    id: str
    kind: str  # "site" or "source"
    mw: float  # peak gross MW drawn (sites) or most MW available (sources)
    use: str  # "btc", "ai", "mixed", "idle" or "source"


@dataclass(frozen=True)
class MapEdge:
    id: str
    u: str
    v: str
    kind: str  # "power" or "fiber"
    label: str
    directed: bool


def _uses(site_periods: pd.DataFrame | None) -> dict[str, tuple[str, float]]:
    """Per site: what the plan uses it for over the horizon, and its peak gross MW."""
    if site_periods is None or site_periods.empty:
        return {}
    g = site_periods.groupby("site", sort=False).agg(
        btc=("btc_mw", "sum"), ai=("ai_served_it_mw", "sum"), peak=("gross_load_mw", "max"))
    out = {}
    for site, row in g.iterrows():
        btc, ai = row["btc"] > 1e-6, row["ai"] > 1e-6
        use = "mixed" if btc and ai else "btc" if btc else "ai" if ai else "idle"
        out[str(site)] = (use, float(row["peak"]))
    return out


def site_graph(instance: Instance | None, site_periods: pd.DataFrame | None,
               flows: pd.DataFrame | None) -> tuple[list[MapNode], list[MapEdge]]:
    """The nodes and links to draw, from the instance when there is one, else the plan."""
    uses = _uses(site_periods)
    nodes: list[MapNode] = []
    edges: list[MapEdge] = []
    if instance is not None:
        for s in instance.sites:
            use, peak = uses.get(s.id, ("idle", 0.0))
            nodes.append(MapNode(s.id, "site", peak if uses else s.capacity_mw, use))
        for r in instance.sources:
            nodes.append(MapNode(r.id, "source", max(instance.series(r.capacity_mw)), "source"))
        for link in instance.links:
            if link.kind == "power":
                label = f"{link.capacity_mw:g} MW"
                if link.loss:
                    label += f", {link.loss:.0%} loss"
                edges.append(MapEdge(link.link_id, link.from_, link.to, "power", label,
                                     bool(link.directed)))
            else:
                edges.append(MapEdge(link.link_id, link.from_, link.to, "fiber",
                                     f"{link.latency_ms:g} ms", False))
        return nodes, edges
    for site, (use, peak) in uses.items():
        nodes.append(MapNode(site, "site", peak, use))
    if flows is not None and not flows.empty:
        known = set(uses)
        peak_out = flows.groupby("from")["flow_mw"].max().to_dict()
        for end in dict.fromkeys([*flows["from"], *flows["to"]]):
            if str(end) not in known:
                known.add(str(end))
                nodes.append(MapNode(str(end), "source", float(peak_out.get(end, 0.0)),
                                     "source"))
        for link_id, rows in flows.groupby("link", sort=False):
            arcs = set(zip(rows["from"].astype(str), rows["to"].astype(str), strict=True))
            u, v = next(iter(sorted(arcs)))
            peak = float(rows["flow_mw"].max())
            edges.append(MapEdge(str(link_id), u, v, "power", f"peak flow {peak:,.0f} MW",
                                 len(arcs) == 1))
    return nodes, edges


def layout(graph: nx.Graph) -> dict[str, tuple[float, float]]:
    """Positions: each connected part laid out on its own (Kamada-Kawai, or a seeded spring
    layout when large) and turned to lie across the page, the parts then packed in rows,
    largest first, so that sites without links sit in a tidy row instead of being flung to
    the edges as one spring layout of the whole graph would."""
    parts = sorted((sorted(c) for c in nx.connected_components(graph)),
                   key=lambda c: (-len(c), c[0]))
    width = max(4.0, 3.0 * math.sqrt(graph.number_of_nodes()))
    gap = 1.0
    pos: dict[str, tuple[float, float]] = {}
    x = y = row_height = 0.0
    for part in parts:
        local = _part_layout(graph.subgraph(part), 1.5 * math.sqrt(len(part)))
        xy = np.array([local[n] for n in part])
        low = xy.min(axis=0)
        w, h = xy.max(axis=0) - low
        if x > 0 and x + w > width:
            x, y, row_height = 0.0, y - row_height - gap, 0.0
        for n, (px, py) in zip(part, xy - low, strict=True):
            pos[n] = (float(px) + x, float(py) + y - float(h))
        x += float(w) + gap
        row_height = max(row_height, float(h))
    return pos


def _part_layout(part: nx.Graph, radius: float) -> dict[str, np.ndarray]:
    """One connected part: Kamada-Kawai (even spacing) when small, else a spring layout."""
    nodes = list(part.nodes)
    if len(nodes) == 1:
        return {nodes[0]: np.zeros(2)}
    pos: dict[str, np.ndarray] | None = None
    if len(nodes) <= KAMADA_KAWAI_LIMIT:
        try:
            pos = dict(nx.kamada_kawai_layout(part, scale=radius))
        except ImportError:  # it needs scipy
            pos = None
    if pos is None:
        pos = dict(nx.spring_layout(part, seed=7, iterations=200, scale=radius))
    # Turn the part so that its long side runs across the page (the page is wide).
    xy = np.array([pos[n] for n in nodes])
    xy -= xy.mean(axis=0)
    _, _, axes = np.linalg.svd(xy, full_matrices=False)
    xy = xy @ axes.T
    return {n: xy[i] for i, n in enumerate(nodes)}


def network_map(nodes: list[MapNode], edges: list[MapEdge]) -> str:
    """The map as inline SVG."""
    graph: nx.Graph = nx.Graph()
    graph.add_nodes_from(n.id for n in nodes)
    graph.add_edges_from((e.u, e.v) for e in edges)
    pos = layout(graph)
    top = max([n.mw for n in nodes] + [1.0])
    size = {n.id: 80.0 + 1500.0 * n.mw / top for n in nodes}
    labelled = {n.id for n in sorted(nodes, key=lambda n: -n.mw)[:LABEL_LIMIT]}
    many = len(nodes) > LABEL_LIMIT

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.set_axis_off()
        seen: dict[frozenset[str], int] = {}
        for e in edges:
            if e.u not in pos or e.v not in pos:
                continue
            k = seen.get(frozenset((e.u, e.v)), 0)
            seen[frozenset((e.u, e.v))] = k + 1
            rad = 0.0 if k == 0 else 0.18 * ((k + 1) // 2) * (1 if k % 2 else -1)
            power = e.kind == "power"
            ax.add_patch(FancyArrowPatch(
                pos[e.u], pos[e.v], connectionstyle=f"arc3,rad={rad}",
                arrowstyle="-|>" if e.directed else "-", mutation_scale=12,
                color=PALETTE["total"] if power else "#7a7a7a",
                linestyle="-" if power else (0, (4, 3)), linewidth=1.6 if power else 1.1,
                shrinkA=math.sqrt(size[e.u]) / 2 + 1, shrinkB=math.sqrt(size[e.v]) / 2 + 1,
                zorder=1))
            if not many:
                (x0, y0), (x1, y1) = pos[e.u], pos[e.v]
                mx, my = (x0 + x1) / 2 - rad * (y1 - y0) / 2, (y0 + y1) / 2 + rad * (x1 - x0) / 2
                ax.text(mx, my, e.label, fontsize=7, ha="center", va="center", zorder=3,
                        color="#333", bbox={"boxstyle": "round,pad=0.15", "fc": "white",
                                            "ec": "none", "alpha": 0.85})
        for kind, marker in (("site", "o"), ("source", "s")):
            group = [n for n in nodes if n.kind == kind]
            if not group:
                continue
            xy = np.array([pos[n.id] for n in group])
            ax.scatter(xy[:, 0], xy[:, 1], s=[size[n.id] for n in group], marker=marker,
                       c=[PALETTE[n.use] for n in group], edgecolors="#333", linewidths=0.8,
                       zorder=2)
        for n in nodes:
            if n.id in labelled:
                x, y = pos[n.id]
                ax.annotate(n.id, (x, y), xytext=(0, math.sqrt(size[n.id]) / 2 + 3),
                            textcoords="offset points", ha="center", va="bottom", fontsize=8,
                            zorder=4)
        ax.set_aspect("equal", adjustable="datalim")
        ax.margins(0.12)
        handles = [
            Line2D([], [], marker="o", ls="", mfc=PALETTE["btc"], mec="#333", label="BTC"),
            Line2D([], [], marker="o", ls="", mfc=PALETTE["ai"], mec="#333", label="AI"),
            Line2D([], [], marker="o", ls="", mfc=PALETTE["mixed"], mec="#333",
                   label="BTC and AI"),
            Line2D([], [], marker="o", ls="", mfc=PALETTE["idle"], mec="#333", label="idle"),
            Line2D([], [], marker="s", ls="", mfc=PALETTE["source"], mec="#333",
                   label="power source"),
            Line2D([], [], color=PALETTE["total"], lw=1.6, label="power link"),
            Line2D([], [], color="#7a7a7a", lw=1.1, ls=(0, (4, 3)), label="fiber link"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=7, fontsize=8)

    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    aspect = (max(ys) - min(ys) + 1.5) / (max(xs) - min(xs) + 1.5)
    return render(draw, 10, min(11.0, max(3.5, 10 * aspect + 0.6)))
