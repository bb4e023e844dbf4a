"""Cross-entity rules of spec v2: deal structures and the contract tail (part A), price
blocks and their per-block prices (part C). Called by :mod:`portfolio_opt.validate` with
the entities that passed the schema; each problem names the file, entity, field, value
and what would be valid.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .errors import MISSING, InputIssue
from .instance import Contract, Horizon, Market, Site, Source

__all__ = ["block_issues", "deal_issues"]


def block_issues(periods: int | None, market: Market | None, sites: list[Site],
                 sources: list[Source], source: str) -> list[InputIssue]:
    """Spec v2, part C: block ids and shares, and every price given per block."""
    issues: list[InputIssue] = []
    blocks = market.blocks if market is not None else None
    ids = [b.id for b in blocks or []]
    if blocks is not None:
        if not blocks:
            issues.append(InputIssue(
                source, "market", "blocks", [],
                "expected at least one block {id, hours_share}, or no 'blocks' key"))
        for bid, n in Counter(ids).items():
            if n > 1:
                issues.append(InputIssue(source, "market", "blocks", bid,
                                         f"expected each block id once, not {n} times"))
        total = sum(b.hours_share for b in blocks)
        if blocks and abs(total - 1.0) > 1e-9:
            shares = ", ".join(f"{b.id} {b.hours_share:g}" for b in blocks)
            issues.append(InputIssue(
                source, "market", "blocks[].hours_share", shares,
                f"expected hours shares that sum to 1 (within 1e-9), not {total:.12g}"))
    known = ", ".join(repr(b) for b in ids)

    def price(entity: str, field: str, value: Any) -> None:
        if not isinstance(value, dict):
            return
        if blocks is None:
            issues.append(InputIssue(
                source, entity, field, value,
                "expected a number or a list of one number per period: a mapping "
                "{block: series} needs market.blocks"))
            return
        missing = [b for b in ids if b not in value]
        invented = [k for k in value if k not in ids]
        if missing or invented:
            parts_ = []
            if missing:
                parts_.append("it misses " + ", ".join(repr(b) for b in missing))
            if invented:
                parts_.append("it names " + ", ".join(repr(b) for b in invented)
                              + ", not a block")
            issues.append(InputIssue(
                source, entity, field, value,
                f"expected a mapping naming every block of market.blocks ({known}) "
                f"exactly once; {' and '.join(parts_)}"))
        for key, series in value.items():
            if periods is not None and isinstance(series, list) and len(series) != periods:
                issues.append(InputIssue(
                    source, entity, f"{field}[{key}]", series,
                    f"expected one number or a list of exactly {periods} numbers "
                    f"(horizon.periods), not {len(series)}"))

    for site in sites:
        if site.grid is not None:
            price(f"site '{site.id}'", "grid.price_usd_per_mwh", site.grid.price_usd_per_mwh)
    for src in sources:
        price(f"source '{src.id}'", "price_usd_per_mwh", src.price_usd_per_mwh)
    return issues


def deal_issues(periods: int | None, horizon: Horizon | None, contracts: list[Contract],
                source: str) -> list[InputIssue]:
    """Spec v2, part A: the horizon's tail fields, tenant capex periods, recovery tariffs
    and groups."""
    issues: list[InputIssue] = []
    h = horizon
    if h is not None:
        tail = h.terminal_value == "contract_tail"
        price = h.tail_energy_price_usd_per_mwh
        if tail and price is None:
            issues.append(InputIssue(
                source, "horizon", "tail_energy_price_usd_per_mwh", MISSING,
                "expected a number >= 0 (USD/MWh): terminal_value: contract_tail values "
                "the tail's energy at this price"))
        if not tail and price is not None:
            issues.append(InputIssue(
                source, "horizon", "tail_energy_price_usd_per_mwh", price,
                "expected no tail_energy_price_usd_per_mwh unless terminal_value is "
                "contract_tail (set terminal_value: contract_tail, or remove it)"))
    committed_in: dict[str, list[str]] = {}
    for c in contracts:
        ent = f"contract '{c.id}'"
        er = c.energy_recovery_usd_per_mwh
        if periods is not None and isinstance(er, list) and len(er) != periods:
            issues.append(InputIssue(
                source, ent, "energy_recovery_usd_per_mwh", er,
                f"expected one number or a list of exactly {periods} numbers "
                f"(horizon.periods), not {len(er)}"))
        tcp = c.tenant_capex_period
        if periods is not None and tcp is not None and tcp > periods:
            issues.append(InputIssue(
                source, ent, "tenant_capex_period", tcp,
                f"expected a period from 1 to {periods} (horizon.periods)"))
        if c.group is not None and c.committed:
            committed_in.setdefault(c.group, []).append(c.id)
    for group, ids in committed_in.items():
        if len(ids) > 1:
            issues.append(InputIssue(
                source, f"contract '{ids[1]}'", "group", group,
                f"expected at most one committed contract per group: '{ids[0]}' is "
                f"committed in group '{group}' too, and a group accepts only one of its "
                f"contracts (un-commit one, or put them in different groups)"))
    return issues
