"""Price blocks from an hourly price series (spec v2, part C): ``portfolio-opt blocks``.

An hourly (or 15-minute, or any regular-step) price series per node becomes K blocks:
one list of hours shares for the whole instance and, per node, one price per block and
year. The method (docs/price_blocks.md):

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

Input: a CSV with ``timestamp`` (ISO 8601, all with a UTC offset or all without),
``price_usd_per_mwh`` and optionally ``node``; ``#`` lines before the header are comments.
It is read as a stream with bounded line length, size and row count; every problem is an
:class:`~portfolio_opt.errors.InputError` (exit 2) naming file, line, column and value.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, InputIssue

__all__ = ["BlockSet", "NodePrices", "PriceData", "apply_to_instance", "compute_blocks",
           "read_prices", "run_blocks"]

COLUMNS = ("timestamp", "price_usd_per_mwh", "node")
REQUIRED = ("timestamp", "price_usd_per_mwh")
DEFAULT_THRESHOLD = 200.0  # USD/MWh: above calibration.md's peak range (~60-150)
SINGLE = "series"  # the node name of a CSV without a node column
SCARCITY = "scarcity"
MAX_BLOCKS = 24
# Bounds on what one CSV may cost: ~35 node-years of 15-minute data, 340 of hourly data.
MAX_FILE_BYTES = 256 * 2**20
MAX_ROWS = 3_000_000
MAX_LINE_CHARS = 4096
MAX_NODES = 10_000
MAX_ISSUES = 20
PRICE_MIN, PRICE_MAX = -10_000.0, 50_000.0  # far outside any market's floor and cap
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_EPOCH = datetime(1970, 1, 1)


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


# --- reading ---------------------------------------------------------------------------


class _TooMany(Exception):
    pass


def _issue(file: str, line: int, col: int, name: str, value: Any, expected: str
           ) -> InputIssue:
    return InputIssue(file, f"line {line}, column {col}", name, value, expected)


def _lines(fh: io.TextIOBase, file: str) -> Iterator[tuple[int, str]]:
    """Lines with their numbers; a line longer than MAX_LINE_CHARS or a file longer than
    MAX_FILE_BYTES (counted in characters read) is refused before it is all read."""
    total = 0
    number = 0
    while True:
        line = fh.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        total += len(line)
        if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
            raise InputError([InputIssue(file, f"line {number}", "", f"more than "
                                         f"{MAX_LINE_CHARS:,} characters",
                                         "expected short lines: timestamp, price and "
                                         "optionally a node")])
        if number > MAX_ROWS + 1000:  # blank or comment lines count too
            raise InputError([InputIssue(file, f"line {number}", "", f"more than "
                                         f"{MAX_ROWS + 1000:,} lines", f"expected at most "
                                         f"{MAX_ROWS:,} rows of prices")])
        if total > MAX_FILE_BYTES:
            raise InputError([InputIssue(file, "file", "", f"more than {MAX_FILE_BYTES:,} "
                                         "characters", f"expected a price file of at most "
                                         f"{MAX_FILE_BYTES // 2**20} MiB ({MAX_ROWS:,} rows)")])
        yield number, line


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def read_prices(path: str | Path) -> PriceData:
    """Read and check a price CSV; raises :class:`InputError` listing its problems."""
    file = str(path)
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError([InputIssue(file, "file", "", exc.strerror or str(exc),
                                     "expected an existing, readable CSV file")]) from None
    with fh:
        try:
            return _read(fh, file)
        except UnicodeDecodeError as exc:
            raise InputError([InputIssue(file, "file", "", f"byte {exc.start}: {exc.reason}",
                                         "expected a text file encoded in UTF-8")]) from None


def _read(fh: io.TextIOBase, file: str) -> PriceData:
    issues: list[InputIssue] = []

    def add(issue: InputIssue) -> None:
        issues.append(issue)
        if len(issues) >= MAX_ISSUES:
            raise _TooMany

    numbered = _lines(fh, file)
    line_of: list[int] = []

    def feed() -> Iterator[str]:
        for number, line in numbered:
            line_of.append(number)
            yield line

    reader = csv.reader(feed())
    header: list[str] | None = None
    index: dict[str, int] = {}
    nodes: dict[str, tuple[array[float], array[int], array[float], array[int]]] = {}
    aware: bool | None = None
    rows = 0
    try:
        for record in reader:
            line = line_of[-1]
            del line_of[:-1]
            if header is None:
                if not record or (record[0].lstrip().startswith("#")):
                    continue  # comments and blank lines before the header
                header = [c.strip() for c in record]
                for k, name in enumerate(header, 1):
                    if name not in COLUMNS:
                        add(_issue(file, line, k, "header", name,
                                   "expected the columns timestamp, price_usd_per_mwh and "
                                   "optionally node"))
                    elif name in index:
                        add(_issue(file, line, k, "header", name,
                                   "expected each column once"))
                    else:
                        index[name] = k - 1
                for name in REQUIRED:
                    if name not in index and name in COLUMNS:
                        add(InputIssue(file, f"line {line}", "header", ",".join(header),
                                       f"expected a column named {name}"))
                if issues:
                    raise InputError(issues)
                continue
            if not record or all(not c.strip() for c in record):
                continue  # blank lines
            if len(record) != len(header):
                add(InputIssue(file, f"line {line}", "", ",".join(record)[:60],
                               f"expected {len(header)} values ({', '.join(header)}), "
                               f"not {len(record)}"))
                continue
            rows += 1
            if rows > MAX_ROWS:
                raise InputError([InputIssue(file, f"line {line}", "", f"more than "
                                             f"{MAX_ROWS:,} rows", f"expected at most "
                                             f"{MAX_ROWS:,} rows of prices")])
            k_t, k_p = index["timestamp"], index["price_usd_per_mwh"]
            text_t, text_p = record[k_t].strip(), record[k_p].strip()
            stamp = _parse_time(text_t)
            ok = True
            if stamp is None:
                add(_issue(file, line, k_t + 1, "timestamp", text_t,
                           "expected an ISO 8601 time such as 2026-01-01T00:00 or "
                           "2026-01-01T00:00-06:00 (hour beginning; hours 0-23)"))
                ok = False
            elif aware is None:
                aware = stamp.tzinfo is not None
            elif aware != (stamp.tzinfo is not None):
                add(_issue(file, line, k_t + 1, "timestamp", text_t,
                           "expected every timestamp " + ("with" if aware else "without")
                           + " a UTC offset, as the first row"))
                ok = False
            price = math.nan
            if not _NUMBER.fullmatch(text_p):
                add(_issue(file, line, k_p + 1, "price_usd_per_mwh", text_p,
                           "expected a decimal number in USD/MWh, e.g. 23.5 or -4"))
                ok = False
            else:
                price = float(text_p)
                if not PRICE_MIN <= price <= PRICE_MAX:
                    add(_issue(file, line, k_p + 1, "price_usd_per_mwh", text_p,
                               f"expected a price in USD/MWh between {PRICE_MIN:,.0f} and "
                               f"{PRICE_MAX:,.0f} (ERCOT's cap is 5,000)"))
                    ok = False
            name = SINGLE
            if "node" in index:
                name = record[index["node"]].strip()
                if not name or name.startswith(_FORMULA_STARTS):
                    add(_issue(file, line, index["node"] + 1, "node", name,
                               "expected a node id: not empty, not beginning with "
                               "= + - @ (it may name a site)"))
                    ok = False
            if not ok or stamp is None:
                continue
            if name not in nodes:
                if len(nodes) >= MAX_NODES:
                    raise InputError([_issue(file, line, index["node"] + 1, "node", name,
                                             f"expected at most {MAX_NODES:,} nodes")])
                nodes[name] = (array("d"), array("q"), array("d"), array("q"))
            seconds = (stamp.timestamp() if aware
                       else (stamp - _EPOCH).total_seconds())
            t, y, p, ln = nodes[name]
            t.append(seconds)
            y.append(stamp.year)
            p.append(price)
            ln.append(line)
    except _TooMany:
        issues.append(InputIssue(file, "file", "", f"{MAX_ISSUES} problems",
                                 "stopped reading there; fix these and run again"))
    except csv.Error as exc:
        issues.append(InputIssue(file, f"line {line_of[-1] if line_of else 1}", "",
                                 str(exc), "expected well-formed CSV"))
    if issues:
        raise InputError(issues)
    if header is None or not nodes:
        raise InputError([InputIssue(file, "file", "", "no rows of prices",
                                     "expected a header line (timestamp,price_usd_per_mwh"
                                     "[,node]) and at least two rows per node")])
    return _finish(file, "node" in index, nodes)


def _finish(file: str, has_node: bool,
            raw: dict[str, tuple[array[float], array[int], array[float], array[int]]]
            ) -> PriceData:
    issues: list[InputIssue] = []
    out: dict[str, NodePrices] = {}
    notes: list[str] = []
    label = (lambda n: f"node '{n}'") if has_node else (lambda n: "the series")
    for name, (t_arr, y_arr, p_arr, l_arr) in raw.items():
        times = np.frombuffer(t_arr, dtype=np.float64)
        order = np.argsort(times, kind="stable")
        times = times[order]
        lines = np.frombuffer(l_arr, dtype=np.int64)[order]
        if times.size < 2:
            issues.append(InputIssue(file, label(name), "timestamp", int(times.size),
                                     "expected at least 2 rows (their step is the length "
                                     "of each interval)"))
            continue
        diffs = np.diff(times)
        dup = np.flatnonzero(diffs <= 0)
        if dup.size:
            i = int(dup[0])
            issues.append(InputIssue(
                file, f"line {int(lines[i + 1])}", "timestamp", f"the time of line "
                f"{int(lines[i])}", f"expected one price per time for {label(name)}; "
                "a local time repeated when clocks go back needs its UTC offset"))
            continue
        step = float(diffs.min())
        ratio = diffs / step
        off = np.flatnonzero(np.abs(ratio - np.round(ratio)) > 1e-6)
        if off.size:
            i = int(off[0])
            issues.append(InputIssue(
                file, f"line {int(lines[i + 1])}", "timestamp", f"{diffs[i]:g} s after "
                f"line {int(lines[i])}", f"expected a regular step for {label(name)}: "
                f"a multiple of its shortest step, {step:g} s (gaps are allowed)"))
            continue
        node = NodePrices(name, step, times,
                          np.frombuffer(y_arr, dtype=np.int64)[order],
                          np.frombuffer(p_arr, dtype=np.float64)[order])
        for year, prices in node.by_year().items():
            expected = (366 if _leap(year) else 365) * 86400 / step
            if prices.size < 0.99 * expected:
                notes.append(f"{label(name)}: {year} has {prices.size:,} of {expected:,.0f} "
                             f"intervals ({prices.size / expected:.0%}); its block prices "
                             "are those of the hours present")
        out[name] = node
    if issues:
        raise InputError(issues)
    return PriceData(file, has_node, out, notes)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


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


# --- outputs ---------------------------------------------------------------------------


def fragment(blocks: BlockSet, data: PriceData) -> dict[str, Any]:
    """The YAML fragment: market.blocks and, per node, block prices pooled and by year."""
    nodes: dict[str, Any] = {}
    for name in data.nodes:
        nodes[name] = {
            "price_usd_per_mwh": dict(blocks.pooled[name]),
            "mean_price_usd_per_mwh": blocks.mean[name],
            "by_year": {
                year: {"price_usd_per_mwh": dict(blocks.by_year[name][year]),
                       "mean_price_usd_per_mwh": blocks.mean_by_year[name][year],
                       "hours": blocks.hours[name][year]}
                for year in sorted(blocks.by_year[name])
            },
        }
    return {"market": {"blocks": [{"id": b, "hours_share": h}
                                  for b, h in zip(blocks.ids, blocks.shares, strict=True)]},
            "node_prices": nodes}


def _parse_map(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        node, sep, site = item.partition("=")
        if not sep or not node.strip() or not site.strip():
            raise InputError([InputIssue("<command line>", "blocks --node-map", "", item,
                                         "expected NODE=SITE pairs separated by commas")])
        pairs.append((node.strip(), site.strip()))
    return pairs


def apply_to_instance(raw: dict[str, Any], blocks: BlockSet, data: PriceData, *,
                      node_map: list[str] | None = None, apply_to: str | None = None,
                      source: str = "<instance>") -> tuple[dict[str, Any], list[str]]:
    """A copy of the instance document ``raw`` with market.blocks set and each mapped
    site's grid price replaced by the {block: series} mapping; and notes."""
    import copy

    from .validate import validate_data

    inst = validate_data(raw, source)
    cli = "<command line>"
    grid_sites = [s.id for s in inst.sites if s.grid is not None]
    site_ids = {s.id for s in inst.sites}
    targets: dict[str, str] = {}  # site -> node
    if apply_to is not None:
        if node_map:
            raise InputError([InputIssue(cli, "blocks --apply-to", "", apply_to,
                                         "expected --apply-to or --node-map, not both")])
        if len(data.nodes) != 1:
            raise InputError([InputIssue(cli, "blocks --apply-to", "", apply_to,
                                         "expected a CSV of one series; this one has nodes "
                                         + ", ".join(sorted(data.nodes))
                                         + " (use --node-map NODE=SITE,...)")])
        only = next(iter(data.nodes))
        wanted = (grid_sites if apply_to.strip() == "grid"
                  else [s.strip() for s in apply_to.split(",")])
        for site in wanted:
            targets[site] = only
    else:
        if not data.has_node_column:
            raise InputError([InputIssue(cli, "blocks --instance", "", data.file,
                                         "the CSV has no node column: say which sites it "
                                         "prices with --apply-to grid (every site with a "
                                         "grid) or --apply-to SITE,SITE")])
        if node_map:
            for text in node_map:
                for node, site in _parse_map(text):
                    if node not in data.nodes:
                        raise InputError([InputIssue(cli, "blocks --node-map", "", node,
                                                     "expected a node of the CSV: "
                                                     + ", ".join(sorted(data.nodes)))])
                    if site in targets:
                        raise InputError([InputIssue(cli, "blocks --node-map", "", site,
                                                     "expected each site at most once")])
                    targets[site] = node
        else:
            targets = {n: n for n in data.nodes if n in site_ids}
            if not targets:
                raise InputError([InputIssue(cli, "blocks --instance", "", source,
                                             "expected a site named like a node of the CSV ("
                                             + ", ".join(sorted(data.nodes)[:5])
                                             + "); map them with --node-map NODE=SITE,...")])
    issues = []
    for site in targets:
        if site not in site_ids:
            issues.append(InputIssue(cli, "blocks", "", site, "expected a site of the "
                                     "instance: " + ", ".join(sorted(site_ids)[:10])))
        elif site not in grid_sites:
            issues.append(InputIssue(cli, "blocks", "", site, "expected a site with a grid "
                                     "connection (its grid price is what is replaced)"))
    if issues:
        raise InputError(issues)
    notes: list[str] = []
    new = copy.deepcopy(raw)
    new.setdefault("market", {})["blocks"] = [
        {"id": b, "hours_share": h} for b, h in zip(blocks.ids, blocks.shares, strict=True)]
    hz = inst.horizon
    filled_all: set[int] = set()
    for entry in new["sites"]:
        mapped = targets.get(entry.get("id"))
        if mapped is None:
            continue
        series, filled = period_prices(blocks, mapped, hz.start_year, hz.years_per_period,
                                       hz.periods)
        filled_all.update(filled)
        for b, values in series.items():
            for p, v in enumerate(values, 1):
                if v < 0:
                    issues.append(InputIssue(
                        cli, f"site '{entry['id']}'", f"grid.price_usd_per_mwh.{b}",
                        round(v, 4), f"expected a block price >= 0 (instance format); "
                        f"node '{mapped}' averages below zero in block '{b}' in period {p}: "
                        "use fewer blocks or --band-shares with a wider lowest band"))
        entry["grid"]["price_usd_per_mwh"] = {b: list(v) for b, v in series.items()}
    if issues:
        raise InputError(issues)
    # A {block: series} price left elsewhere must name the new blocks.
    for kind in ("sites", "sources"):
        for entry in new.get(kind) or []:
            holder = entry.get("grid") if kind == "sites" else entry
            if not isinstance(holder, dict):
                continue
            price = holder.get("price_usd_per_mwh")
            if isinstance(price, dict) and set(price) != set(blocks.ids):
                issues.append(InputIssue(source, f"{kind[:-1]} '{entry.get('id')}'",
                                         "price_usd_per_mwh", sorted(price),
                                         "expected a price mapping naming the new blocks "
                                         + ", ".join(blocks.ids) + " (or a plain series); "
                                         "map this site too or edit it"))
    if issues:
        raise InputError(issues)
    unused = [n for n in data.nodes if n not in targets.values()]
    if unused:
        notes.append("nodes not used: " + ", ".join(sorted(unused)[:10])
                     + (" ..." if len(unused) > 10 else ""))
    kept = [s for s in grid_sites if s not in targets]
    if kept:
        notes.append("grid sites keeping their price (the same in every block): "
                      + ", ".join(kept[:10]) + (" ..." if len(kept) > 10 else ""))
    if filled_all:
        data_years = data.years
        notes.append("calendar years without data repeat the block prices of the nearest "
                     "earlier year of data (the first year before the data): " + ", ".join(
                         f"{y} <- {_fill_year(y, data_years)}" for y in sorted(filled_all)))
    notes.append("sites priced from the CSV: " + ", ".join(
        f"{s} <- {n}" if s != n else s for s, n in list(targets.items())[:10])
        + (" ..." if len(targets) > 10 else ""))
    return new, notes


def _write_atomic(text_or_data: Any, out: Path, header: str = "") -> None:
    from .generate import write_instance

    fd, tmp = tempfile.mkstemp(prefix=".blocks-", suffix=out.suffix, dir=out.parent or ".")
    os.close(fd)
    try:
        write_instance(text_or_data, tmp)
        if header and out.suffix.lower() in (".yaml", ".yml"):
            body = Path(tmp).read_text(encoding="utf-8")
            Path(tmp).write_text(header + body, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _method_line(blocks: BlockSet) -> str:
    bands = len(blocks.ids) - (1 if blocks.ids[0] == SCARCITY else 0)
    if blocks.ids[0] != SCARCITY:
        head = "no scarcity block"
    elif blocks.threshold is not None:
        head = f"scarcity = hours above {blocks.threshold:g} USD/MWh"
    else:
        head = f"scarcity = the top {blocks.shares[0]:g} of hours"
    return f"{head}; the rest in {bands} price-duration band(s), band1 the dearest"


def summary(blocks: BlockSet, data: PriceData) -> str:
    names = list(data.nodes)[:6]
    width = max(8, *(len(b) for b in blocks.ids))
    head = f"{'block':<{width}}  {'hours_share':>11}" + "".join(
        f"  {n[:14]:>14}" for n in names)
    rows = [head]
    for i, b in enumerate(blocks.ids):
        rows.append(f"{b:<{width}}  {blocks.shares[i]:>11.6f}" + "".join(
            f"  {blocks.pooled[n][b]:>14.2f}" for n in names))
    rows.append(f"{'mean':<{width}}  {math.fsum(blocks.shares):>11.6f}" + "".join(
        f"  {blocks.mean[n]:>14.2f}" for n in names))
    more = f" (first {len(names)} of {len(data.nodes)} nodes shown)" if len(
        data.nodes) > len(names) else ""
    return "\n".join([_method_line(blocks) + "; USD/MWh, all years" + more, *rows])


def run_blocks(prices: Path, k: int, *, out: Path | None, threshold: float | None,
               top_share: float | None, band_shares: str | None, instance: Path | None,
               node_map: list[str] | None, apply_to: str | None
               ) -> tuple[str, list[str], str | None]:
    """The command: (what to print, notes, the YAML when printed rather than written)."""
    from .outpaths import check_out_file

    cli = "<command line>"
    if threshold is not None and top_share is not None:
        raise InputError([InputIssue(cli, "blocks --top-share", "", top_share,
                                     "expected --threshold or --top-share, not both")])
    if instance is None and (node_map or apply_to):
        raise InputError([InputIssue(cli, "blocks", "", "--node-map/--apply-to",
                                     "expected them only with --instance")])
    if instance is not None and out is None:
        raise InputError([InputIssue(cli, "blocks --out", "", None,
                                     "expected --out NEW.yaml with --instance")])
    if out is not None:
        check_out_file(out, "blocks", suffixes=(".yaml", ".yml", ".json"),
                       reads=(prices, *([instance] if instance else [])))
    shares = None
    if band_shares is not None:
        try:
            shares = [float(x) for x in band_shares.split(",")]
        except ValueError:
            raise InputError([InputIssue(cli, "blocks --band-shares", "", band_shares,
                                         "expected numbers separated by commas, e.g. "
                                         "0.15,0.35,0.5")]) from None
    if instance is not None:
        from .loader import read_document

        raw = read_document(instance).data
    data = read_prices(prices)
    if top_share is None and threshold is None:
        threshold = DEFAULT_THRESHOLD
    blocks = compute_blocks(data, k, threshold=threshold, top_share=top_share,
                            band_shares=shares)
    notes = data.notes + blocks.notes
    text = summary(blocks, data)
    header = (f"# Price blocks from {prices.name} by `portfolio-opt blocks --blocks {k}` "
              "(docs/price_blocks.md).\n"
              f"# {_method_line(blocks)}.\n"
              "# Per node and year, sum of hours_share * block price = the time-weighted "
              "mean price.\n")
    if instance is not None:
        assert out is not None
        from .validate import validate_data

        new, more = apply_to_instance(raw, blocks, data, node_map=node_map,
                                      apply_to=apply_to, source=str(instance))
        validate_data(new, str(out))
        _write_atomic(new, out)
        return f"wrote {out}: {len(blocks.ids)} blocks\n{text}", notes + more, None
    doc = fragment(blocks, data)
    if out is None:
        from .generate import _yaml_dumper

        buf = io.StringIO()
        _yaml_dumper().dump(doc, buf)
        return text, notes, header + buf.getvalue()
    _write_atomic(doc, out, header)
    return f"wrote {out}: {len(blocks.ids)} blocks\n{text}", notes, None
