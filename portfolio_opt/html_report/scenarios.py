"""A result with scenarios (spec v2 B) as the report reads it.

The per-period tables of such a result hold one block of rows per scenario (a leading
``scenario`` column). The report's existing sections show their *expectation*: each number
the probability-weighted mean over the scenarios, one row per site and period as for a
deterministic plan (a row missing from a scenario, e.g. a lease not served there, counts
as 0). Scenarios are never added together. The tables as written stay in
:attr:`ScenarioData.per_scenario` for the uncertainty section, which also reads each
scenario's hashprice path from the instance and the first-stage decisions per period.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["FRONTIER_FILE", "SCENARIO", "FirstStageRow", "ScenarioData", "ScenarioPaths",
           "expected_table", "first_stage", "listed", "read_frontier", "scenario_paths",
           "split"]

log = logging.getLogger(__name__)

SCENARIO = "scenario"
FRONTIER_FILE = "frontier.csv"
_KEYS = ("period", "year")  # numeric columns that identify a row rather than measure it
_ZERO = 1e-9
MAX_LISTED = 6  # scenario ids (or decisions) spelled out in one cell before "+ N more"
# frontier.csv columns read as text (ids may look like numbers or "NA")
_FRONTIER_TEXT = ("status", "contracts_accepted", "change")


@dataclass
class ScenarioData:
    """The scenarios of a result: probabilities, scenarios.csv and the per-scenario tables."""

    probability: dict[str, float]  # scenario -> probability, in the result's order
    table: pd.DataFrame | None  # scenarios.csv (scenario, probability, npv_usd, in_cvar_tail)
    per_scenario: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return list(self.probability)


def expected_table(df: pd.DataFrame, probability: dict[str, float]) -> pd.DataFrame:
    """``df`` without its scenario column: the probability-weighted sum of every measure
    over the scenarios, one row per key (the text columns, period and year)."""
    keys = [c for c in df.columns if c != SCENARIO
            and (c in _KEYS or not pd.api.types.is_numeric_dtype(df[c])
                 or pd.api.types.is_bool_dtype(df[c]))]
    values = [c for c in df.columns if c != SCENARIO and c not in keys]
    weight = df[SCENARIO].astype(str).map(probability).fillna(0.0).astype(float)
    weighted = df[values].astype(float).mul(weight, axis=0)
    if not keys:
        return weighted.sum().to_frame().T
    frame = pd.concat([df[keys], weighted], axis=1)
    out = frame.groupby(keys, sort=False, as_index=False, dropna=False)[values].sum()
    return out[[c for c in df.columns if c != SCENARIO]]


def split(tables: dict[str, pd.DataFrame]
          ) -> tuple[dict[str, pd.DataFrame], ScenarioData | None]:
    """(the tables the report's sections draw, the scenarios) of a result's tables.

    Without scenarios (no ``scenarios`` table, no ``scenario`` column) the tables come back
    as they are and the scenarios are ``None``.
    """
    table = tables.get("scenarios")
    per = {k: v for k, v in tables.items() if k != "scenarios" and SCENARIO in v.columns}
    if table is None and not per:
        return tables, None
    notes: list[str] = []
    if table is not None and {SCENARIO, "probability"} <= set(table.columns):
        table = table.assign(scenario=table[SCENARIO].astype(str))
        prob = {str(w): float(p) for w, p in zip(table[SCENARIO], table["probability"],
                                                 strict=True)}
    else:
        ids = list(dict.fromkeys(str(w) for df in per.values() for w in df[SCENARIO]))
        prob = {w: 1.0 / len(ids) for w in ids} if ids else {}
        notes.append("No scenarios.csv beside the tables: every scenario is weighted "
                     "equally.")
        table = None
    total = sum(prob.values())
    if prob and abs(total - 1.0) > 1e-6:
        notes.append(f"The probabilities add up to {total:.6g}; the expectations use them "
                     "divided by that sum.")
        prob = {w: p / total for w, p in prob.items()}
    per = {k: v.assign(scenario=v[SCENARIO].astype(str)) for k, v in per.items()}
    shown = {k: v for k, v in tables.items() if k != "scenarios" and k not in per}
    shown.update({k: expected_table(v, prob) for k, v in per.items()})
    return shown, ScenarioData(prob, table, per, notes)


# ----------------------------------------------------------------- the scenarios' data


@dataclass
class ScenarioPaths:
    """Each scenario's hashprice and energy-price scale by period, from the instance."""

    periods: list[int]
    years: list[float]
    structure: str
    probability: dict[str, float]
    hashprice: dict[str, list[float]]
    scale: dict[str, list[float]]

    @property
    def mean_hashprice(self) -> list[float]:
        """The probability-weighted mean path (that of the mean-value problem)."""
        return [sum(p * self.hashprice[w][i] for w, p in self.probability.items())
                for i in range(len(self.periods))]

    def groups(self, index: int) -> list[list[str]]:
        """The scenarios whose data (hashprice and scale) agree in every period up to the
        ``index``-th: under multi_stage, decisions of that period differ only between
        groups (spec v2 B)."""
        found: dict[tuple[float, ...], list[str]] = {}
        for w in self.probability:
            history = tuple(x for i in range(index + 1)
                            for x in (self.hashprice[w][i], self.scale[w][i]))
            found.setdefault(history, []).append(w)
        return list(found.values())

    def branch_index(self) -> int | None:
        """The first period (0-based) in which the scenarios' data differ; None if never."""
        for i in range(len(self.periods)):
            if len(self.groups(i)) > 1:
                return i
        return None


def scenario_paths(instance: Any, ids: list[str]) -> ScenarioPaths | str | None:
    """The scenarios' paths of ``instance``; None without an instance with uncertainty, a
    sentence saying why when its scenarios are not the result's ``ids``."""
    u = getattr(instance, "uncertainty", None)
    if u is None:
        return None
    own = [str(sc.id) for sc in u.scenarios]
    if set(own) != set(ids):
        return ("The instance's scenarios are not those of scenarios.csv, so its paths are "
                "not drawn.")
    h = instance.horizon
    periods = list(range(1, h.periods + 1))
    years = [h.start_year + (t - 1) * h.years_per_period for t in periods]
    return ScenarioPaths(
        periods, years, str(u.structure), {str(sc.id): float(sc.probability)
                                           for sc in u.scenarios},
        {str(sc.id): instance.series(sc.hashprice_usd_per_ph_day) for sc in u.scenarios},
        {str(sc.id): instance.series(sc.energy_price_scale) for sc in u.scenarios})


# ------------------------------------------------------------ the first-stage decisions


@dataclass
class FirstStageRow:
    """The first-stage decisions of one period shared by a group of scenarios."""

    period: int
    year: Any
    scenarios: list[str]
    halls: list[tuple[str, float]]  # (site, halls started)
    asics: list[tuple[str, float]]  # (site, MW of ASICs bought)
    leases: list[tuple[str, str, float]]  # (contract, site, IT MW served)


def first_stage(per_scenario: dict[str, pd.DataFrame], ids: list[str]) -> list[FirstStageRow]:
    """Per period, the scenarios grouped by their first-stage decisions (halls started,
    ASIC MW bought, lease IT MW served by site), in the result's scenario order: one group
    per period when every scenario decides alike (always so under two_stage)."""
    sp = per_scenario.get("site_periods")
    if sp is None or sp.empty:
        return []
    csp = per_scenario.get("contract_site_periods")
    years = dict(zip(sp["period"], sp["year"], strict=False))
    decided: dict[tuple[int, str], tuple[Any, ...]] = {}
    by = dict(list(sp.groupby([SCENARIO, "period"], sort=False)))
    leases = dict(list(csp.groupby([SCENARIO, "period"], sort=False))) \
        if csp is not None and not csp.empty else {}
    periods = sorted(years)
    for t in periods:
        for w in ids:
            rows = by.get((w, t))
            if rows is None:
                continue
            halls = tuple((str(s), round(float(n), 6)) for s, n in
                          zip(rows["site"], rows["halls_started"], strict=True) if n > _ZERO) \
                if "halls_started" in rows.columns else ()
            asics = tuple((str(s), round(float(x), 6)) for s, x in
                          zip(rows["site"], rows["btc_bought_mw"], strict=True) if x > _ZERO) \
                if "btc_bought_mw" in rows.columns else ()
            lrows = leases.get((w, t))
            served = () if lrows is None else tuple(
                (str(c), str(s), round(float(x), 6)) for c, s, x in
                zip(lrows["contract"], lrows["site"], lrows["it_mw"], strict=True)
                if x > _ZERO)
            decided[t, w] = (halls, asics, served)
    out: list[FirstStageRow] = []
    for t in periods:
        groups: dict[tuple[Any, ...], list[str]] = {}
        for w in ids:
            if (t, w) in decided:
                groups.setdefault(decided[t, w], []).append(w)
        for (halls, asics, served), members in groups.items():
            out.append(FirstStageRow(t, years[t], members, list(halls), list(asics),
                                     list(served)))
    return out


# ---------------------------------------------------------------------------- frontier


def read_frontier(path: Path) -> tuple[pd.DataFrame | None, str]:
    """frontier.csv (the efficient frontier: E[NPV] against CVaR by CVaR weight), any of
    its columns may be missing; (None, why) when it cannot be read."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        log.warning("%s not read: %s", path, exc)
        return None, f"{path.name} could not be read: {exc}"
    for col in df.columns:
        if col in _FRONTIER_TEXT:
            continue
        numbers = pd.to_numeric(df[col].str.strip().replace("", "nan"), errors="coerce")
        given = df[col].str.strip() != ""
        if bool(numbers[given].notna().all()):
            df[col] = numbers.astype(float)
    return df, ""


def listed(items: list[str], limit: int = MAX_LISTED) -> str:
    """Items joined by commas, the first ``limit`` of them and "+ N more"."""
    head = ", ".join(items[:limit])
    return head if len(items) <= limit else f"{head} + {len(items) - limit} more"
