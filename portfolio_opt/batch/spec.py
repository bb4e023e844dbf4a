"""Batch files: the YAML a strategy team writes to ask "how does the plan move when ...".

Two steps, like instance files: the schema (strict pydantic, unknown keys rejected), then
the checks that need the base instance (every path resolves to a number or a series,
values fit the field, the method can use them). Every problem is an :class:`InputIssue`
naming the batch file, the entry, the field, the value and what would be valid, and all
of them are reported together. The base instance is read relative to the batch file.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import MISSING, InputError, InputIssue
from ..instance import Id, Instance
from .paths import Kind, Location, parse_path, resolve

__all__ = ["METHODS", "SAMPLED", "Batch", "BatchFile", "Parameter", "ParameterSpec",
           "load_batch", "resolve_batch"]

METHODS = ("oat", "grid", "random", "lhs", "sobol", "morris")
SAMPLED = ("random", "lhs", "sobol", "morris")  # continuous designs over [low, high]
DEFAULT_LEVELS = 3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ParameterSpec(_Strict):
    """One varied parameter as written: a path and either ``values`` or ``scale``."""

    path: str
    values: list[float | list[float]] | None = None
    scale: list[float] | None = None
    levels: int | None = None


class BatchFile(_Strict):
    """The document, as written (before the base instance is read)."""

    base: str
    method: Literal["oat", "grid", "random", "lhs", "sobol", "morris"]
    parameters: list[ParameterSpec] = Field(min_length=1)
    samples: int | None = None
    seed: int = 0
    name: Id | None = None  # an id's rule: a label that may reach a spreadsheet
    solver_profile: str = "default"
    time_limit: float | None = Field(default=None, gt=0)
    mip_gap: float | None = Field(default=None, ge=0)
    morris_levels: int = Field(default=4, ge=2)


@dataclass(frozen=True)
class Parameter:
    """A checked parameter: what each scenario may set it to.

    ``levels`` are the oat/grid points (factors for ``scale``, values for ``values``);
    ``bounds`` the [low, high] the sampled methods draw from. The results column holds
    the factor or the value; when some levels are whole series, it holds the level's
    number (1, 2, ...) and :attr:`level_labels` says which series that is.
    """

    path: str
    mode: Literal["scale", "values"]
    kind: Kind
    locations: tuple[str, ...]
    levels: tuple[float | tuple[float, ...], ...]
    bounds: tuple[float, float]
    base_column: float  # the column's value in the unchanged base scenario

    @property
    def series_levels(self) -> bool:
        return any(isinstance(v, tuple) for v in self.levels)

    def column_value(self, level_index: int) -> float:
        if self.series_levels:
            return float(level_index + 1)
        x = self.levels[level_index]
        assert not isinstance(x, tuple)
        return float(x)


@dataclass
class Batch:
    """A validated batch: the file, its base instance and the checked parameters."""

    spec: BatchFile
    source: str  # the batch file's path as given, or "<batch>"
    sha256: str  # of the batch file's bytes (of its canonical JSON for a dict)
    base_path: Path
    base: Instance
    base_sha256: str
    parameters: list[Parameter] = field(default_factory=list)
    profile: str = "default"  # a name, or a profile file's path (relative to the batch)

    @property
    def method(self) -> str:
        return self.spec.method

    def describe(self) -> dict[str, Any]:
        """The design's definition, for the manifest."""
        return {
            "method": self.spec.method, "samples": self.spec.samples, "seed": self.spec.seed,
            "morris_levels": self.spec.morris_levels,
            "parameters": [
                {"path": p.path, "mode": p.mode, "kind": p.kind, "locations": list(p.locations),
                 "levels": [list(v) if isinstance(v, tuple) else v for v in p.levels],
                 "bounds": list(p.bounds), "base_column": _json_float(p.base_column)}
                for p in self.parameters
            ],
        }


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else x


_EXPECTED = {
    "extra_forbidden": "an unknown key; expected one of: {keys}",
    "missing": "required",
    "literal_error": "expected one of: " + ", ".join(METHODS),
}


def _translate(err: Any, data: dict[str, Any], source: str) -> InputIssue:
    loc = list(err["loc"])
    entity = "batch"
    if loc[:1] == ["parameters"] and len(loc) > 1 and isinstance(loc[1], int):
        i = loc[1]
        params = data.get("parameters")
        entry = params[i] if isinstance(params, list) and i < len(params) else None
        path = entry.get("path") if isinstance(entry, dict) else None
        entity = f"parameter {i + 1}" + (f" ('{path}')" if isinstance(path, str) else "")
        loc = loc[2:]
        model: type[BaseModel] = ParameterSpec
    else:
        model = BatchFile
    # Drop pydantic's union-branch markers ("float", "list[float]") from the location.
    names: list[str] = []
    for x in loc:
        if isinstance(x, int) and names:
            names[-1] += f"[{x + 1}]"  # 1-based, as a person counts list entries
        elif not (isinstance(x, str) and ("[" in x or x == "float")):
            names.append(str(x))
    kind = err["type"]
    keys = ", ".join(model.model_fields)
    msg = err["msg"]
    said = (msg.removeprefix("Value error, ").removeprefix("expected ")
            if kind == "value_error" else msg.lower().removeprefix("input should be "))
    # Only the fixed texts are templates: a message quoting the input may hold braces.
    expected = _EXPECTED[kind].format(keys=keys) if kind in _EXPECTED else "expected " + said
    value = MISSING if kind == "missing" else err.get("input")
    return InputIssue(source, entity, ".".join(names), value, expected)


def _parse(data: Any, source: str) -> BatchFile:
    if not isinstance(data, dict):
        raise InputError([InputIssue(source, "document", "", data,
                                     "expected a mapping with base, method and parameters")])
    try:
        return BatchFile.model_validate(data)
    except ValidationError as exc:
        seen: dict[str, InputIssue] = {}
        for err in exc.errors():
            issue = _translate(err, data, source)
            seen.setdefault(f"{issue.entity}|{issue.field}", issue)  # one per field
        raise InputError(list(seen.values())) from None


def load_batch(path: str | Path) -> Batch:
    """Read, parse and check a batch file and its base instance."""
    from ..loader import read_document

    loaded = read_document(path)
    spec = _parse(loaded.data, str(path))
    return resolve_batch(spec, source=str(path), sha256=loaded.sha256,
                         relative_to=Path(path).parent)


def resolve_batch(spec: BatchFile | dict[str, Any], *, source: str = "<batch>",
                  sha256: str | None = None, relative_to: Path | None = None) -> Batch:
    """Check a parsed batch against its base instance (paths, values, method)."""
    from ..loader import read_document
    from ..validate import validate_data

    if isinstance(spec, dict):
        spec = _parse(spec, source)
    if sha256 is None:
        text = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
        sha256 = hashlib.sha256(text.encode()).hexdigest()
    base_path = Path(spec.base)
    if not base_path.is_absolute():
        base_path = (relative_to or Path.cwd()) / base_path
    loaded = read_document(base_path)
    base = validate_data(loaded.data, str(base_path))
    issues: list[InputIssue] = []
    batch = Batch(spec, source, sha256, base_path, base, loaded.sha256)
    profile = Path(spec.solver_profile)
    if profile.suffix.lower() in (".yaml", ".yml", ".json") and not profile.is_absolute():
        profile = (relative_to or Path.cwd()) / profile
    batch.profile = str(profile)
    _check_method(spec, source, issues)
    owners: dict[str, str] = {}
    for i, p in enumerate(spec.parameters):
        entity = f"parameter {i + 1} ('{p.path}')"
        try:
            param = _check_parameter(p, spec, base, source, entity, issues)
        except InputError as exc:
            issues += exc.issues
            continue
        if param is None:
            continue
        for label in param.locations:
            # oat moves one parameter per scenario, so overlapping paths never combine.
            if label in owners and spec.method != "oat":
                issues.append(InputIssue(source, entity, "path", p.path,
                                         f"'{label}' is already varied by parameter "
                                         f"'{owners[label]}'; vary each number once"))
            owners.setdefault(label, p.path)
        batch.parameters.append(param)
    if issues:
        raise InputError(issues)
    return batch


def _check_method(spec: BatchFile, source: str, issues: list[InputIssue]) -> None:
    n = spec.samples
    if spec.method not in SAMPLED:
        return
    if n is None or n < 1:
        what = "trajectories" if spec.method == "morris" else "samples"
        issues.append(InputIssue(source, "batch", "samples", MISSING if n is None else n,
                                 f"method '{spec.method}' needs samples: the number of "
                                 f"{what}, a whole number >= 1"))
    elif spec.method == "sobol" and n & (n - 1):
        issues.append(InputIssue(source, "batch", "samples", n,
                                 "expected a power of two for sobol (Sobol' sequences are "
                                 f"balanced only at 2^m), e.g. {1 << n.bit_length()}"))
    elif spec.method == "morris" and n < 2:
        issues.append(InputIssue(source, "batch", "samples", n,
                                 "expected at least 2 Morris trajectories"))


def _check_shares(locs: list[Location], base: Instance, shares: list[float], fld: str,
                  given: Any, bad: Any) -> None:
    """A block's hours_share (spec v2 C) and a scenario's probability (spec v2 B) take
    values in (0, 1) only: the other blocks (scenarios) are rescaled to sum to 1 - value."""
    from .paths import probability_problem, share_problem

    for loc in locs:
        if not (loc.is_share or loc.is_probability):
            continue
        check = share_problem if loc.is_share else probability_problem
        for x in shares:
            why = check(base, loc.label, x)
            if why is not None:
                bad(fld, given, why)
                return


def _check_parameter(p: ParameterSpec, spec: BatchFile, base: Instance, source: str,
                     entity: str, issues: list[InputIssue]) -> Parameter | None:
    """Check one parameter; append its problems to ``issues`` (None when it has any)."""
    locs = resolve(base, parse_path(p.path, source=source, entity=entity),
                   source=source, entity=entity)
    kind = locs[0].kind
    labels = tuple(loc.label for loc in locs)
    n0 = len(issues)

    def bad(fld: str, value: Any, expected: str) -> None:
        issues.append(InputIssue(source, entity, fld, value, expected))

    if (p.values is None) == (p.scale is None):
        bad("values" if p.values is not None else "scale", MISSING if p.values is None
            else p.scale, "expected exactly one of 'values' (absolute) and 'scale' "
            "([low, high] factors of the base)")
        return None
    sampled = spec.method in SAMPLED
    if kind == "integer" and (p.scale is not None or sampled):
        bad("scale" if p.scale is not None else "values", p.scale or p.values,
            f"'{p.path}' is a whole number: give absolute 'values' with method oat or grid")
        return None
    from .paths import get_values

    current = list(get_values(base, p.path).values())
    if p.scale is not None:
        if len(p.scale) != 2 or not 0 <= p.scale[0] < p.scale[1]:
            bad("scale", p.scale, "expected [low, high] with 0 <= low < high "
                "(factors of the base value)")
        if any(v is None for v in current):
            bad("scale", p.scale, f"'{p.path}' is absent in the base instance: nothing to "
                "scale; give absolute 'values'")
        if p.levels is not None and p.levels < 2:
            bad("levels", p.levels, "expected a whole number >= 2")
        if len(issues) > n0:
            return None
        lo, hi = p.scale
        _check_shares(locs, base, [base_share * f for f in (lo, hi)
                                   for base_share in current if isinstance(base_share, float)],
                      "scale", p.scale, bad)
        if len(issues) > n0:
            return None
        n = p.levels or DEFAULT_LEVELS
        levels: tuple[float | tuple[float, ...], ...] = tuple(
            lo + (hi - lo) * k / (n - 1) for k in range(n))
        return Parameter(p.path, "scale", kind, labels, levels, (lo, hi), 1.0)
    assert p.values is not None
    if p.levels is not None:
        bad("levels", p.levels, "levels apply to 'scale' only; 'values' are the levels")
    if not p.values:
        bad("values", p.values, "expected a non-empty list")
    periods = base.horizon.periods
    for j, v in enumerate(p.values):
        if isinstance(v, list) and (kind != "series" or len(v) != periods or sampled):
            why = (f"a list of {periods} numbers (one per period) or a number"
                   if kind == "series" else "a number")
            if sampled:
                why = "a number (sampled methods draw between the smallest and largest)"
            bad(f"values[{j + 1}]", v, f"expected {why}")
        elif kind == "integer" and not float(v).is_integer():  # type: ignore[arg-type]
            bad(f"values[{j + 1}]", v, "expected a whole number")
    scalars = [float(v) for v in p.values if not isinstance(v, list)]
    _check_shares(locs, base, scalars, "values", p.values, bad)
    if sampled and len(issues) == n0 and len(set(scalars)) < 2:
        bad("values", p.values, "expected at least two different numbers: sampled methods "
            "draw between the smallest and the largest")
    if len(issues) > n0:
        return None
    levels = tuple(tuple(v) if isinstance(v, list) else float(v) for v in p.values)
    bounds = (min(scalars), max(scalars)) if scalars else (math.nan, math.nan)
    base_col = current[0] if len(set(map(repr, current))) == 1 else None
    col = float(base_col) if isinstance(base_col, (int, float)) else math.nan
    param = Parameter(p.path, "values", kind, labels, levels, bounds, col)
    if param.series_levels:
        param = Parameter(p.path, "values", kind, labels, levels, bounds, math.nan)
    return param
