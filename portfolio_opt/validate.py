"""Validation: the schema first (types, ranges, unknown keys), then the cross-entity rules.

Every problem becomes an :class:`InputIssue` naming the file, the entity, the field, the
value found and what would be valid; all of them are reported together.
"""

from __future__ import annotations

import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import MISSING, InputError, InputIssue
from .instance import Contract, Horizon, Instance, Limits, Link, Market, Site, Source
from .validate_v2 import UncertaintyParts, block_issues, deal_issues, uncertainty_issues

__all__ = ["check_instance", "validate_data"]

_ENTITY_LISTS = {"sites": "site", "sources": "source", "links": "link", "contracts": "contract"}


def validate_data(data: Any, source: str = "<instance>") -> Instance:
    """Validate a parsed document (dicts and lists) into an :class:`Instance`.

    When the schema fails, the cross-entity rules still run on the entities that passed it,
    so one run reports every problem, not one layer at a time.
    """
    if not isinstance(data, dict):
        raise InputError(
            [InputIssue(source, "document", "", data, "expected a mapping of top-level keys")]
        )
    issues = _python_names(data, source)
    try:
        instance = Instance.model_validate(data)
    except ValidationError as exc:
        issues += [_translate(err, data, source) for err in exc.errors()]
        issues += _cross_issues(_Parts.from_document(data), source)
        raise InputError(issues) from None
    parts = _Parts.of(instance)
    # `market: null` is an absent market (null = absent), though the schema gave it one.
    parts.market_given = data.get("market") is not None
    issues += _cross_issues(parts, source)
    if issues:
        raise InputError(issues)
    return instance


def check_instance(instance: Instance, source: str = "<instance>") -> None:
    """Cross-entity rules of the spec; raises :class:`InputError` with every issue found."""
    issues = _cross_issues(_Parts.of(instance), source)
    if issues:
        raise InputError(issues)


def _python_names(data: dict[str, Any], source: str) -> list[InputIssue]:
    """``from_`` is the Python name of a link's ``from``; in a file it is an unknown key."""
    links = data.get("links")
    if not isinstance(links, list):
        return []
    return [
        InputIssue(source, _entity(("links", i), data)[0], "from_", item["from_"],
                   _unknown_key(("links", i)))
        for i, item in enumerate(links)
        if isinstance(item, dict) and "from_" in item
    ]


@dataclass
class _Parts:
    """What the cross-entity rules look at: the entities that passed the schema.

    ``unsure`` maps the ids of sites and sources that failed the schema to whether the
    entry has an ``ai`` block (so messages can still list it), and
    ``nodes_known`` is false when the list of nodes itself is unknown (a list missing or
    malformed, an entry without an id): a reference to such a node is not reported, since
    the problem is already reported where it is.
    """

    periods: int | None
    market: Market | None
    limits: Limits | None
    sites: list[Site]
    sources: list[Source]
    links: list[Link]
    contracts: list[Contract]
    unsure: dict[str, bool] = field(default_factory=dict)
    nodes_known: bool = True
    horizon: Horizon | None = None
    # Spec v2 B: the hashprice comes from market or from the scenarios. market_given is
    # None when `market` is not a mapping (the schema reports that), and hashprice is
    # market's as written (None if absent), so both are known whatever else fails.
    uncertain: bool = False
    uncertainty: UncertaintyParts | None = None
    market_given: bool | None = True
    hashprice: Any = None

    @classmethod
    def of(cls, instance: Instance) -> _Parts:
        unc = instance.uncertainty
        return cls(instance.horizon.periods, instance.market, instance.limits,
                   instance.sites, instance.sources, instance.links, instance.contracts,
                   horizon=instance.horizon, uncertain=unc is not None,
                   uncertainty=UncertaintyParts.of(unc) if unc is not None else None,
                   market_given="market" in instance.model_fields_set,
                   hashprice=instance.market.hashprice_usd_per_ph_day)

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> _Parts:
        # periods and each limit are judged on their own: a bad discount rate or budget
        # does not hide a series of the wrong length.
        horizon = _valid(Horizon, _pick(data.get("horizon"), ["periods"]))
        limits = data.get("limits")
        if isinstance(limits, dict):
            limits = {k: v for k, v in limits.items() if _valid(Limits, {k: v}) is not None}
        # market's keys too: a bad hashprice does not hide the blocks' rules, nor the
        # reverse. market_given is None when `market` is there but not a mapping (the
        # schema reports it); the hashprice is kept as validated, else as written.
        raw_market = data.get("market")
        market_given: bool | None = raw_market is not None
        hashprice = None
        if isinstance(raw_market, dict):
            market = _valid(Market, {k: v for k, v in raw_market.items()
                                     if _valid(Market, {k: v}) is not None})
            hashprice = raw_market.get("hashprice_usd_per_ph_day")
            if market is not None and market.hashprice_usd_per_ph_day is not None:
                hashprice = market.hashprice_usd_per_ph_day
        else:
            market = _valid(Market, {} if raw_market is None else raw_market)
            if raw_market is not None:
                market_given = None
        parts = cls(
            periods=horizon.periods if horizon is not None else None,
            market=market,
            limits=_valid(Limits, limits or {}),
            sites=[], sources=[], links=[], contracts=[],
            horizon=_valid(Horizon, data.get("horizon")),
            uncertain=data.get("uncertainty") is not None,
            uncertainty=UncertaintyParts.from_document(data.get("uncertainty")),
            market_given=market_given,
            hashprice=hashprice,
        )
        sources = data.get("sources")
        parts.nodes_known = isinstance(data.get("sites"), list) and (
            sources is None or isinstance(sources, list)
        )
        for key, model, into in (("sites", Site, parts.sites),
                                 ("sources", Source, parts.sources),
                                 ("links", Link, parts.links),
                                 ("contracts", Contract, parts.contracts)):
            raw = data.get(key)
            if not isinstance(raw, list):
                continue
            for item in raw:
                entity = _valid(model, item)
                if entity is not None:
                    into.append(entity)
                elif key in ("sites", "sources"):
                    ident = item.get("id") if isinstance(item, dict) else None
                    if isinstance(ident, str) and ident:
                        parts.unsure[ident] = isinstance(item.get("ai"), dict)
                    else:
                        parts.nodes_known = False
        return parts


def _valid(model: type[Any], raw: Any) -> Any:
    """``raw`` validated as ``model``, or None if it fails the schema."""
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _pick(raw: Any, keys: list[str]) -> Any:
    return {k: raw[k] for k in keys if k in raw} if isinstance(raw, dict) else raw


def _cross_issues(parts: _Parts, source: str) -> list[InputIssue]:
    """The rules that look at more than one field: series lengths, ids, references."""
    issues: list[InputIssue] = []

    def add(entity: str, field: str, value: Any, expected: str) -> None:
        issues.append(InputIssue(source, entity, field, value, expected))

    periods = parts.periods

    def series(entity: str, field: str, value: Any) -> None:
        if periods is not None and isinstance(value, list) and len(value) != periods:
            add(entity, field, value,
                f"expected one number or a list of exactly {periods} numbers "
                f"(horizon.periods), not {len(value)}")

    if parts.market is not None:
        series("market", "hashprice_usd_per_ph_day", parts.market.hashprice_usd_per_ph_day)
    if parts.limits is not None and parts.limits.capex_budget_usd_per_period is not None:
        series("limits", "capex_budget_usd_per_period",
               parts.limits.capex_budget_usd_per_period)

    nodes = [("site", "sites", i, s.id) for i, s in enumerate(parts.sites)]
    nodes += [("source", "sources", i, r.id) for i, r in enumerate(parts.sources)]
    first_node: dict[str, str] = {}
    for kind, key, i, node in nodes:
        if node in first_node:
            add(f"{kind} '{node}' ({key}[{i}])", "id", node,
                f"expected an id used by no other site or source; {first_node[node]} "
                f"already has id '{node}'")
        else:
            first_node[node] = f"{key}[{i}]"
    node_ids = set(first_node)
    site_ids = {s.id for s in parts.sites}
    ai_sites = {s.id for s in parts.sites if s.ai is not None}
    # What messages list as valid choices, including entries whose own errors are reported.
    known_nodes = _few(node_ids | set(parts.unsure))
    known_ai = _few(ai_sites | {k for k, has_ai in parts.unsure.items() if has_ai})

    def unknown(node: str) -> bool:
        """A reference to no node at all (not one whose own entry is already in error)."""
        return parts.nodes_known and node not in node_ids and node not in parts.unsure

    for site in parts.sites:
        ent = f"site '{site.id}'"
        if site.grid is not None:
            series(ent, "grid.price_usd_per_mwh", site.grid.price_usd_per_mwh)
        ai = site.ai
        if ai is not None:
            if ai.existing_it_mw > ai.max_it_mw:
                add(ent, "ai.existing_it_mw", ai.existing_it_mw,
                    f"expected at most ai.max_it_mw = {ai.max_it_mw:g}")
            if ai.existing_it_mw * ai.pue > site.capacity_mw * (1 + 1e-9) + 1e-9:
                add(ent, "ai.existing_it_mw", ai.existing_it_mw,
                    f"expected at most capacity_mw / ai.pue = {site.capacity_mw / ai.pue:g}: "
                    f"existing halls draw existing_it_mw * ai.pue = "
                    f"{ai.existing_it_mw * ai.pue:g} MW, more than capacity_mw = "
                    f"{site.capacity_mw:g}")
    for src in parts.sources:
        ent = f"source '{src.id}'"
        series(ent, "capacity_mw", src.capacity_mw)
        series(ent, "price_usd_per_mwh", src.price_usd_per_mwh)

    link_ids = Counter(link.link_id for link in parts.links)
    first_link: dict[str, int] = {}
    for i, link in enumerate(parts.links):
        lid = link.link_id
        ent = f"link '{lid}'" if link_ids[lid] == 1 else f"link '{lid}' (links[{i}])"
        if lid in first_link:
            j = first_link[lid]
            how = (f"this link has no id, so its default id is '<from>-<to>' = '{lid}'"
                   if link.id is None else f"this link's id is '{lid}'")
            other = "" if parts.links[j].id is not None else " (as its default id)"
            add(ent, "id", lid,
                f"expected a link id used by no other link; {how}, and links[{j}] already "
                f"has id '{lid}'{other}: give parallel links their own ids")
        else:
            first_link[lid] = i
        for end, node in (("from", link.from_), ("to", link.to)):
            if unknown(node):
                add(ent, end, node, f"expected a site or source id; known: {known_nodes}")
        if link.from_ == link.to:
            add(ent, "to", link.to, "expected a node other than 'from' (no self-links)")
        if link.kind == "power":
            if link.capacity_mw is None:
                add(ent, "capacity_mw", MISSING, "expected capacity_mw >= 0 (power links need it)")
            if link.latency_ms is not None:
                add(ent, "latency_ms", link.latency_ms,
                    "expected no 'latency_ms' key on a power link (it belongs to fiber links)")
        else:
            if link.latency_ms is None:
                add(ent, "latency_ms", MISSING, "expected latency_ms >= 0 (fiber links need it)")
            for name in ("capacity_mw", "loss", "directed"):
                if getattr(link, name) is not None:
                    add(ent, name, getattr(link, name),
                        f"expected no '{name}' key on a fiber link (it belongs to power links)")

    issues += deal_issues(parts.periods, parts.horizon, parts.contracts, source)
    issues += block_issues(parts.periods, parts.market, parts.sites, parts.sources, source)
    issues += uncertainty_issues(parts.periods, parts.uncertain, parts.market_given,
                                 parts.hashprice, parts.uncertainty, source)
    contract_ids = Counter(c.id for c in parts.contracts)
    first_contract: dict[str, int] = {}
    for i, c in enumerate(parts.contracts):
        ent = f"contract '{c.id}'"
        if contract_ids[c.id] > 1:
            ent += f" (contracts[{i}])"
        if c.id in first_contract:
            add(ent, "id", c.id, f"expected a contract id used by no other contract; "
                f"contracts[{first_contract[c.id]}] already has id '{c.id}'")
        else:
            first_contract[c.id] = i
        if periods is not None and c.start_period > periods:
            add(ent, "start_period", c.start_period,
                f"expected a period from 1 to {periods} (horizon.periods)")
        el = c.eligible
        if el is None:
            continue
        if (el.sites is None) == (el.near is None):
            add(ent, "eligible", _dump(el),
                "expected exactly one of 'sites' (a list) or 'near' (site + max_latency_ms)")
            continue
        if el.sites is not None:
            if not el.sites:
                add(ent, "eligible.sites", [],
                    f"expected a non-empty list of AI site ids; sites that can host AI: "
                    f"{known_ai}")
            for j, sid in enumerate(el.sites):
                if sid in ai_sites or sid in parts.unsure:
                    continue
                if sid in site_ids:
                    add(ent, f"eligible.sites[{j}]", sid,
                        f"expected a site with an 'ai' block; sites that can host AI: "
                        f"{known_ai}")
                elif parts.nodes_known:
                    add(ent, f"eligible.sites[{j}]", sid,
                        f"expected the id of a site with an 'ai' block; sites that can host "
                        f"AI: {known_ai}")
            for sid, n in Counter(el.sites).items():
                if n > 1:
                    add(ent, "eligible.sites", sid, f"expected each site once, not {n} times")
        elif el.near is not None and el.near.site not in site_ids and (
            el.near.site in node_ids or unknown(el.near.site)
        ):
            add(ent, "eligible.near.site", el.near.site,
                f"expected a site id (sources are not reference points); known sites: "
                f"{_few(site_ids)}")
    return issues


def _few(ids: Any, n: int = 8) -> str:
    items = sorted(ids)
    if not items:
        return "(none)"
    text = ", ".join(repr(i) for i in items[:n])
    return text + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True, by_alias=True)


# --- translating pydantic errors into the instance's own words ---------------------------


def _translate(err: Any, data: dict[str, Any], source: str) -> InputIssue:
    loc = tuple(err["loc"])
    entity, field_loc = _entity(loc, data)
    field = _join(field_loc)
    value = _lookup(data, loc)
    kind = err["type"]
    if kind == "missing":
        expected = "expected this key (it is required)"
        value = MISSING
    elif kind in ("extra_forbidden", "invalid_key"):
        expected = _unknown_key(loc[:-1])
        if kind == "invalid_key":  # a key that is not a string, e.g. `1: x`
            field, value = _join(field_loc[:-1]), loc[-1]
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        expected = "expected a mapping"
    elif kind == "list_type":
        expected = "expected a list"
    elif kind == "too_short" and loc == ("sites",):
        expected = "expected at least one site"
    elif kind == "too_short" and loc == ("uncertainty", "scenarios"):
        expected = ("expected at least one scenario {id, probability, "
                    "hashprice_usd_per_ph_day}")
    else:
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        expected = "expected " + msg.removeprefix("Input should be ").removeprefix("expected ")
    return InputIssue(source, entity, field, value, expected)


def _unknown_key(where: tuple[Any, ...]) -> str:
    allowed = _allowed_keys(where)
    return ("expected one of the keys " + (", ".join(allowed) if allowed else "(none)")
            + " (an unknown key is an error: a typo must not change a plan)")


def _entity(loc: tuple[Any, ...], data: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    if not loc:
        return "document", ()
    head = loc[0]
    if head in _ENTITY_LISTS and len(loc) >= 2 and isinstance(loc[1], int):
        kind = _ENTITY_LISTS[head]
        item = _lookup(data, loc[:2])
        name = None
        if isinstance(item, dict):
            if head == "links":
                ident, ends = item.get("id"), (item.get("from"), item.get("to"))
                if not (isinstance(ident, str) and ident) and all(
                    isinstance(end, str) and end for end in ends
                ):
                    ident = f"{ends[0]}-{ends[1]}"  # the default id
                name = ident if isinstance(ident, str) and ident else None
            elif isinstance(item.get("id"), str) and item.get("id"):
                name = item["id"]
        label = f"{kind} '{name}'" if name else f"{head}[{loc[1]}]"
        return label, loc[2:]
    if head == "uncertainty":
        if len(loc) >= 3 and loc[1] == "scenarios" and isinstance(loc[2], int):
            item = _lookup(data, loc[:3])
            ident = item.get("id") if isinstance(item, dict) else None
            where = f"uncertainty.scenarios[{loc[2]}]"
            name = f"scenario '{ident}' ({where})" if isinstance(ident, str) and ident \
                else where
            return name, loc[3:]
        return "uncertainty", loc[1:]
    if head in ("horizon", "market", "limits", "finance"):
        return str(head), loc[1:]
    return "document", loc


def _join(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, dict) and part == "from_" and "from" in cur:
            cur = cur["from"]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
        else:
            return MISSING
    return cur


def _model_class(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``list[Site]`` or ``AI | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_class(typing.get_args(annotation)[0])
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_class(arg)
            if found is not None:
                return found
    return None


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] | None = Instance
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            field = next((f for f in model.model_fields.values() if f.alias == part), None)
        model = _model_class(field.annotation) if field is not None else None
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]
