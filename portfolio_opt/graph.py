"""The portfolio as a network: sites and sources as nodes, power and fiber links as edges.

Power links become arcs (two per undirected link) that carry flow; fiber links carry none and
only decide which sites a contract may use through shortest-path latency (``near``).

The shortest paths are computed here with the standard library (Dijkstra on the fiber
links), so preparing a model does not import networkx (about 0.3 s of a command-line
start); :attr:`Network.graph` builds the networkx graph on first use.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from .instance import Contract, Instance, Link

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Arc", "Network", "build_network", "fiber_graph", "fiber_latencies"]

NEAR_TOLERANCE = 1e-9

# node -> {neighbour: latency of the fastest fiber link between them (ms)}
Adjacency = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Arc:
    """One direction of a power link: flow enters at ``tail`` and ``(1 - loss)`` of it arrives."""

    link: str
    tail: str
    head: str
    capacity_mw: float
    loss: float


@dataclass(frozen=True)
class Network:
    arcs: tuple[Arc, ...]
    eligible: dict[str, tuple[str, ...]]  # contract id -> eligible AI sites, in instance order
    instance: Instance = field(repr=False, compare=False)

    @cached_property
    def graph(self) -> nx.MultiGraph:
        """Sites and sources as nodes, every power and fiber link as an edge (keyed by link
        id), as a networkx graph; built on first use."""
        import networkx as nx

        inst = self.instance
        graph: nx.MultiGraph = nx.MultiGraph(name=inst.name)
        for site in inst.sites:
            graph.add_node(site.id, kind="site")
        for src in inst.sources:
            graph.add_node(src.id, kind="source")
        for link in inst.links:
            if link.kind == "power":
                graph.add_edge(link.from_, link.to, key=link.link_id, kind="power",
                               capacity_mw=float(link.capacity_mw or 0.0),
                               loss=float(link.loss or 0.0), directed=bool(link.directed))
            else:
                graph.add_edge(link.from_, link.to, key=link.link_id, kind="fiber",
                               latency_ms=float(link.latency_ms or 0.0))
        return graph


def build_network(instance: Instance) -> Network:
    """The power arcs and every contract's eligible sites."""
    arcs: list[Arc] = []
    for link in instance.links:
        if link.kind != "power":
            continue
        lid = link.link_id
        cap = float(link.capacity_mw or 0.0)
        loss = float(link.loss or 0.0)
        arcs.append(Arc(lid, link.from_, link.to, cap, loss))
        if not link.directed:
            arcs.append(Arc(lid, link.to, link.from_, cap, loss))
    ai_order = {s.id: i for i, s in enumerate(instance.sites) if s.ai is not None}
    fiber: Adjacency | None = None
    eligible = {}
    for c in instance.contracts:
        if fiber is None and c.eligible is not None and c.eligible.near is not None:
            fiber = _fiber_adjacency(instance.links)
        eligible[c.id] = _eligible_sites(ai_order, fiber, c)
    return Network(tuple(arcs), eligible, instance)


def _fiber_adjacency(links: Iterable[Link]) -> Adjacency:
    """The fiber links as a simple weighted graph (the fastest of parallel links kept)."""
    adj: Adjacency = {}
    for link in links:
        if link.kind != "fiber":
            continue
        w = float(link.latency_ms or 0.0)
        u, v = link.from_, link.to
        for a, b in ((u, v), (v, u)):
            nbrs = adj.setdefault(a, {})
            if b not in nbrs or nbrs[b] > w:
                nbrs[b] = w
    return adj


def _shortest(adj: Adjacency, source: str, cutoff: float | None = None) -> dict[str, float]:
    """Dijkstra: shortest latency from ``source`` to every node it reaches (within
    ``cutoff``, when given), ``source`` itself at 0."""
    dist: dict[str, float] = {}
    seen = {source: 0.0}
    heap = [(0.0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if u in dist:
            continue
        dist[u] = d
        for v, w in adj.get(u, {}).items():
            dv = d + w
            if cutoff is not None and dv > cutoff:
                continue
            if v not in dist and (v not in seen or dv < seen[v]):
                seen[v] = dv
                heapq.heappush(heap, (dv, v))
    return dist


def fiber_graph(graph: nx.MultiGraph) -> nx.Graph:
    """The fiber links of ``graph`` (:attr:`Network.graph`) as a simple weighted networkx
    graph (the fastest of parallel links kept)."""
    import networkx as nx

    fiber: nx.Graph = nx.Graph()
    fiber.add_nodes_from(graph.nodes)
    for u, v, data in graph.edges(data=True):
        if data["kind"] != "fiber":
            continue
        w = data["latency_ms"]
        if not fiber.has_edge(u, v) or fiber[u][v]["weight"] > w:
            fiber.add_edge(u, v, weight=w)
    return fiber


def fiber_latencies(fiber: nx.Graph, source: str, cutoff: float | None = None) -> dict[str, float]:
    """Shortest fiber-path latency (ms) from ``source`` to every node it reaches (within
    ``cutoff``, when given), on a graph from :func:`fiber_graph`."""
    import networkx as nx

    return dict(nx.single_source_dijkstra_path_length(fiber, source, cutoff=cutoff,
                                                      weight="weight"))


def _eligible_sites(ai_order: dict[str, int], fiber: Adjacency | None,
                    c: Contract) -> tuple[str, ...]:
    """Eligible AI sites of c, in instance order (``ai_order``: AI site id -> position)."""
    el = c.eligible
    if el is None:
        return tuple(ai_order)
    if el.sites is not None:
        chosen = [s for s in set(el.sites) if s in ai_order]
    else:
        assert el.near is not None and fiber is not None
        limit = el.near.max_latency_ms
        reach = limit + NEAR_TOLERANCE * max(1.0, limit)
        dist = _shortest(fiber, el.near.site, cutoff=reach)
        chosen = [s for s, x in dist.items() if x <= reach and s in ai_order]
    return tuple(sorted(chosen, key=ai_order.__getitem__))
