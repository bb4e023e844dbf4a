"""The instance schema (spec: instance-format v1), as strict pydantic models.

Field names, units and defaults are those of the spec; the types below enforce its strict
rules: booleans are not numbers, NaN and infinities are errors, an integer field accepts
an integral float but not ``3.5``, ids are non-empty strings, unknown keys are errors.
Cross-entity rules (unique ids, series lengths, links between known nodes, ...) live in
:mod:`portfolio_opt.validate`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "AI",
    "BTC",
    "Block",
    "Contract",
    "Debt",
    "DemandResponse",
    "Eligible",
    "Expansion",
    "Finance",
    "Grid",
    "Horizon",
    "Instance",
    "ItMw",
    "Limits",
    "Link",
    "Market",
    "Near",
    "Risk",
    "Scenario",
    "Site",
    "Source",
    "Uncertainty",
]


def _kind(value: Any) -> str:
    """How a parsed YAML/JSON value is called in messages (the user wrote YAML, not Python)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a number" if isinstance(value, (int, float)) else f"a {type(value).__name__}"


# YAML 1.1 read these as booleans; YAML 1.2 (used here) reads them as strings.
_YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = ""
        if isinstance(value, str) and value.lower() in _YAML11_BOOLEANS:
            hint = f" ('{value}' is a string in YAML 1.2)"
        raise ValueError(f"expected a number, not {_kind(value)}{hint}")
    try:
        x = float(value)
    except OverflowError:  # an integer too large for a float
        x = math.inf
    if not math.isfinite(x):
        raise ValueError("expected a finite number (no NaN or infinity)")
    return x


def _bounded(ge: float | None = None, gt: float | None = None, le: float | None = None,
             lt: float | None = None) -> PlainValidator:
    def check(value: Any) -> float:
        x = _number(value)
        parts = []
        if ge is not None:
            parts.append(f">= {ge:g}")
        if gt is not None:
            parts.append(f"> {gt:g}")
        if le is not None:
            parts.append(f"<= {le:g}")
        if lt is not None:
            parts.append(f"< {lt:g}")
        bad = (
            (ge is not None and x < ge)
            or (gt is not None and x <= gt)
            or (le is not None and x > le)
            or (lt is not None and x >= lt)
        )
        if bad:
            raise ValueError(f"expected a number {' and '.join(parts)}")
        return x

    return PlainValidator(check)


def _integer(ge: int | None = None) -> PlainValidator:
    def check(value: Any) -> int:
        x = _number(value)
        want = "a whole number" + (f" >= {ge}" if ge is not None else "")
        if x != int(x):
            raise ValueError(f"expected {want}, not a fraction")
        n = value if isinstance(value, int) else int(x)
        if ge is not None and n < ge:
            raise ValueError(f"expected {want}")
        return n

    return PlainValidator(check)


def _series(ge: float | None = None, gt: float | None = None) -> PlainValidator:
    scalar = _bounded(ge=ge, gt=gt).func

    def check(value: Any) -> float | list[float]:
        if isinstance(value, dict):
            raise ValueError("expected a number or a list of one number per period, not a "
                             "mapping")
        if isinstance(value, list):
            if not value:
                raise ValueError("expected a number or a list of one number per period, not []")
            out = []
            for i, item in enumerate(value):
                try:
                    out.append(scalar(item))  # type: ignore[call-arg]
                except ValueError as exc:
                    raise ValueError(f"{exc} in every element; element {i + 1} "
                                     f"(period {i + 1}) is {item!r}") from None
            return out
        try:
            return scalar(value)  # type: ignore[call-arg]
        except ValueError as exc:
            raise ValueError(f"{exc}, or a list of such numbers, one per period") from None

    return PlainValidator(check)


def _block_series(ge: float) -> PlainValidator:
    """A series, or with price blocks (spec v2 C) a mapping {block id: series}; which block
    ids a mapping must name is a cross-check (validate.py)."""
    plain = _series(ge).func

    def check(value: Any) -> float | list[float] | dict[str, float | list[float]]:
        if not isinstance(value, dict):
            try:
                return plain(value)  # type: ignore[call-arg]
            except ValueError as exc:
                raise ValueError(f"{exc}; or, with market.blocks, a mapping "
                                 f"{{block id: series}}") from None
        if not value:
            raise ValueError("expected a mapping naming every block, not {}")
        out: dict[str, float | list[float]] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"expected block ids as keys, not {key!r}")
            try:
                out[key] = plain(item)  # type: ignore[call-arg]
            except ValueError as exc:
                raise ValueError(f"block '{key}': {exc}") from None
        return out

    return PlainValidator(check)


def _strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        hint = ""
        if isinstance(value, str) and value.lower() in _YAML11_BOOLEANS:
            hint = f"; '{value}' is a string in YAML 1.2"
        raise ValueError(f"expected true or false, not {_kind(value)}{hint}")
    return value


# Spreadsheets run a cell that begins with one of these as a formula (CSV injection), and
# ids reach every CSV and workbook written; so an id may not begin with one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The prefix suggested for a renamed id, by the field holding it.
_SAFE_PREFIX = {"tenant": "tenant", "group": "group", "from_": "site",
                "to": "site", "site": "site", "sites": "site"}


def formula_safe_hint(value: str, prefix: str = "id") -> str:
    """Why ``value`` may not be an id, with a safe spelling of it (for "expected ...")."""
    safe = value.lstrip("\t\r ")  # a leading tab or CR is usually stray whitespace
    if not safe or safe.startswith(FORMULA_STARTS):
        safe = f"{prefix}_{safe}"
    shown = safe if len(safe) <= 20 else safe[:20] + "..."
    return ("expected an id that does not begin with = + - @, tab or CR, which spreadsheets "
            f"execute as formulas; rename it, e.g. '{shown}'")


def _identifier(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        hint = " (quote ids that look like numbers)" if isinstance(value, (int, float)) else ""
        raise ValueError(f"expected a non-empty string, not {_kind(value)}{hint}")
    if value == "":
        raise ValueError("expected a non-empty string, not an empty one")
    if value.startswith(FORMULA_STARTS):
        name = info.field_name or ""
        title = str(info.config.get("title", "")).lower() if info.config else ""
        # id and name take the entity's own word: site_, contract_, instance_, batch_.
        own = title.removesuffix("file") if name in ("id", "name") else ""
        prefix = _SAFE_PREFIX.get(name) or own or "id"
        raise ValueError(formula_safe_hint(value, prefix))
    return value


NonNeg = Annotated[float, _bounded(ge=0)]
Pos = Annotated[float, _bounded(gt=0)]
AtLeastOne = Annotated[float, _bounded(ge=1)]
Fraction01 = Annotated[float, _bounded(ge=0, lt=1)]
UnitInterval = Annotated[float, _bounded(gt=0, le=1)]
Year = Annotated[int, _integer()]
NonNegInt = Annotated[int, _integer(ge=0)]
PosInt = Annotated[int, _integer(ge=1)]
Series = Annotated[float | list[float], _series(ge=0)]
PosSeries = Annotated[float | list[float], _series(gt=0)]
Weight01 = Annotated[float, _bounded(ge=0, le=1)]
BlockSeries = Annotated[float | list[float] | dict[str, float | list[float]],
                        _block_series(ge=0)]
Bool = Annotated[bool, PlainValidator(_strict_bool)]
Id = Annotated[str, PlainValidator(_identifier)]


ALL_BLOCK = "all"  # the one block of an instance without market.blocks


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        """``null`` on an optional key means "absent"; on a required key it stays an error.

        The key is given its default rather than dropped: on assignment (models validate on
        assignment) pydantic passes every field, and a dropped one would lose its attribute.
        """
        if isinstance(data, dict):
            defaults = {
                name: field
                for field_name, field in cls.model_fields.items()
                if not field.is_required()
                for name in (field_name, field.alias)
                if name
            }
            return {
                k: defaults[k].get_default(call_default_factory=True)
                if v is None and k in defaults else v
                for k, v in data.items()
            }
        return data


class Horizon(_Strict):
    periods: PosInt
    years_per_period: Pos = 1.0
    start_year: Year = 2026
    discount_rate: NonNeg = 0.0
    # spec v2, part A: what leases running past the last period are worth.
    terminal_value: Literal["none", "contract_tail"] = "none"
    tail_energy_price_usd_per_mwh: NonNeg | None = None


class Block(_Strict):
    """A price block (spec v2, part C): a share of every period's hours."""

    id: Id
    hours_share: UnitInterval


class Market(_Strict):
    # Required without `uncertainty`, absent with it (a cross-check in validate.py).
    hashprice_usd_per_ph_day: Series | None = None
    blocks: list[Block] | None = None


class Grid(_Strict):
    capacity_mw: NonNeg
    price_usd_per_mwh: BlockSeries


class Expansion(_Strict):
    max_mw: NonNeg
    capex_usd_per_mw: NonNeg


class DemandResponse(_Strict):
    """Gross site MW a mining site stands ready to shed, and what standing ready pays."""

    credit_usd_per_mw_year: NonNeg
    max_mw: NonNeg


class BTC(_Strict):
    fleet_mw: NonNeg
    efficiency_j_per_th: Pos
    pue: AtLeastOne = 1.0
    uptime: UnitInterval = 1.0
    opex_usd_per_mw_year: NonNeg = 0.0
    expansion: Expansion | None = None
    demand_response: DemandResponse | None = None  # spec v2, part C


class AI(_Strict):
    max_it_mw: NonNeg
    existing_it_mw: NonNeg = 0.0
    block_it_mw: Pos
    capex_usd_per_it_mw: NonNeg
    fixed_capex_usd: NonNeg = 0.0
    lead_time_periods: NonNegInt = 1
    pue: AtLeastOne = 1.3
    opex_usd_per_it_mw_year: NonNeg = 0.0


class Site(_Strict):
    id: Id
    capacity_mw: NonNeg
    grid: Grid | None = None
    btc: BTC | None = None
    ai: AI | None = None


class Source(_Strict):
    id: Id
    capacity_mw: Series
    price_usd_per_mwh: BlockSeries


class Link(_Strict):
    """A power or fiber link. ``from`` is a Python keyword, hence the alias."""

    id: Id | None = None
    from_: Id = Field(alias="from")
    to: Id
    kind: Literal["power", "fiber"]
    capacity_mw: NonNeg | None = None
    loss: Fraction01 | None = None
    directed: Bool | None = None
    latency_ms: NonNeg | None = None

    @property
    def link_id(self) -> str:
        return self.id if self.id is not None else f"{self.from_}-{self.to}"


class ItMw(_Strict):
    min: NonNeg
    max: NonNeg

    @field_validator("max")
    @classmethod
    def _ordered(cls, value: float, info: ValidationInfo) -> float:
        # A field validator (not a model one) so that the error points at it_mw.max.
        low = info.data.get("min")
        if low is not None and value < low:
            raise ValueError(f"expected a number >= it_mw.min = {low:g}")
        return value


class Near(_Strict):
    site: Id
    max_latency_ms: NonNeg


class Eligible(_Strict):
    sites: list[Id] | None = None
    near: Near | None = None


class Contract(_Strict):
    id: Id
    tenant: Id
    it_mw: ItMw
    rate_usd_per_kw_month: NonNeg
    escalator: NonNeg = 0.0
    start_period: PosInt
    term_periods: PosInt
    eligible: Eligible | None = None
    max_sites: PosInt = 1
    committed: Bool = False
    # spec v2, part A: deal structures.
    energy_recovery_usd_per_mwh: Series = 0.0
    tenant_capex_usd_per_it_mw: NonNeg = 0.0
    tenant_capex_period: PosInt | None = None  # default: start_period
    group: Id | None = None
    allocation: Literal["flexible", "fixed"] = "flexible"

    @property
    def tenant_capex_at(self) -> int:
        """The period the tenant's contribution is paid in (spec v2 A: default start)."""
        return self.tenant_capex_period if self.tenant_capex_period is not None \
            else self.start_period


class Limits(_Strict):
    capex_budget_usd: NonNeg | None = None
    capex_budget_usd_per_period: Series | None = None
    max_tenant_share: UnitInterval | None = None
    max_contracts: NonNegInt | None = None


class Debt(_Strict):
    """Project debt for AI build-outs (spec v2, part D)."""

    max_loan_to_cost: Fraction01
    interest_rate: NonNeg
    tenor_years: PosInt
    max_total_usd: NonNeg | None = None


class Finance(_Strict):
    debt: Debt


class Scenario(_Strict):
    """One hashprice (and energy-price) future (spec v2, part B)."""

    id: Id
    probability: Pos  # the probabilities sum to 1 within 1e-9 (validate.py)
    hashprice_usd_per_ph_day: Series
    energy_price_scale: PosSeries = 1.0  # multiplies every grid and source price


class Risk(_Strict):
    cvar_alpha: Fraction01 = 0.95
    cvar_weight: Weight01 = 0.0


class Uncertainty(_Strict):
    """Scenarios, how decisions may adapt to them, and the risk measure (spec v2, part B)."""

    scenarios: Annotated[list[Scenario], Field(min_length=1)]
    structure: Literal["two_stage", "multi_stage"] = "two_stage"
    risk: Risk = Field(default_factory=Risk)


class Instance(_Strict):
    """A whole instance document. Build one in Python or with :func:`load_instance`."""

    name: Id
    horizon: Horizon
    market: Market = Field(default_factory=Market)
    sites: Annotated[list[Site], Field(min_length=1)]
    sources: list[Source] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    contracts: list[Contract] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    finance: Finance | None = None
    uncertainty: Uncertainty | None = None

    def series(self, value: float | list[float]) -> list[float]:
        """Expand a validated series to one value per period."""
        if isinstance(value, list):
            return list(value)
        return [float(value)] * self.horizon.periods

    @property
    def block_shares(self) -> dict[str, float]:
        """Price blocks and their hours shares; one block "all" of share 1 without blocks."""
        blocks = self.market.blocks
        if not blocks:
            return {ALL_BLOCK: 1.0}
        return {b.id: b.hours_share for b in blocks}

    def block_series(self, value: float | list[float] | dict[str, float | list[float]]
                     ) -> dict[str, list[float]]:
        """Expand a validated (block) price to one value per block and period."""
        if isinstance(value, dict):
            return {b: self.series(value[b]) for b in self.block_shares}
        return dict.fromkeys(self.block_shares, self.series(value))
