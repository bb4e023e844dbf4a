"""Parameter paths: how a batch names a number inside an instance, and how it is changed.

A path is dotted field names from the top of the instance; entity lists are selected by
id in brackets, or ``[*]`` for every entity where the rest of the path reaches a number::

    market.hashprice_usd_per_ph_day
    sites[tx-rockdale].ai.capex_usd_per_it_mw
    sites[*].grid.price_usd_per_mwh        # every site that has a grid
    contracts[hyperscaler-dfw].it_mw.max
    limits.capex_budget_usd

A path must end at a number, a series, or a whole-number field (the last only takes
absolute values). Two readings of spec v2 part C (price blocks):

* ``sites[x].grid.price_usd_per_mwh[peak]`` (and ``sources[r].price_usd_per_mwh[peak]``)
  is one block's series of a price; a plain price is first expanded to a mapping with the
  same series in every block, so only that block changes.
* ``market.blocks[peak].hours_share`` set to x (in (0, 1)) rescales the other blocks'
  shares proportionally so that they sum to 1 - x, keeping the shares' sum at 1.

Spec v2 part B (uncertainty): ``uncertainty.risk.cvar_weight``, ``uncertainty.risk.
cvar_alpha`` and ``uncertainty.scenarios[id].hashprice_usd_per_ph_day`` /
``.energy_price_scale`` are ordinary numbers and series. ``uncertainty.scenarios[id].
probability`` set to x (in (0, 1)) is read like a block's share: the other scenarios'
probabilities are rescaled proportionally to sum to 1 - x, so the probabilities still sum
to 1 (one scenario at a time; ``[*]`` is refused).

The kinds are read from the schema in :mod:`portfolio_opt.instance`, so a field added there
becomes a valid path without touching this module. Overrides are applied to a plain dump
of the instance which is then validated like a file, so every scenario obeys every rule of
the format.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from ..errors import InputError, InputIssue
from ..instance import Instance

__all__ = [
    "Change",
    "Location",
    "ParamPath",
    "Segment",
    "Value",
    "apply_changes",
    "apply_overrides",
    "get_value",
    "get_values",
    "nearest_paths",
    "parse_path",
    "probability_problem",
    "resolve",
    "valid_paths",
]

Value = float | list[float] | None
Kind = Literal["number", "series", "integer"]

# Entity lists addressed by id: field name -> attribute holding the id.
_ENTITY_LISTS = {"sites": "id", "sources": "id", "links": "link_id", "contracts": "id"}
# Whole-number fields that shape every other field (series lengths, labels): never varied.
_FROZEN = {("horizon", "periods"), ("horizon", "start_year")}

_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\[\]]+)\])?$")


@dataclass(frozen=True)
class Segment:
    """One step of a path: a field name, with an entity id (or ``*``) for entity lists."""

    name: str
    selector: str | None = None

    def __str__(self) -> str:
        return self.name if self.selector is None else f"{self.name}[{self.selector}]"


@dataclass(frozen=True)
class ParamPath:
    """A parsed path; ``text`` is what the user wrote (used as the column name)."""

    text: str
    segments: tuple[Segment, ...]

    @property
    def is_wildcard(self) -> bool:
        return any(s.selector == "*" for s in self.segments)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Location:
    """One concrete number or series in an instance.

    ``keys`` walks a ``model_dump(by_alias=True)`` of the instance (list indices and
    field names); ``label`` is the same place spelled as a path with ids.
    """

    keys: tuple[str | int, ...]
    label: str
    kind: Kind
    block: str | None = None  # a price's block (spec v2 C): one series of the mapping

    @property
    def is_share(self) -> bool:
        """A block's ``hours_share``: setting it rescales the other blocks' shares."""
        return self.keys[:2] == ("market", "blocks") and self.keys[-1] == "hours_share"

    @property
    def is_probability(self) -> bool:
        """A scenario's ``probability`` (spec v2 B): setting it rescales the others'."""
        return (self.keys[:2] == ("uncertainty", "scenarios")
                and self.keys[-1] == "probability")


def _issue(text: str, expected: str, source: str, entity: str) -> InputError:
    return InputError([InputIssue(source, entity, "path", text, expected)])


def parse_path(text: str, *, source: str = "<batch>", entity: str = "parameter") -> ParamPath:
    """Parse ``text`` into a :class:`ParamPath` (syntax only; see :func:`resolve`)."""
    if not isinstance(text, str) or not text.strip():
        raise _issue(text, "expected a path such as 'market.hashprice_usd_per_ph_day'",
                     source, entity)
    segments = []
    for part in text.strip().split("."):
        m = _SEGMENT.match(part)
        if m is None:
            raise _issue(text, f"'{part}' is not a field name or name[id]; expected a path "
                         "such as 'sites[alpha].grid.price_usd_per_mwh'", source, entity)
        segments.append(Segment(m.group(1), m.group(2)))
    return ParamPath(text.strip(), tuple(segments))


def _flatten(annotation: Any) -> list[Any]:
    """The concrete types behind an annotation (through Optional, unions, Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _flatten(arg)]
    return [annotation]


def _per_block(model: type[BaseModel], name: str) -> bool:
    """The field may be a mapping {block id: series} (spec v2 C's BlockSeries)."""
    parts = _flatten(model.model_fields[name].annotation)
    return any(typing.get_origin(t) is dict for t in parts)


def _field_kind(model: type[BaseModel], name: str) -> Any:
    """'series' | 'number' | 'integer' | a BaseModel class | ('list', class) | None."""
    parts = [t for t in _flatten(model.model_fields[name].annotation) if t is not type(None)]
    if any(typing.get_origin(t) is list and typing.get_args(t) == (float,) for t in parts):
        return "series"
    if float in parts:
        return "number"
    if int in parts:
        return "integer"
    for t in parts:
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
        if typing.get_origin(t) is list:
            (inner,) = typing.get_args(t)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return ("list", inner)
    return None


def _field_name(model: type[BaseModel], name: str) -> tuple[str, str] | None:
    """(python name, dump key) of ``name`` in ``model``, accepting the alias too."""
    for py_name, field in model.model_fields.items():
        if name in (py_name, field.alias):
            return py_name, field.alias or py_name
    return None


def _walk(obj: BaseModel, segments: tuple[Segment, ...], keys: tuple[str | int, ...],
          label: str, trail: tuple[str, ...],
          blocks: tuple[str, ...] = ()) -> tuple[list[Location], str | None]:
    """Concrete locations under ``obj``; the second item says why nothing was reached.

    ``blocks`` are the instance's price block ids (spec v2 C), for ``price[block]``."""
    seg, rest = segments[0], segments[1:]
    names = _field_name(type(obj), seg.name)
    where = label or "the instance"
    if names is None:
        return [], f"{where} has no field '{seg.name}'"
    py_name, key = names
    kind = _field_kind(type(obj), py_name)
    value = getattr(obj, py_name)
    here = f"{label}.{seg.name}" if label else seg.name
    if isinstance(kind, tuple):
        if seg.selector is None:
            return [], f"'{here}' is a list of entities; select one as {here}[id] or {here}[*]"
        id_attr = _ENTITY_LISTS.get(seg.name, "id")
        found: list[Location] = []
        reasons: list[str] = []
        for i, item in enumerate(value or ()):  # an optional list may be absent (None)
            ident = getattr(item, id_attr)
            if seg.selector not in ("*", ident):
                continue
            if not rest:
                return [], f"'{here}[{ident}]' is an entity; name one of its numbers"
            locs, why = _walk(item, rest, (*keys, key, i), f"{here}[{ident}]",
                              (*trail, seg.name), blocks)
            found += locs
            if why:
                reasons.append(why)
        if found:
            return found, None
        if seg.selector != "*" and not reasons:
            ids = ", ".join(getattr(item, id_attr) for item in value or ()) or "none"
            return [], f"no entry of '{here}' has id '{seg.selector}' (ids: {ids})"
        return [], reasons[0] if reasons else f"'{here}' is empty"
    if seg.selector is not None and not rest and _per_block(type(obj), py_name):
        return _block_location(seg, (*keys, key), here, blocks)
    if seg.selector is not None:
        return [], f"'{here}' is not a list of entities; remove '[{seg.selector}]'"
    if isinstance(kind, type):
        if not rest:
            return [], f"'{here}' is a block, not a number; name one of its fields"
        if value is None:
            return [], f"'{here}' is absent in the base instance"
        return _walk(value, rest, (*keys, key), here, (*trail, seg.name), blocks)
    if rest:
        return [], f"'{here}' is a value; nothing lies below it"
    if kind not in ("number", "series", "integer"):
        return [], f"'{here}' is not a number or a series"
    if kind == "integer" and (*trail, seg.name) in _FROZEN:
        return [], f"'{here}' shapes the whole instance and cannot be varied"
    return [Location((*keys, key), here, kind)], None


def _block_location(seg: Segment, keys: tuple[str | int, ...], here: str,
                    blocks: tuple[str, ...]) -> tuple[list[Location], str | None]:
    """``price[b]``: block b's series of a price (spec v2 C)."""
    if not blocks:
        return [], (f"'{here}' has one price for every hour: the instance has no "
                    f"market.blocks, so remove '[{seg.selector}]'")
    if seg.selector == "*":
        return [], (f"'{here}[*]' would be every block, which is '{here}' itself; name one "
                    f"block (blocks: {', '.join(blocks)})")
    if seg.selector not in blocks:
        return [], (f"'{here}[{seg.selector}]': the instance has no price block "
                    f"'{seg.selector}' (blocks: {', '.join(blocks)})")
    return [Location(keys, f"{here}[{seg.selector}]", "series", seg.selector)], None


def _block_ids(instance: Instance) -> tuple[str, ...]:
    return tuple(b.id for b in instance.market.blocks or ())


def valid_paths(instance: Instance) -> list[str]:
    """Every concrete path to a number or series, plus the ``[*]`` forms of each."""
    out: dict[str, None] = {}
    blocks = _block_ids(instance)
    per_block: dict[str, None] = {}  # price[b] paths, starred on their entities only

    def visit(obj: BaseModel, label: str, trail: tuple[str, ...]) -> None:
        for py_name, field in type(obj).model_fields.items():
            name = field.alias or py_name
            here = f"{label}.{name}" if label else name
            kind = _field_kind(type(obj), py_name)
            value = getattr(obj, py_name)
            if isinstance(kind, tuple):
                id_attr = _ENTITY_LISTS.get(name, "id")
                for item in value or ():  # an optional list may be absent (None)
                    visit(item, f"{here}[{getattr(item, id_attr)}]", (*trail, name))
            elif isinstance(kind, type):
                if value is not None:
                    visit(value, here, (*trail, name))
            elif kind in ("number", "series", "integer") and (*trail, name) not in _FROZEN:
                out[here] = None
                if _per_block(type(obj), py_name):
                    per_block.update((f"{here}[{b}]", None) for b in blocks)

    visit(instance, "", ())
    starred = [re.sub(r"\[[^\[\]]+\]", "[*]", p) for p in out]
    starred += [re.sub(r"\[[^\[\]]+\]", "[*]", p[:p.rindex("[")]) + p[p.rindex("["):]
                for p in per_block]
    one_at_a_time = ("market.blocks[*].hours_share", "uncertainty.scenarios[*].probability")
    starred = [p for p in starred if p not in one_at_a_time]
    return [*out, *per_block, *dict.fromkeys(p for p in starred if p not in out)]


def nearest_paths(instance: Instance, text: str, n: int = 5) -> list[str]:
    """The valid paths closest to ``text`` (difflib), for error messages."""
    candidates = valid_paths(instance)
    close = difflib.get_close_matches(text, candidates, n=n, cutoff=0.5)
    return close or difflib.get_close_matches(text, candidates, n=n, cutoff=0.0)


def resolve(instance: Instance, path: ParamPath | str, *, source: str = "<batch>",
            entity: str = "parameter") -> list[Location]:
    """The concrete locations ``path`` reaches in ``instance``, in instance order.

    Raises :class:`InputError` naming the nearest valid paths when it reaches none.
    """
    parsed = parse_path(path, source=source, entity=entity) if isinstance(path, str) else path
    locations, why = _walk(instance, parsed.segments, (), "", (), _block_ids(instance))
    if len(locations) > 1 and any(loc.is_share for loc in locations):
        raise _issue(parsed.text, "a block's hours_share is varied one block at a time (the "
                     "others are rescaled to keep the sum at 1); name one block, e.g. "
                     f"'{locations[0].label}'", source, entity)
    if len(locations) > 1 and any(loc.is_probability for loc in locations):
        raise _issue(parsed.text, "a scenario's probability is varied one scenario at a "
                     "time (the others are rescaled to keep the sum at 1); name one "
                     f"scenario, e.g. '{locations[0].label}'", source, entity)
    if locations:
        return locations
    near = ", ".join(f"'{p}'" for p in nearest_paths(instance, parsed.text))
    raise _issue(parsed.text, f"{why}; expected a path to a number or a series, "
                 f"nearest valid paths: {near}", source, entity)


def _dig(data: Any, keys: tuple[str | int, ...]) -> Any:
    for k in keys:
        data = data[k] if isinstance(k, int) else data.get(k)
        if data is None:
            return None
    return data


def get_values(instance: Instance, path: ParamPath | str) -> dict[str, Value]:
    """Value at every location ``path`` reaches, keyed by its concrete label."""
    dump = instance.model_dump(by_alias=True)
    out: dict[str, Value] = {}
    for loc in resolve(instance, path):
        value = _dig(dump, loc.keys)
        if loc.block is not None and isinstance(value, dict):
            value = value[loc.block]
        out[loc.label] = _copy(value)
    return out


def get_value(instance: Instance, path: ParamPath | str) -> Value:
    """The value at a path that reaches exactly one location (None: optional, absent)."""
    values = get_values(instance, path)
    if len(values) != 1:
        text = path if isinstance(path, str) else path.text
        raise _issue(text, f"reaches {len(values)} locations ({', '.join(values)}); "
                     "name one entity instead of [*]", "<batch>", "parameter")
    return next(iter(values.values()))


def _copy(value: Any) -> Value:
    return list(value) if isinstance(value, list) else value


def _new_value(loc: Location, base: Any, x: float | list[float], scale: bool,
               periods: int, text: str, source: str) -> Any:
    """The value written at ``loc``: ``x`` itself, or the base times ``x``."""
    if isinstance(x, list) and loc.kind != "series":
        raise _issue(text, f"'{loc.label}' is a single number; expected a number, not a list",
                     source, "parameter")
    if isinstance(x, list) and len(x) != periods:
        raise _issue(text, f"a list for '{loc.label}' needs one number per period "
                     f"({periods}), not {len(x)}", source, "parameter")
    if not scale:
        if loc.kind == "integer" and not isinstance(x, list) and float(x).is_integer():
            return int(x)
        return list(x) if isinstance(x, list) else x
    if loc.kind == "integer":
        raise _issue(text, f"'{loc.label}' is a whole number; give absolute values, "
                     "not a scale", source, "parameter")
    if base is None:
        raise _issue(text, f"'{loc.label}' is absent in the base instance, so there is "
                     "nothing to scale; give absolute values", source, "parameter")
    if isinstance(base, dict):  # a price per block (spec v2 C): each block's series scaled
        return {k: _new_value(loc, v, x, True, periods, text, source) for k, v in base.items()}
    if isinstance(base, list) or isinstance(x, list):
        b = base if isinstance(base, list) else [base] * periods
        f = x if isinstance(x, list) else [x] * periods
        return [bi * fi for bi, fi in zip(b, f, strict=True)]
    return base * x


def apply_overrides(instance: Instance, overrides: dict[str, float | list[float]], *,
                    scale: bool = False, source: str = "<scenario>") -> Instance:
    """A validated deep copy of ``instance`` with each path set to (or scaled by) a value.

    With ``scale=True`` each value multiplies the base (a series element-wise; a list
    gives one factor per period). Overrides apply in dict order. The copy is validated
    like an instance file: a value that breaks a rule raises :class:`InputError`.
    """
    return apply_changes(instance, [(k, v, scale) for k, v in overrides.items()],
                         source=source)


Change = tuple[str, float | list[float], bool]


def apply_changes(instance: Instance, changes: list[Change], *, source: str = "<scenario>",
                  base_dump: dict[str, Any] | None = None) -> Instance:
    """Like :func:`apply_overrides` with a scale flag per change: ``(path, value, scale)``.

    ``base_dump`` (``instance.model_dump(by_alias=True, exclude_none=True)``) saves the
    dump when many scenarios share one base; it is deep-copied, never changed.
    """
    import copy

    from ..validate import validate_data

    if base_dump is None:
        data = instance.model_dump(by_alias=True, exclude_none=True)
    else:
        data = copy.deepcopy(base_dump)
    periods = instance.horizon.periods
    blocks = _block_ids(instance)
    for text, x, scale in changes:
        for loc in resolve(instance, text, source=source):
            *head, last = loc.keys
            parent = _dig(data, tuple(head))
            if parent is None:
                raise _issue(text, f"'{loc.label}' is inside a block absent in the base",
                             source, "parameter")
            if loc.block is not None:
                price = parent.get(last)
                if not isinstance(price, dict):  # one series for every block: expand it
                    price = {b: copy.deepcopy(price) for b in blocks}
                    parent[last] = price
                price[loc.block] = _new_value(loc, price.get(loc.block), x, scale, periods,
                                              text, source)
            elif loc.is_share:
                new = _new_value(loc, parent.get(last), x, scale, periods, text, source)
                _set_share(data["market"]["blocks"], int(head[-1]), new, loc.label, text,
                           source)
            elif loc.is_probability:
                new = _new_value(loc, parent.get(last), x, scale, periods, text, source)
                _set_share(data["uncertainty"]["scenarios"], int(head[-1]), new, loc.label,
                           text, source, key="probability")
            else:
                parent[last] = _new_value(loc, parent.get(last), x, scale, periods, text,
                                          source)
    return validate_data(data, source)


def share_problem(instance: Instance, label: str, share: float) -> str | None:
    """Why block ``label``'s hours_share cannot be set to ``share`` (None: it can)."""
    blocks = instance.market.blocks or []
    if len(blocks) < 2:
        return (f"'{label}' is the only block, so its share is 1; a share needs other "
                "blocks to take the rest of the hours")
    if not (isinstance(share, (int, float)) and 0.0 < share < 1.0):
        return (f"expected a share of '{label}' strictly between 0 and 1 (the other blocks "
                f"are rescaled to sum to 1 - share), not {share!r}")
    return None


def probability_problem(instance: Instance, label: str, p: float) -> str | None:
    """Why scenario ``label``'s probability cannot be set to ``p`` (None: it can)."""
    u = instance.uncertainty
    if u is None or len(u.scenarios) < 2:
        return (f"'{label}' is the only scenario, so its probability is 1; a probability "
                "needs other scenarios to take the rest")
    if not (isinstance(p, (int, float)) and 0.0 < p < 1.0):
        return (f"expected a probability of '{label}' strictly between 0 and 1 (the other "
                f"scenarios are rescaled to sum to 1 - probability), not {p!r}")
    return None


def _set_share(items: list[dict[str, Any]], i: int, share: Any, label: str, text: str,
               source: str, key: str = "hours_share") -> None:
    """Item i's ``key`` (a block's share, a scenario's probability) := ``share``; the
    others scaled by (1 - share) / (their sum)."""
    what, name = ("block", "share") if key == "hours_share" else ("scenario", "probability")
    if isinstance(share, list) or not 0.0 < float(share) < 1.0 or len(items) < 2:
        why = (f"expected one number per {what} {name}, not a list" if isinstance(share, list)
               else f"'{label}' is the only {what}, so its {name} is 1" if len(items) < 2
               else f"expected a {name} of '{label}' strictly between 0 and 1 (the other "
               f"{what}s are rescaled to sum to 1 - {name}), not {share!r}")
        raise _issue(text, why, source, "parameter")
    rest = sum(float(b[key]) for j, b in enumerate(items) if j != i)
    factor = (1.0 - float(share)) / rest
    for j, b in enumerate(items):
        b[key] = float(share) if j == i else float(b[key]) * factor
