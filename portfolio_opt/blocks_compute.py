"""Price blocks (spec v2, part C): the data types and the method, and block prices per period.

The method (docs/price_blocks.md):

1. The scarcity block: the share ``h_s`` of all hours (pooled over every node and year,
   time-weighted) priced strictly above ``threshold`` (default 200 USD/MWh), or a given
   top share. No hour above the threshold: no scarcity block, K duration bands instead.
2. The other hours are split into K - 1 bands of the price-duration curve, equal shares
   of the rest unless ``band_shares`` say otherwise (highest-priced band first).
3. Per node and year, the hours sorted from dearest to cheapest (the price-duration
   curve D(u), u in [0, 1]) are cut at the cumulative shares; a block's price is the mean
   of D over its slice, i.e. the time-weighted mean price of its hours (an hour straddling
   a cut counts in both blocks by its fractions). So sum_b h_b * price_b is the node-year's
   time-weighted mean price, exactly (up to float rounding), for every node and year.

With one node and one year the scarcity block is exactly the hours above the threshold.
With several, the format's single list of shares means each node-year's scarcity block is
its own dearest ``h_s`` of hours.

The price CSV is read by :mod:`portfolio_opt.blocks`; the outputs (YAML fragment, an
instance with the blocks applied) are :mod:`portfolio_opt.blocks_output`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError, InputIssue

__all__ = ["BlockSet", "NodePrices", "PriceData", "compute_blocks", "period_prices",
           "period_years"]

DEFAULT_THRESHOLD = 200.0  # USD/MWh: above calibration.md's peak range (~60-150)
SCARCITY = "scarcity"
MAX_BLOCKS = 24


@dataclass
class NodePrices:
    """One node's prices, in time order, with the step of its intervals."""

    name: str
    step_s: float
    times: np.ndarray  # seconds, ascending
    years: np.ndarray  # calendar year of each interval (as written)
    prices: np.ndarray  # USD/MWh

    def by_year(self) -> dict[int, np.ndarray]:
        return {int(y): self.prices[self.years == y] for y in np.unique(self.years)}


@dataclass
class PriceData:
    file: str
    has_node_column: bool
    nodes: dict[str, NodePrices]
    notes: list[str] = field(default_factory=list)

    @property
    def years(self) -> list[int]:
        return sorted({int(y) for n in self.nodes.values() for y in np.unique(n.years)})


@dataclass
class BlockSet:
    """The blocks (ids and shares) and, per node, block prices pooled and by year."""

    ids: list[str]
    shares: list[float]
    threshold: float | None
    pooled: dict[str, dict[str, float]]  # node -> block -> price (all years)
    by_year: dict[str, dict[int, dict[str, float]]]  # node -> year -> block -> price
    mean: dict[str, float]  # node -> time-weighted mean (all years)
    mean_by_year: dict[str, dict[int, float]]
    hours: dict[str, dict[int, float]]  # node -> year -> hours of data
    notes: list[str] = field(default_factory=list)



# --- the blocks ------------------------------------------------------------------------


def _slice_means(sorted_desc: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Mean of the duration curve over each [cuts[i], cuts[i+1]] (cuts in [0, 1])."""
    n = sorted_desc.size
    csum = np.concatenate(([0.0], np.cumsum(sorted_desc)))
    x = cuts * n
    near = np.round(x)
    x = np.where(np.abs(x - near) < 1e-7, near, x)  # a cut on an hour boundary stays there
    i = np.minimum(np.floor(x).astype(np.int64), n)
    frac = x - i
    tail = np.where(i < n, sorted_desc[np.minimum(i, n - 1)], 0.0)
    area = csum[i] + frac * tail
    return np.diff(area) / np.diff(x)


def compute_blocks(data: PriceData, k: int, *, threshold: float | None = DEFAULT_THRESHOLD,
                   top_share: float | None = None,
                   band_shares: list[float] | None = None) -> BlockSet:
    """The K blocks of ``data`` by the method in the module docstring."""
    where = "<command line>"
    if not 2 <= k <= MAX_BLOCKS:
        raise InputError([InputIssue(where, "blocks --blocks", "", k,
                                     f"expected a whole number of blocks from 2 to {MAX_BLOCKS}")])
    notes: list[str] = []
    if top_share is not None:
        if not 0 < top_share < 1:
            raise InputError([InputIssue(where, "blocks --top-share", "", top_share,
                                         "expected a share of hours strictly between 0 and 1")])
        h_s = float(top_share)
        threshold = None
    else:
        assert threshold is not None
        above = sum(n.step_s * float(np.count_nonzero(n.prices > threshold))
                    for n in data.nodes.values())
        total = sum(n.step_s * n.prices.size for n in data.nodes.values())
        h_s = above / total
        if h_s >= 1:
            raise InputError([InputIssue(where, "blocks --threshold", "", threshold,
                                         "expected a threshold below some prices: every "
                                         "hour is above it")])
        if h_s == 0:
            notes.append(f"no hour is above {threshold:g} USD/MWh: no scarcity block, "
                         f"{k} price-duration bands")
    n_bands = k - 1 if h_s > 0 else k
    if band_shares is None:
        weights = [1.0 / n_bands] * n_bands
    else:
        total_w = math.fsum(band_shares)
        if (len(band_shares) != n_bands or any(not w > 0 for w in band_shares)
                or abs(total_w - 1) > 1e-9):
            raise InputError([InputIssue(
                where, "blocks --band-shares", "", ",".join(f"{w:g}" for w in band_shares),
                f"expected {n_bands} shares > 0 of the non-scarcity hours summing to 1, "
                "highest-priced band first")])
        weights = [w / total_w for w in band_shares]
    ids = ([SCARCITY] if h_s > 0 else []) + [f"band{i}" for i in range(1, n_bands + 1)]
    rest = 1.0 - h_s
    shares = ([h_s] if h_s > 0 else []) + [rest * w for w in weights]
    cuts = np.concatenate(([0.0], np.cumsum(shares)))
    cuts[-1] = 1.0
    shares = [float(s) for s in np.diff(cuts)]  # the shares the cuts stand for
    pooled: dict[str, dict[str, float]] = {}
    by_year: dict[str, dict[int, dict[str, float]]] = {}
    mean: dict[str, float] = {}
    mean_by_year: dict[str, dict[int, float]] = {}
    hours: dict[str, dict[int, float]] = {}
    for name, node in data.nodes.items():
        values = _slice_means(np.sort(node.prices)[::-1], cuts)
        pooled[name] = dict(zip(ids, (float(v) for v in values), strict=True))
        mean[name] = float(node.prices.mean())
        by_year[name], mean_by_year[name], hours[name] = {}, {}, {}
        for year, prices in node.by_year().items():
            values = _slice_means(np.sort(prices)[::-1], cuts)
            by_year[name][year] = dict(zip(ids, (float(v) for v in values), strict=True))
            mean_by_year[name][year] = float(prices.mean())
            hours[name][year] = prices.size * node.step_s / 3600
    return BlockSet(ids, shares, threshold, pooled, by_year, mean, mean_by_year, hours,
                    notes)


# --- years to periods ------------------------------------------------------------------


def period_years(start_year: int, years_per_period: float, periods: int
                 ) -> list[dict[int, float]]:
    """Per period, the calendar years it overlaps and by how much (in years)."""
    out = []
    for p in range(periods):
        a = start_year + p * years_per_period
        b = a + years_per_period
        span: dict[int, float] = {}
        for y in range(math.floor(a), math.ceil(b)):
            overlap = min(b, y + 1) - max(a, y)
            if overlap > 1e-12:
                span[y] = overlap
        out.append(span)
    return out


def _fill_year(year: int, data_years: list[int]) -> int:
    """The data year standing for ``year``: itself, else the nearest earlier data year
    (the last one after the data), else the first one (before the data)."""
    earlier = [y for y in data_years if y <= year]
    return earlier[-1] if earlier else data_years[0]


def period_prices(blocks: BlockSet, node: str, start_year: int, years_per_period: float,
                  periods: int) -> tuple[dict[str, list[float]], list[int]]:
    """Per block, one price per period (overlap-weighted mean of its years' block prices),
    and the calendar years filled from another year's data."""
    years = sorted(blocks.by_year[node])
    filled: set[int] = set()
    series: dict[str, list[float]] = {b: [] for b in blocks.ids}
    for span in period_years(start_year, years_per_period, periods):
        weight = math.fsum(span.values())
        for b in blocks.ids:
            series[b].append(math.fsum(
                w * blocks.by_year[node][_fill_year(y, years)][b] for y, w in span.items())
                / weight)
        filled.update(y for y in span if y not in blocks.by_year[node])
    return series, sorted(filled)

