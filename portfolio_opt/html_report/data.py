"""What a report shows, read from a results folder or taken from a :class:`Result`.

A folder written by ``portfolio-opt solve`` holds summary.json and the plan as CSV files
(or one results.xlsx with ``--format xlsx``); ``solve --report`` adds instance.json, the
validated instance, so the site graph can be drawn. site_period_blocks.csv (an instance
with price blocks), marginal_values.csv and diagnosis.json are shown when present, and a
batch folder (results.parquet + manifest.json) adds its
sensitivity charts. A result with scenarios (scenarios.csv, a ``scenario`` column) is
split by :func:`~portfolio_opt.html_report.scenarios.split`: the sections draw the
expected tables; frontier.csv (the efficient frontier) is read when present.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..constants import OUTPUT_FILES
from ..errors import InputError, InputIssue
from ..instance import Instance
from .scenarios import FRONTIER_FILE, ScenarioData, read_frontier, split

__all__ = ["INSTANCE_COPY", "BatchData", "ReportData", "from_result", "load_folder"]

log = logging.getLogger(__name__)

INSTANCE_COPY = "instance.json"
FRONTIER_INFO = "frontier.json"
MARGINAL_VALUES = "marginal_values.csv"
DIAGNOSIS = "diagnosis.json"
BATCH_RESULTS = "results.parquet"
BATCH_MANIFEST = "manifest.json"
RESULTS_WORKBOOK = "results.xlsx"
TABLES = ("site_periods", "contracts", "contract_site_periods", "flows", "cashflows",
          "site_period_blocks",  # only with market.blocks (spec v2 C)
          "scenarios")  # only with uncertainty (spec v2 B)
# ids stay text even when they look like numbers
TEXT_COLUMNS = ("site", "contract", "tenant", "link", "from", "to", "sites", "block",
                "scenario")


@dataclass
class BatchData:
    """A batch's results table (one row per scenario) and its manifest."""

    results: pd.DataFrame
    manifest: dict[str, Any]


@dataclass
class ReportData:
    """Everything the page draws; absent parts are ``None`` and their sections say so."""

    title: str
    summary: dict[str, Any] | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    instance: Instance | None = None
    marginal_values: pd.DataFrame | None = None
    diagnosis: Any = None
    batch: BatchData | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    # spec v2 B: the scenarios (``tables`` then holds the expected per-period tables)
    scenarios: ScenarioData | None = None
    frontier: pd.DataFrame | None = None  # frontier.csv, when the folder has one
    frontier_info: dict[str, Any] = field(default_factory=dict)  # frontier.json's settings

    @property
    def has_plan(self) -> bool:
        return "cashflows" in self.tables and "site_periods" in self.tables


def _not_results(folder: Path, why: str) -> InputError:
    return InputError([InputIssue(
        str(folder), "results folder", "", why,
        "expected a folder written by 'portfolio-opt solve' (summary.json and the plan's "
        "CSV files or results.xlsx), by a batch (results.parquet and manifest.json) or "
        "holding an efficient frontier (frontier.csv)")])


def load_folder(folder: str | Path, instance: Instance | None = None) -> ReportData:
    """Read a results folder; ``instance`` overrides (or stands in for) instance.json."""
    d = Path(folder)
    if not d.is_dir():
        raise _not_results(d, "no such folder")
    summary_path = d / OUTPUT_FILES["summary"]
    is_batch = (d / BATCH_RESULTS).is_file() and (d / BATCH_MANIFEST).is_file()
    has_frontier = (d / FRONTIER_FILE).is_file()
    if not summary_path.is_file() and not is_batch and not has_frontier:
        raise _not_results(d, "no summary.json")
    data = ReportData(title=d.name, source=str(d))
    if summary_path.is_file():
        data.summary = _json(summary_path)
        data.title = str(data.summary.get("instance") or d.name)
        data.tables, data.scenarios = split(_tables(d))
    if has_frontier:
        data.frontier, why = read_frontier(d / FRONTIER_FILE)
        if why:
            data.notes.append(why)
        data.frontier_info = _frontier_info(d / FRONTIER_INFO)
        if data.summary is None and isinstance(data.frontier_info.get("instance_name"), str):
            data.title = data.frontier_info["instance_name"]
    if instance is None and (d / INSTANCE_COPY).is_file():
        from ..loader import load_instance

        instance = load_instance(d / INSTANCE_COPY)
    data.instance = instance
    if instance is not None and data.summary is None:
        data.title = instance.name
    if (d / MARGINAL_VALUES).is_file():
        data.marginal_values = pd.read_csv(d / MARGINAL_VALUES)
    if (d / DIAGNOSIS).is_file():
        data.diagnosis = _json(d / DIAGNOSIS)
    if is_batch:
        data.batch = BatchData(pd.read_parquet(d / BATCH_RESULTS), _json(d / BATCH_MANIFEST))
        if data.summary is None:
            spec = data.batch.manifest.get("batch") or {}
            named = spec.get("name") or Path(str(data.batch.manifest.get("batch_file") or
                                                 d.name)).stem
            data.title = f"Batch {named}"
    return data


def from_result(result: Any, instance: Instance | None = None) -> ReportData:
    """The report's data from a :class:`~portfolio_opt.results.Result` in memory."""
    data = ReportData(title=result.instance_name, summary=result.summary(),
                      instance=instance, source="(in memory)")
    if result.has_plan:
        data.tables, data.scenarios = split(dict(result.tables()))
    marginal = getattr(result, "marginal_values", None)
    if isinstance(marginal, pd.DataFrame):
        data.marginal_values = marginal
    diagnosis = getattr(result, "diagnosis", None)
    if isinstance(diagnosis, dict):
        data.diagnosis = diagnosis
    return data


def _frontier_info(path: Path) -> dict[str, Any]:
    """frontier.json (instance name, structure, alpha, ...), or nothing when it is absent or
    unreadable: the frontier's table and chart need only frontier.csv."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _not_results(path.parent, f"{path.name} is unreadable: {exc}") from None


def _tables(d: Path) -> dict[str, pd.DataFrame]:
    tables: dict[str, pd.DataFrame] = {}
    for key in TABLES:
        path = d / OUTPUT_FILES[key]
        if path.is_file():
            header = pd.read_csv(path, nrows=0).columns
            tables[key] = pd.read_csv(
                path, dtype={c: str for c in TEXT_COLUMNS if c in header},
                keep_default_na=False)
    if not tables and (d / RESULTS_WORKBOOK).is_file():
        from ..spreadsheet.results import read_results_workbook

        _, sheets = read_results_workbook(d / RESULTS_WORKBOOK)
        tables = {k: v for k, v in sheets.items() if k in TABLES}
        if "contracts" in tables:
            tables["contracts"]["sites"] = tables["contracts"]["sites"].fillna("")
    return tables
