"""From many sampled paths to few scenarios: reduction and multi-stage trees.

Both work on *features*, one row per path (the caller scales hashprice and energy scale
to comparable, dimensionless units), with the Euclidean distance between rows as the cost
``c(i, j)`` of moving probability from path i to path j.

- :func:`forward_selection` keeps K of N paths by **fast forward selection** (Heitsch H.,
  Römisch W., 2003, "Scenario reduction algorithms in stochastic programming",
  Computational Optimization and Applications 24(2-3):187-206, algorithm 2.4 with the
  Kantorovich distance of order 1): the kept paths are chosen greedily, each time the one
  that lowers the transport distance most; the probability of every removed path then goes
  to its nearest kept path (their "optimal redistribution" rule).
- :func:`build_tree` turns the paths into a scenario tree given by :func:`parse_tree`:
  at each branching period the paths of a node are split into clusters around the
  representatives chosen by the same forward selection, on their values over the stage
  that the branching opens (as in the forward tree construction of Heitsch & Römisch,
  2009, "Scenario tree modeling for multistage stochastic programs", Math. Program. 118,
  which compares paths on the data revealed so far); a
  node's data over its stage is the probability-weighted mean of its paths, so scenarios
  share their series exactly up to each branching period and probabilities multiply down
  the tree.

Numpy only; deterministic (ties go to the lowest index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .errors import InputError, InputIssue

__all__ = ["MAX_LEAVES", "MAX_REDUCE_PATHS", "TreeScenario", "build_tree",
           "forward_selection", "parse_tree"]

MAX_REDUCE_PATHS = 5000  # the N x N distance matrix: 200 MB at 5,000 paths
MAX_LEAVES = 1000

Array = NDArray[np.float64]


def _distances(x: Array) -> Array:
    """Euclidean distances between the rows of ``x`` (N x N)."""
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def forward_selection(features: Array, probs: Array, k: int
                      ) -> tuple[NDArray[np.intp], Array]:
    """Keep ``k`` of the N rows of ``features`` by fast forward selection.

    Heitsch & Römisch (2003), algorithm 2.4: with ``c0(i, u)`` the distance of paths i and
    u, step j picks the not-yet-kept u minimising ``z_u = sum_i p_i c_j(i, u)`` over the
    not-yet-kept i, where ``c_j(i, u) = min(c_{j-1}(i, u), c_{j-1}(i, u_{j-1}))`` (the cost
    of i once u joins the kept set). Each removed path's probability then goes to its
    nearest kept path. Returns (indices of the kept rows in the order chosen, their new
    probabilities, summing to ``probs.sum()``).
    """
    n = len(probs)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    dist = _distances(np.asarray(features, dtype=np.float64))
    cost = dist.copy()
    weight = np.asarray(probs, dtype=np.float64).copy()  # p_i of the not-yet-kept paths
    chosen: list[int] = []
    for _ in range(k):
        z = weight @ cost  # the k = u term is p_u * c(u, u) = 0
        z[chosen] = np.inf
        u = int(np.argmin(z))
        chosen.append(u)
        weight[u] = 0.0
        column = cost[:, u].copy()
        np.minimum(cost, column[:, None], out=cost)
    kept = np.array(chosen, dtype=np.intp)
    nearest = np.argmin(dist[:, kept], axis=1)
    nearest[kept] = np.arange(k)  # a kept path keeps its own mass (ties with twins)
    new = np.bincount(nearest, weights=probs, minlength=k).astype(np.float64)
    return kept, new


def parse_tree(text: str, periods: int) -> list[tuple[int, int]]:
    """Parse ``'PERIOD:BRANCHES,...'`` (e.g. ``'2:3,4:2'``: 3 branches at period 2, each
    into 2 at period 4) into sorted (period, branches) pairs; an :class:`InputError` when
    periods are not distinct integers in 2..``periods`` or branches not integers >= 2."""
    def bad(expected: str) -> InputError:
        return InputError([InputIssue("<command line>", "scenarios --tree", "", text,
                                      expected)])

    stages: list[tuple[int, int]] = []
    for item in text.split(","):
        period, sep, branches = item.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            stages.append((int(period), int(branches)))
        except ValueError:
            raise bad("expected PERIOD:BRANCHES pairs separated by commas, e.g. '2:3,4:2' "
                      "(3 branches at period 2, each into 2 at period 4)") from None
    stages.sort()
    if any(not 2 <= p <= periods for p, _ in stages):
        raise bad(f"expected branching periods in 2..{periods} (period 1 is the root, "
                  "shared by every scenario)")
    if len({p for p, _ in stages}) != len(stages):
        raise bad("expected each branching period once")
    if any(b < 2 for _, b in stages):
        raise bad("expected at least 2 branches at each branching period")
    leaves = int(np.prod([b for _, b in stages]))
    if leaves > MAX_LEAVES:
        raise bad(f"expected at most {MAX_LEAVES} scenarios (leaves); this tree has {leaves}")
    return stages


@dataclass(frozen=True)
class TreeScenario:
    """One leaf of the tree: its probability and its series (one value per period)."""

    probability: float
    hashprice: list[float]
    energy_scale: list[float] | None


def build_tree(hashprice: Array, scale: Array | None, probs: Array, features: Array,
               stages: list[tuple[int, int]], *, hp_digits: int = 2, scale_digits: int = 4
               ) -> list[TreeScenario]:
    """The scenario tree of ``stages`` (from :func:`parse_tree`) over N sampled paths.

    ``hashprice`` and ``scale`` are N x P; ``features`` is N x F with ``F = P * m`` (m = 1
    or 2 blocks of P columns, period-major within a block) and is what the clustering
    compares. The root holds every path; at a branching period b with k branches, the
    paths of a node are split by :func:`forward_selection` on their features over the
    stage that b opens (b up to the period before the next branching, or P) into k
    clusters (each path to its nearest representative). A node's data over its
    stage (from its branching period to the period before the next) is the
    probability-weighted mean of its paths, rounded (``hp_digits``, ``scale_digits``)
    before it is copied into every leaf below, so leaves below one node agree exactly up
    to the node's last period. Children are listed in increasing mean future hashprice.
    """
    n, periods = hashprice.shape
    blocks = features.shape[1] // periods
    cuts = [b for b, _ in stages]
    windows = list(zip([1, *cuts], [*[c - 1 for c in cuts], periods], strict=True))
    leaves: list[TreeScenario] = []

    def mean(values: Array, members: NDArray[np.intp], lo: int, hi: int, digits: int
             ) -> list[float]:
        w = probs[members] / probs[members].sum()
        return [round(float(v), digits) for v in w @ values[members, lo - 1:hi]]

    def visit(members: NDArray[np.intp], stage: int, prob: float, hp: list[float],
              sc: list[float]) -> None:
        lo, hi = windows[stage]
        hp = hp + mean(hashprice, members, lo, hi, hp_digits)
        if scale is not None:
            sc = sc + mean(scale, members, lo, hi, scale_digits)
        if stage == len(stages):
            leaves.append(TreeScenario(prob, hp, sc if scale is not None else None))
            return
        period, k = stages[stage]
        if len(members) < k:
            raise InputError([InputIssue(
                "<command line>", "scenarios --paths", "", n,
                f"expected more paths: a node branching at period {period} holds "
                f"{len(members)} path(s) for {k} branches (use about 20 paths per scenario "
                "of the tree or more)")])
        _, end = windows[stage + 1]  # the stage this branching opens: periods..end
        cols = np.concatenate([np.arange(period - 1, end) + j * periods
                               for j in range(blocks)])
        sub = features[np.ix_(members, cols)]
        kept, _ = forward_selection(sub, probs[members], k)
        nearest = np.argmin(_distances(sub)[:, kept], axis=1)
        nearest[kept] = np.arange(k)
        groups = [members[nearest == j] for j in range(k)]
        future = [float(probs[g] @ hashprice[g, period - 1:].mean(axis=1) / probs[g].sum())
                  for g in groups]
        total = float(probs[members].sum())
        for j in sorted(range(k), key=lambda j: (future[j], j)):
            g = groups[j]
            visit(g, stage + 1, prob * float(probs[g].sum()) / total, hp, sc)

    visit(np.arange(n, dtype=np.intp), 0, 1.0, [], [])
    return leaves
