"""The portfolio as a networkx graph: sites and sources as nodes, power and fiber links as edges.

Power links become arcs (two per undirected link) that carry flow; fiber links carry none and
only decide which sites a contract may use through shortest-path latency (``near``).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from .instance import Contract, Instance

__all__ = ["Arc", "Network", "build_network"]

NEAR_TOLERANCE = 1e-9


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
    graph: nx.MultiGraph
    arcs: tuple[Arc, ...]
    eligible: dict[str, tuple[str, ...]]  # contract id -> eligible AI sites, in instance order


def build_network(instance: Instance) -> Network:
    """Build the graph, the power arcs and every contract's eligible sites."""
    graph: nx.MultiGraph = nx.MultiGraph(name=instance.name)
    for site in instance.sites:
        graph.add_node(site.id, kind="site")
    for src in instance.sources:
        graph.add_node(src.id, kind="source")
    arcs: list[Arc] = []
    for link in instance.links:
        lid = link.link_id
        if link.kind == "power":
            cap = float(link.capacity_mw or 0.0)
            loss = float(link.loss or 0.0)
            graph.add_edge(link.from_, link.to, key=lid, kind="power", capacity_mw=cap,
                           loss=loss, directed=bool(link.directed))
            arcs.append(Arc(lid, link.from_, link.to, cap, loss))
            if not link.directed:
                arcs.append(Arc(lid, link.to, link.from_, cap, loss))
        else:
            graph.add_edge(link.from_, link.to, key=lid, kind="fiber",
                           latency_ms=float(link.latency_ms or 0.0))
    fiber = fiber_graph(graph)
    ai_order = {s.id: i for i, s in enumerate(instance.sites) if s.ai is not None}
    eligible = {c.id: _eligible_sites(ai_order, fiber, c) for c in instance.contracts}
    return Network(graph, tuple(arcs), eligible)


def fiber_graph(graph: nx.MultiGraph) -> nx.Graph:
    """The fiber links as a simple weighted graph (the fastest of parallel links kept)."""
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
    ``cutoff``, when given)."""
    return dict(nx.single_source_dijkstra_path_length(fiber, source, cutoff=cutoff,
                                                      weight="weight"))


def _eligible_sites(ai_order: dict[str, int], fiber: nx.Graph, c: Contract) -> tuple[str, ...]:
    """Eligible AI sites of c, in instance order (``ai_order``: AI site id -> position)."""
    el = c.eligible
    if el is None:
        return tuple(ai_order)
    if el.sites is not None:
        chosen = [s for s in set(el.sites) if s in ai_order]
    else:
        assert el.near is not None
        limit = el.near.max_latency_ms
        reach = limit + NEAR_TOLERANCE * max(1.0, limit)
        dist = fiber_latencies(fiber, el.near.site, cutoff=reach)
        chosen = [s for s, x in dist.items() if x <= reach and s in ai_order]
    return tuple(sorted(chosen, key=ai_order.__getitem__))
