"""Price blocks from an hourly price series (spec v2, part C): ``portfolio-opt blocks``.

An hourly (or 15-minute, or any regular-step) price series per node becomes K blocks:
one list of hours shares for the whole instance and, per node, one price per block and
year. This module reads the price CSV and runs the command; the method and its data types
are :mod:`portfolio_opt.blocks_compute` (docs/price_blocks.md), the outputs
:mod:`portfolio_opt.blocks_output`. Every public name of the three is importable from here.

Input: a CSV with ``timestamp`` (ISO 8601, all with a UTC offset or all without),
``price_usd_per_mwh`` and optionally ``node``; ``#`` lines before the header are comments.
It is read as a stream with bounded line length, size and row count; every problem is an
:class:`~portfolio_opt.errors.InputError` (exit 2) naming file, line, column and value.
"""

from __future__ import annotations

import csv
import io
import math
import re
from array import array
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .blocks_compute import DEFAULT_THRESHOLD as DEFAULT_THRESHOLD
from .blocks_compute import MAX_BLOCKS as MAX_BLOCKS
from .blocks_compute import SCARCITY as SCARCITY
from .blocks_compute import (
    BlockSet,
    NodePrices,
    PriceData,
    compute_blocks,
)
from .blocks_compute import period_prices as period_prices
from .blocks_compute import period_years as period_years
from .blocks_output import _method_line, _write_atomic, apply_to_instance, fragment, summary
from .errors import InputError, InputIssue

__all__ = ["BlockSet", "NodePrices", "PriceData", "apply_to_instance", "compute_blocks",
           "read_prices", "run_blocks"]

COLUMNS = ("timestamp", "price_usd_per_mwh", "node")
REQUIRED = ("timestamp", "price_usd_per_mwh")
SINGLE = "series"  # the node name of a CSV without a node column
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
        from .writer import _yaml_dumper

        buf = io.StringIO()
        _yaml_dumper().dump(doc, buf)
        return text, notes, header + buf.getvalue()
    _write_atomic(doc, out, header)
    return f"wrote {out}: {len(blocks.ids)} blocks\n{text}", notes, None
