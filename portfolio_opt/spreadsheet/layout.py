"""Which sheet and column holds which field of the instance format, read off the schema.

The columns are derived from the pydantic models in :mod:`portfolio_opt.instance`, so a
field added there gets a column (and the README sheet a row) without touching this module;
only its one-line description lives here. Nested blocks are flattened with dotted names
(``btc.fleet_mw``, ``ai.block_it_mw``, ``eligible.near.site``); a series is one plain column
(one number for every period) or one column per period (``name[1]`` .. ``name[T]``).

A table sheet's rows are the list at :data:`TABLE_KEYS` in the document: ``sites`` is the
top-level list, ``scenarios`` is ``uncertainty.scenarios`` (spec v2 B), whose other fields
(``structure``, ``risk.*``) sit on the key-value sheet ``uncertainty``.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ..instance import (
    Contract,
    Finance,
    Horizon,
    Limits,
    Link,
    Market,
    Scenario,
    Site,
    Source,
    Uncertainty,
)

__all__ = [
    "KEY_VALUE_SHEETS",
    "README_SHEET",
    "SHEET_ORDER",
    "TABLE_KEYS",
    "TABLE_SHEETS",
    "Column",
    "columns_of",
    "description",
    "key_value_columns",
    "per_period",
    "split_period",
    "table_columns",
    "table_items",
]

Kind = Literal["number", "integer", "bool", "text", "choice", "series", "list"]

README_SHEET = "README"
# Key-value sheets: sheet name -> (key in the document or None for top level, model).
# ``name`` is the one top-level scalar; it sits on the horizon sheet, above the horizon.
KEY_VALUE_SHEETS: dict[str, tuple[str, type[BaseModel]]] = {
    "horizon": ("horizon", Horizon),
    "market": ("market", Market),
    "limits": ("limits", Limits),
    "finance": ("finance", Finance),  # spec v2 D: the debt block as debt.* rows
    # spec v2 B: structure and risk.* rows; the scenarios are the rows of 'scenarios'
    "uncertainty": ("uncertainty", Uncertainty),
}
# Fields of a key-value sheet's block held by a table sheet instead (not rows).
_ON_TABLE: dict[str, frozenset[str]] = {"uncertainty": frozenset({"scenarios"})}
# Table sheets: one row per entity of the list of the same name.
TABLE_SHEETS: dict[str, type[BaseModel]] = {
    "sites": Site,
    "sources": Source,
    "links": Link,
    "contracts": Contract,
    "scenarios": Scenario,  # spec v2 B: uncertainty.scenarios, one row per scenario
}
# Where each table sheet's list sits in the document.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "sites": ("sites",),
    "sources": ("sources",),
    "links": ("links",),
    "contracts": ("contracts",),
    "scenarios": ("uncertainty", "scenarios"),
}
SHEET_ORDER = [README_SHEET, "horizon", "market", "limits", "finance", "sites", "sources",
               "links", "contracts", "uncertainty", "scenarios"]

_PERIOD = re.compile(r"^(?P<base>.+)\[(?P<t>[0-9]+)\]$")


@dataclass(frozen=True)
class Column:
    """One field of an entity as a column (or, on a key-value sheet, a row)."""

    path: tuple[str, ...]  # keys from the entity down, as written in a file ("from", not from_)
    kind: Kind
    required: bool  # required once its block is there
    default: Any  # None when there is no default (absent means "not given")
    choices: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return ".".join(self.path)


def per_period(name: str, t: int) -> str:
    """The header of period ``t``'s value of series ``name``."""
    return f"{name}[{t}]"


def split_period(header: str) -> tuple[str, int | None]:
    """``'x[3]'`` -> ``('x', 3)``; any other header -> ``(header, None)``."""
    found = _PERIOD.match(header)
    if found is None:
        return header, None
    return found.group("base"), int(found.group("t"))


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation with ``Annotated`` and ``None`` taken off."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [annotation]


def _kind(annotation: Any) -> tuple[Kind | type[BaseModel], tuple[str, ...]]:
    options = _unwrap(annotation)
    if len(options) == 1 and isinstance(options[0], type) and issubclass(options[0], BaseModel):
        return options[0], ()
    if any(typing.get_origin(o) is list for o in options):
        return ("series" if float in options else "list"), ()
    only = options[0]
    if typing.get_origin(only) is Literal:
        return "choice", tuple(str(a) for a in typing.get_args(only))
    simple: dict[Any, Kind] = {bool: "bool", int: "integer", float: "number", str: "text"}
    return simple.get(only, "text"), ()


def columns_of(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[Column]:
    """Every field of ``model`` as a column, nested blocks flattened in schema order."""
    out: list[Column] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        kind, choices = _kind(info.annotation)
        if isinstance(kind, type):
            out.extend(columns_of(kind, (*prefix, key)))
            continue
        default = None if info.default is PydanticUndefined else info.default
        if info.default_factory is not None:
            default = None
        out.append(Column((*prefix, key), kind, info.is_required(), default, choices))
    return out


# One line per field: unit, range and meaning, as in docs/instance-format.md.
_DESCRIPTIONS: dict[str, str] = {
    "horizon:name": "text, required. The instance's name.",
    "horizon:periods": "whole number >= 1, required. Number of periods.",
    "horizon:years_per_period": "years > 0, default 1. Length of one period.",
    "horizon:start_year": "whole number, default 2026. Label of period 1.",
    "horizon:discount_rate": "fraction >= 0 per year, default 0.",
    "horizon:terminal_value": "none or contract_tail, default none. contract_tail: a lease "
    "running past the last period keeps its last-period sites for the rest of its term, "
    "valued in the NPV.",
    "horizon:tail_energy_price_usd_per_mwh": "USD/MWh >= 0. Required with terminal_value "
    "contract_tail (the power price after the horizon), empty otherwise.",
    "market:hashprice_usd_per_ph_day": "series, USD per PH/s per day >= 0, required; empty "
    "when the scenarios sheet has rows (each scenario gives its own hashprice).",
    "market:blocks": "optional (spec v2 C): price blocks as a JSON list, e.g. "
    '[{"id": "peak", "hours_share": 0.2}, {"id": "off", "hours_share": 0.8}]; a price '
    'per block is then a JSON mapping in its plain cell, e.g. {"peak": 90, "off": 30}.',
    "limits:capex_budget_usd": "USD >= 0, optional. Total capex over the horizon, undiscounted.",
    "limits:capex_budget_usd_per_period": "series, USD >= 0, optional. Capex started per period.",
    "limits:max_tenant_share": "fraction in (0, 1], optional. Most IT MW one tenant may hold.",
    "limits:max_contracts": "whole number >= 0, optional. Accepted contracts, committed included.",
    "sites:id": "text, required. Unique among sites and sources.",
    "sites:capacity_mw": "MW >= 0, required. Max gross load at the site, cooling included.",
    "sites:grid.capacity_mw": "MW >= 0. The site's own grid connection (empty: no grid).",
    "sites:grid.price_usd_per_mwh": "series, USD/MWh >= 0. Needed with grid.capacity_mw.",
    "sites:btc.fleet_mw": "MW >= 0. ASIC IT MW at the start of period 1 (empty: no mining).",
    "sites:btc.efficiency_j_per_th": "J/TH > 0. Needed with btc.fleet_mw.",
    "sites:btc.pue": ">= 1, default 1. Gross MW = IT MW x pue.",
    "sites:btc.uptime": "fraction in (0, 1], default 1. Derates BTC revenue only.",
    "sites:btc.opex_usd_per_mw_year": "USD per MW-year >= 0, default 0.",
    "sites:btc.expansion.max_mw": "MW >= 0. ASIC MW that may be bought over the horizon.",
    "sites:btc.expansion.capex_usd_per_mw": "USD/MW >= 0. Needed with expansion.max_mw.",
    "sites:btc.demand_response.credit_usd_per_mw_year": "USD per MW-year >= 0 (spec v2 C). "
    "Paid for gross MW standing ready to shed; needed with demand_response.max_mw.",
    "sites:btc.demand_response.max_mw": "gross MW >= 0 (spec v2 C). Most MW offered.",
    "sites:ai.max_it_mw": "IT MW >= 0. Most AI IT MW the site can hold (empty: no AI).",
    "sites:ai.existing_it_mw": "IT MW >= 0, default 0. Halls already built.",
    "sites:ai.block_it_mw": "IT MW > 0. Size of one hall. Needed with ai.max_it_mw.",
    "sites:ai.capex_usd_per_it_mw": "USD per IT MW >= 0. Needed with ai.max_it_mw.",
    "sites:ai.fixed_capex_usd": "USD >= 0, default 0. Once, with the first hall.",
    "sites:ai.lead_time_periods": "whole number >= 0, default 1. Periods before a hall serves.",
    "sites:ai.pue": ">= 1, default 1.3.",
    "sites:ai.opex_usd_per_it_mw_year": "USD per IT MW-year >= 0, default 0, per IT MW available.",
    "sources:id": "text, required. Unique among sites and sources.",
    "sources:capacity_mw": "series, MW >= 0, required.",
    "sources:price_usd_per_mwh": "series, USD/MWh >= 0, required.",
    "links:id": "text, optional; default '<from>-<to>'. Unique among links.",
    "links:from": "text, required. A site or source id.",
    "links:to": "text, required. A site or source id other than from.",
    "links:kind": "power or fiber, required.",
    "links:capacity_mw": "MW >= 0, power only, required there. Per direction.",
    "links:loss": "fraction in [0, 1), power only, default 0.",
    "links:directed": "TRUE/FALSE, power only, default FALSE (two arcs).",
    "links:latency_ms": "ms >= 0, fiber only, required there.",
    "contracts:id": "text, required. Unique among contracts.",
    "contracts:tenant": "text, required.",
    "contracts:it_mw.min": "IT MW >= 0, required.",
    "contracts:it_mw.max": "IT MW >= it_mw.min, required.",
    "contracts:rate_usd_per_kw_month": "USD per kW-month >= 0, required.",
    "contracts:escalator": "fraction >= 0 per year, default 0.",
    "contracts:start_period": "whole number 1..periods, required.",
    "contracts:term_periods": "whole number >= 1, required. Clipped at the horizon's end.",
    "contracts:eligible.sites": "site ids separated by ';' (or a JSON list). Empty and no "
    "eligible.near: every AI site.",
    "contracts:eligible.near.site": "site id. With max_latency_ms: AI sites within that "
    "fiber latency.",
    "contracts:eligible.near.max_latency_ms": "ms >= 0. Needed with eligible.near.site.",
    "contracts:max_sites": "whole number >= 1, default 1. Sites that may serve it.",
    "contracts:committed": "TRUE/FALSE, default FALSE. TRUE: signed, must be served.",
    "contracts:energy_recovery_usd_per_mwh": "series, USD/MWh >= 0, default 0. The tenant "
    "reimburses the energy of its IT load (x ai.pue) at this tariff; the site's power price "
    "is a full pass-through.",
    "contracts:tenant_capex_usd_per_it_mw": "USD per contracted IT MW >= 0, default 0. Paid "
    "by the tenant towards the build-out; capex budgets bind net of it.",
    "contracts:tenant_capex_period": "whole number 1..periods, default start_period. When "
    "the tenant's contribution is paid.",
    "contracts:group": "text, optional. At most one accepted contract per group "
    "(alternative structures of one offer).",
    "contracts:allocation": "flexible or fixed, default flexible. fixed: each site's IT MW "
    "of the lease is the same in every active period.",
    "finance:debt.max_loan_to_cost": "fraction in [0, 1), required with debt. Share of each "
    "period's AI capex (halls and fixed capex, not ASICs) that may be borrowed.",
    "finance:debt.interest_rate": "fraction >= 0 per year, required with debt.",
    "finance:debt.tenor_years": "whole number >= 1, required with debt. Level annuity, one "
    "payment at the end of each year from the draw.",
    "finance:debt.max_total_usd": "USD >= 0, optional. Cap on the principal drawn over the "
    "horizon.",
    "uncertainty:structure": "two_stage or multi_stage, default two_stage (spec v2 B). "
    "two_stage: build-out, purchases and contracts decided once for every scenario; "
    "multi_stage: decisions of period t differ only between scenarios whose data differ by "
    "period t (every scenario then shares period 1).",
    "uncertainty:risk.cvar_alpha": "fraction >= 0 and < 1, default 0.95. CVaR is the mean "
    "NPV of the worst 1 - cvar_alpha of the probability mass.",
    "uncertainty:risk.cvar_weight": "fraction in [0, 1], default 0 (risk-neutral). The "
    "objective is (1 - w) x E[NPV] + w x CVaR.",
    "scenarios:id": "text, required. Unique among scenarios (spec v2 B; one row per "
    "scenario, none: no uncertainty).",
    "scenarios:probability": "number > 0, required. The probabilities sum to 1 (within "
    "1e-9).",
    "scenarios:hashprice_usd_per_ph_day": "series, USD per PH/s per day >= 0, required. "
    "The hashprice in this scenario (market's hashprice row is then empty).",
    "scenarios:energy_price_scale": "series, factor > 0, default 1. Multiplies every grid "
    "and source price (per-block prices too) in this scenario; not energy_recovery nor "
    "tail_energy_price.",
}


def description(sheet: str, name: str) -> str:
    """The README line of a field ('' for a field added to the schema since)."""
    return _DESCRIPTIONS.get(f"{sheet}:{name}", "")


def key_value_columns(sheet: str) -> list[Column]:
    """The rows of a key-value sheet; the horizon sheet also holds the instance's ``name``."""
    _, model = KEY_VALUE_SHEETS[sheet]
    head = [Column(("name",), "text", True, None)] if sheet == "horizon" else []
    elsewhere = _ON_TABLE.get(sheet, frozenset())
    return head + [c for c in columns_of(model) if c.path[0] not in elsewhere]


def table_columns(sheet: str) -> list[Column]:
    """The columns of a table sheet, in schema order."""
    return columns_of(TABLE_SHEETS[sheet])


def table_items(doc: dict[str, Any], sheet: str) -> Any:
    """The list a table sheet holds in ``doc`` (None when absent)."""
    cur: Any = doc
    for key in TABLE_KEYS[sheet]:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur
