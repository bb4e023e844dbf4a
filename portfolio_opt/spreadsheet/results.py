"""A solved instance as one workbook: the summary and each result table on its own sheet.

The sheets hold the same columns and values as summary.json and the CSV files (written
with full float precision), plus the marginal values when they were computed;
``solve --format xlsx`` writes it as ``results.xlsx``. A result with scenarios (spec v2 B)
has the ``scenarios`` sheet and the leading ``scenario`` column of the per-period sheets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from ..instance import FORMULA_STARTS
from .writer import exact_numbers

__all__ = ["RESULTS_WORKBOOK", "read_results_workbook", "write_results_workbook"]

RESULTS_WORKBOOK = "results.xlsx"
SUMMARY_SHEET = "summary"
# Columns of ids and text in the result tables, read back as written (never as numbers).
TEXT_COLUMNS = ("scenario", "site", "contract", "tenant", "sites", "link", "from", "to",
                "block", "kind", "entity", "direction", "unit", "note", "value")


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones; mappings and lists as JSON text; NaN as an empty cell."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, allow_nan=False, default=str)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None  # NaN, pd.NA, NaT: an empty cell
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    return value


def _text_cell(ws: Any, value: Any) -> Any:
    """A string openpyxl would store as a formula (it begins with =) kept as text.

    Ids cannot begin so (they are refused at validation), but the summary holds free text
    such as the instance's path as given; a results workbook never carries a formula.
    """
    value = _plain(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell
    return value


def write_results_workbook(result: Any, path: str | Path) -> Path:
    """Write ``result.summary()`` and every table of ``result.tables()`` to ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A write-only workbook writes each row as it is appended, not at save: the exact float
    # repr must be in place for the appends too (else 16 significant digits).
    with exact_numbers():
        _write(result, out)
    return out


def _write(result: Any, out: Path) -> None:
    wb = Workbook(write_only=True)
    bold = Font(bold=True)

    def header(ws: Any, names: list[str]) -> None:
        cells = []
        for name in names:
            cell = WriteOnlyCell(ws, value=name)
            cell.font = bold
            cells.append(cell)
        ws.append(cells)

    ws = wb.create_sheet(SUMMARY_SHEET)
    header(ws, ["field", "value"])
    for key, value in result.summary().items():
        ws.append([key, _text_cell(ws, value)])
    tables = dict(result.tables())
    marginal = getattr(result, "marginal_values", None)  # docs/marginal_values.md
    if marginal is not None:
        tables["marginal_values"] = marginal
    for name, df in tables.items():
        ws = wb.create_sheet(name[:31])
        header(ws, [str(c) for c in df.columns])
        for row in df.itertuples(index=False, name=None):
            ws.append([_text_cell(ws, v) for v in row])
    tmp = out.with_name(f".{out.name}.tmp")
    wb.save(tmp)
    os.replace(tmp, out)


def read_results_workbook(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary (a dict) and the tables (pandas DataFrames by sheet name) of a results
    workbook, as :func:`write_results_workbook` wrote them.

    Ids read back as written: an id column stays text when its ids look like numbers
    ("1", "007"), and ids such as "NA" or "null" are not missing values; only an empty cell
    is (NaN).
    """
    sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl", keep_default_na=False,
                           na_values=[""], dtype=dict.fromkeys(TEXT_COLUMNS, object))
    summary_df = sheets.pop(SUMMARY_SHEET)
    summary = {str(k): (None if v != v else v)  # NaN: an empty cell, i.e. null
               for k, v in zip(summary_df["field"], summary_df["value"], strict=True)}
    return summary, sheets
