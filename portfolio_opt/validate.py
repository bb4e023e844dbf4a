"""Validation: the schema first (types, ranges, unknown keys), then the cross-entity rules.

Every problem becomes an :class:`InputIssue` naming the file, the entity, the field, the
value found and what would be valid; all of them are reported together.
"""

from __future__ import annotations

import types
import typing
from collections import Counter
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import MISSING, InputError, InputIssue
from .instance import Instance

__all__ = ["check_instance", "validate_data"]

_ENTITY_LISTS = {"sites": "site", "sources": "source", "links": "link", "contracts": "contract"}


def validate_data(data: Any, source: str = "<instance>") -> Instance:
    """Validate a parsed document (dicts and lists) into an :class:`Instance`."""
    if not isinstance(data, dict):
        raise InputError(
            [InputIssue(source, "document", "", data, "expected a mapping of top-level keys")]
        )
    try:
        instance = Instance.model_validate(data)
    except ValidationError as exc:
        raise InputError([_translate(err, data, source) for err in exc.errors()]) from None
    check_instance(instance, source)
    return instance


def check_instance(instance: Instance, source: str = "<instance>") -> None:
    """Cross-entity rules of the spec; raises :class:`InputError` with every issue found."""
    issues: list[InputIssue] = []

    def add(entity: str, field: str, value: Any, expected: str) -> None:
        issues.append(InputIssue(source, entity, field, value, expected))

    periods = instance.horizon.periods

    def series(entity: str, field: str, value: Any) -> None:
        if isinstance(value, list) and len(value) != periods:
            add(entity, field, value,
                f"expected one number or a list of exactly {periods} numbers "
                f"(horizon.periods), not {len(value)}")

    series("market", "hashprice_usd_per_ph_day", instance.market.hashprice_usd_per_ph_day)
    if instance.limits.capex_budget_usd_per_period is not None:
        series("limits", "capex_budget_usd_per_period",
               instance.limits.capex_budget_usd_per_period)

    node_ids = Counter([s.id for s in instance.sites] + [r.id for r in instance.sources])
    for node, count in node_ids.items():
        if count > 1:
            add(f"site/source '{node}'", "id", node,
                f"ids must be unique across sites and sources; '{node}' is used {count} times")
    site_ids = {s.id for s in instance.sites}
    ai_sites = {s.id for s in instance.sites if s.ai is not None}

    for site in instance.sites:
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
                    f"existing halls draw existing_it_mw * ai.pue = "
                    f"{ai.existing_it_mw * ai.pue:g} MW, more than capacity_mw = "
                    f"{site.capacity_mw:g}; expected existing_it_mw <= "
                    f"{site.capacity_mw / ai.pue:g}")
    for src in instance.sources:
        ent = f"source '{src.id}'"
        series(ent, "capacity_mw", src.capacity_mw)
        series(ent, "price_usd_per_mwh", src.price_usd_per_mwh)

    link_ids = Counter(link.link_id for link in instance.links)
    for i, link in enumerate(instance.links):
        lid = link.link_id
        ent = f"link '{lid}'" if link_ids[lid] == 1 else f"link '{lid}' (links[{i}])"
        if link_ids[lid] > 1:
            add(ent, "id", link.id if link.id is not None else MISSING,
                f"link ids must be unique; '{lid}' is used {link_ids[lid]} times "
                "(give parallel links their own ids)")
        for end, node in (("from", link.from_), ("to", link.to)):
            if node not in node_ids:
                add(ent, end, node, f"expected a site or source id; known: {_few(node_ids)}")
        if link.from_ == link.to:
            add(ent, "to", link.to, "expected a node other than 'from' (no self-links)")
        if link.kind == "power":
            if link.capacity_mw is None:
                add(ent, "capacity_mw", MISSING, "power links need capacity_mw >= 0")
            if link.latency_ms is not None:
                add(ent, "latency_ms", link.latency_ms,
                    "latency_ms belongs to fiber links; remove it from this power link")
        else:
            if link.latency_ms is None:
                add(ent, "latency_ms", MISSING, "fiber links need latency_ms >= 0")
            for name in ("capacity_mw", "loss", "directed"):
                if getattr(link, name) is not None:
                    add(ent, name, getattr(link, name),
                        f"{name} belongs to power links; remove it from this fiber link")

    contract_ids = Counter(c.id for c in instance.contracts)
    for c in instance.contracts:
        ent = f"contract '{c.id}'"
        if contract_ids[c.id] > 1:
            add(ent, "id", c.id, f"contract ids must be unique; used {contract_ids[c.id]} times")
        if c.start_period > periods:
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
                add(ent, "eligible.sites", [], "expected a non-empty list of AI site ids")
            for j, sid in enumerate(el.sites):
                if sid not in site_ids:
                    add(ent, f"eligible.sites[{j}]", sid,
                        f"expected a site id; known: {_few(site_ids)}")
                elif sid not in ai_sites:
                    add(ent, f"eligible.sites[{j}]", sid,
                        f"site '{sid}' has no 'ai' block; sites that can host AI: "
                        f"{_few(ai_sites)}")
            for sid, n in Counter(el.sites).items():
                if n > 1:
                    add(ent, "eligible.sites", sid, f"each site at most once (listed {n} times)")
        elif el.near is not None and el.near.site not in site_ids:
            add(ent, "eligible.near.site", el.near.site,
                f"expected a site id (sources are not reference points); known: "
                f"{_few(site_ids)}")

    if issues:
        raise InputError(issues)


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
        expected = "this key is required"
        value = MISSING
    elif kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        expected = "unknown key (a typo must not change a plan); valid keys here: " + (
            ", ".join(allowed) if allowed else "(none)"
        )
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        expected = "expected a mapping"
    elif kind == "list_type":
        expected = "expected a list"
    elif kind == "too_short" and loc == ("sites",):
        expected = "expected at least one site"
    else:
        msg = str(err.get("msg", ""))
        expected = msg.removeprefix("Value error, ")
        if kind == "literal_error":
            expected = "expected " + expected.removeprefix("Input should be ")
    return InputIssue(source, entity, field, value, expected)


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
                ident = item.get("id") or f"{item.get('from')}-{item.get('to')}"
                name = ident if isinstance(ident, str) else None
            elif isinstance(item.get("id"), str) and item.get("id"):
                name = item["id"]
        label = f"{kind} '{name}'" if name else f"{head}[{loc[1]}]"
        return label, loc[2:]
    if head in ("horizon", "market", "limits"):
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
