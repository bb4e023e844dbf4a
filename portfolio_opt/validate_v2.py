"""Cross-entity rules of spec v2: deal structures and the contract tail (part A),
scenarios and risk (part B), price blocks and their per-block prices (part C). Called by
:mod:`portfolio_opt.validate` with the entities that passed the schema; each problem names
the file, entity, field, value and what would be valid.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .errors import MISSING, InputIssue
from .input_limits import MAX_SCENARIOS
from .instance import Contract, Horizon, Market, Scenario, Site, Source, Uncertainty

__all__ = ["ScenarioPart", "UncertaintyParts", "block_issues", "deal_issues",
           "uncertainty_issues"]


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


# --- part B: uncertainty -------------------------------------------------------------------

_STRUCTURES = ("two_stage", "multi_stage")
# What a scenario's other required fields are set to when one field is judged on its own.
_PLACEHOLDER: dict[str, Any] = {"id": "x", "probability": 1, "hashprice_usd_per_ph_day": 0}


@dataclass
class ScenarioPart:
    """One entry of ``uncertainty.scenarios``; a field that failed the schema is None."""

    index: int
    label: str  # how messages name it: "scenario 'low' (uncertainty.scenarios[1])"
    id: str | None
    probability: float | None
    hashprice: float | list[float] | None
    scale: float | list[float] | None


@dataclass
class UncertaintyParts:
    """What the part-B rules look at: each scenario's fields that passed the schema.

    ``count`` is the length of the scenario list (None when it is not a list);
    ``structure`` is None when it failed the schema. Beyond :data:`MAX_SCENARIOS` the
    entries are not looked at one by one (only the count is reported).
    """

    count: int | None
    structure: str | None
    scenarios: list[ScenarioPart] = field(default_factory=list)

    @classmethod
    def of(cls, unc: Uncertainty) -> UncertaintyParts:
        return cls(len(unc.scenarios), unc.structure, [
            ScenarioPart(i, _scenario_label(i, s.id), s.id, s.probability,
                         s.hashprice_usd_per_ph_day, s.energy_price_scale)
            for i, s in enumerate(unc.scenarios)
        ])

    @classmethod
    def from_document(cls, raw: Any) -> UncertaintyParts | None:
        """The block as written, each field of each scenario judged on its own (so a bad
        probability does not hide a series of the wrong length); None if not a mapping."""
        if not isinstance(raw, dict):
            return None
        structure = raw.get("structure")
        if structure is None:
            structure = "two_stage"
        elif not (isinstance(structure, str) and structure in _STRUCTURES):
            structure = None
        items = raw.get("scenarios")
        if not isinstance(items, list):
            return cls(None, structure)
        parts = cls(len(items), structure)
        if len(items) > MAX_SCENARIOS:
            return parts
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                parts.scenarios.append(ScenarioPart(i, _scenario_label(i, None),
                                                    None, None, None, None))
                continue
            got = {key: _scenario_field(key, item.get(key)) for key in _PLACEHOLDER}
            scale = item.get("energy_price_scale")
            name = item.get("id")
            parts.scenarios.append(ScenarioPart(
                i, _scenario_label(i, name if isinstance(name, str) else None),
                got["id"], got["probability"], got["hashprice_usd_per_ph_day"],
                1.0 if scale is None else _scenario_field("energy_price_scale", scale)))
        return parts


def _scenario_field(key: str, value: Any) -> Any:
    """``value`` as validated for the scenario field ``key``, or None if absent or bad."""
    if value is None:
        return None
    try:
        return getattr(Scenario.model_validate({**_PLACEHOLDER, key: value}), key)
    except ValidationError:
        return None


def _scenario_label(index: int, ident: str | None) -> str:
    where = f"uncertainty.scenarios[{index}]"
    return f"scenario '{ident}' ({where})" if ident else where


def _period1(value: float | list[float]) -> float:
    return value[0] if isinstance(value, list) else value


def _exact(x: float) -> str:
    """A number as short as possible but exact (period-1 data are compared exactly)."""
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def uncertainty_issues(periods: int | None, uncertain: bool, market_given: bool | None,
                       hashprice: Any, unc: UncertaintyParts | None,
                       source: str) -> list[InputIssue]:
    """Spec v2, part B: the hashprice is market's or the scenarios' (exactly one of them);
    scenario ids, probabilities, series lengths, the shared period 1 of multi_stage and
    the scenario count.

    ``uncertain``: the document has an ``uncertainty`` block (even a malformed one);
    ``market_given``: it has a ``market`` mapping (None: ``market`` is malformed, which
    the schema reports); ``hashprice``: market's hashprice as written, None if absent.
    """
    issues: list[InputIssue] = []

    def add(entity: str, fld: str, value: Any, expected: str) -> None:
        issues.append(InputIssue(source, entity, fld, value, expected))

    if not uncertain:
        required = ("expected this key (it is required); or an 'uncertainty' block whose "
                    "scenarios give the hashprice")
        if market_given is False:
            add("document", "market", MISSING, required)
        elif market_given and hashprice is None:
            add("market", "hashprice_usd_per_ph_day", MISSING, required)
        return issues
    if hashprice is not None:
        add("market", "hashprice_usd_per_ph_day", hashprice,
            "expected no hashprice_usd_per_ph_day in market with an 'uncertainty' block: "
            "its scenarios replace it (give each scenario's hashprice_usd_per_ph_day, or "
            "remove the uncertainty block)")
    if unc is None:
        return issues
    if unc.count is not None and unc.count > MAX_SCENARIOS:
        add("uncertainty", "scenarios", f"{unc.count:,} scenarios",
            f"expected at most {MAX_SCENARIOS:,} scenarios (every scenario repeats the "
            "operating decisions of every site, block and period; sample or cluster them)")
        return issues
    scenarios = unc.scenarios

    first_id: dict[str, int] = {}
    for s in scenarios:
        if s.id is None:
            continue
        if s.id in first_id:
            add(s.label, "id", s.id,
                f"expected a scenario id used by no other scenario; "
                f"uncertainty.scenarios[{first_id[s.id]}] already has id '{s.id}'")
        else:
            first_id[s.id] = s.index

    for s in scenarios:
        for fld, value in (("hashprice_usd_per_ph_day", s.hashprice),
                           ("energy_price_scale", s.scale)):
            if periods is not None and isinstance(value, list) and len(value) != periods:
                add(s.label, fld, value,
                    f"expected one number or a list of exactly {periods} numbers "
                    f"(horizon.periods), not {len(value)}")

    probabilities = [s.probability for s in scenarios]
    if scenarios and len(scenarios) == unc.count and None not in probabilities:
        total = math.fsum(p for p in probabilities if p is not None)
        if abs(total - 1.0) > 1e-9:
            shown = ", ".join(f"{s.id if s.id is not None else s.index} {s.probability:g}"
                              for s in scenarios[:8])
            if len(scenarios) > 8:
                shown += f", ... ({len(scenarios)} in all)"
            add("uncertainty", "scenarios[].probability", shown,
                f"expected probabilities that sum to 1 (within 1e-9), not {total:.12g}")

    if unc.structure == "multi_stage":
        for fld, get in (("hashprice_usd_per_ph_day", lambda s: s.hashprice),
                         ("energy_price_scale", lambda s: s.scale)):
            known = [s for s in scenarios if get(s) is not None]
            if not known:
                continue
            ref = known[0]
            root = _period1(get(ref))
            for s in known[1:]:
                mine = _period1(get(s))
                if mine != root:
                    add(s.label, fld, get(s),
                        f"expected period 1 equal to that of the first scenario, "
                        f"{ref.label}: {_exact(root)}, not {_exact(mine)} (with structure: "
                        f"multi_stage all scenarios share period 1, one root; make period 1 "
                        f"equal, or use structure: two_stage)")
    return issues
