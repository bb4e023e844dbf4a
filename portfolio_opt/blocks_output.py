"""Price blocks written out (spec v2, part C): the YAML fragment, an instance with the blocks
applied to its grid prices, the summary table and the atomic write of ``portfolio-opt
blocks`` (:mod:`portfolio_opt.blocks`)."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from .blocks_compute import SCARCITY, BlockSet, PriceData, _fill_year, period_prices
from .errors import InputError, InputIssue

__all__ = ["apply_to_instance", "fragment", "summary"]


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
    from .writer import write_instance

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

