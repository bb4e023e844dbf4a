"""Parameter paths: how a batch names a number inside an instance, and how it is changed.

A path is dotted field names from the top of the instance; entity lists are selected by
id in brackets, or ``[*]`` for every entity where the rest of the path reaches a number::

    market.hashprice_usd_per_ph_day
    sites[tx-rockdale].ai.capex_usd_per_it_mw
    sites[*].grid.price_usd_per_mwh        # every site that has a grid
    contracts[hyperscaler-dfw].it_mw.max
    limits.capex_budget_usd

A path must end at a number, a series, or a whole-number field (the last only takes
absolute values). The kinds are read from the schema in :mod:`portfolio_opt.instance`, so
a field added there becomes a valid path without touching this module. Overrides are
applied to a plain dump of the instance which is then validated like a file, so every
scenario obeys every rule of the format.
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
          label: str, trail: tuple[str, ...]) -> tuple[list[Location], str | None]:
    """Concrete locations under ``obj``; the second item says why nothing was reached."""
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
                              (*trail, seg.name))
            found += locs
            if why:
                reasons.append(why)
        if found:
            return found, None
        if seg.selector != "*" and not reasons:
            ids = ", ".join(getattr(item, id_attr) for item in value or ()) or "none"
            return [], f"no entry of '{here}' has id '{seg.selector}' (ids: {ids})"
        return [], reasons[0] if reasons else f"'{here}' is empty"
    if seg.selector is not None:
        return [], f"'{here}' is not a list of entities; remove '[{seg.selector}]'"
    if isinstance(kind, type):
        if not rest:
            return [], f"'{here}' is a block, not a number; name one of its fields"
        if value is None:
            return [], f"'{here}' is absent in the base instance"
        return _walk(value, rest, (*keys, key), here, (*trail, seg.name))
    if rest:
        return [], f"'{here}' is a value; nothing lies below it"
    if kind not in ("number", "series", "integer"):
        return [], f"'{here}' is not a number or a series"
    if kind == "integer" and (*trail, seg.name) in _FROZEN:
        return [], f"'{here}' shapes the whole instance and cannot be varied"
    return [Location((*keys, key), here, kind)], None


def valid_paths(instance: Instance) -> list[str]:
    """Every concrete path to a number or series, plus the ``[*]`` forms of each."""
    out: dict[str, None] = {}

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

    visit(instance, "", ())
    starred = [re.sub(r"\[[^\[\]]+\]", "[*]", p) for p in out]
    return list(out) + list(dict.fromkeys(p for p in starred if p not in out))


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
    locations, why = _walk(instance, parsed.segments, (), "", ())
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
    return {loc.label: _copy(_dig(dump, loc.keys)) for loc in resolve(instance, path)}


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
    for text, x, scale in changes:
        for loc in resolve(instance, text, source=source):
            *head, last = loc.keys
            parent = _dig(data, tuple(head))
            if parent is None:
                raise _issue(text, f"'{loc.label}' is inside a block absent in the base",
                             source, "parameter")
            parent[last] = _new_value(loc, parent.get(last), x, scale, periods, text, source)
    return validate_data(data, source)
