"""Writing an instance (or an empty, documented template) as an .xlsx workbook.

An instance is written from what its file said (``model_dump(exclude_unset=True)``), so a
default the file left out stays an empty cell and a series given as one number stays one
number: reading the workbook back gives the same validated :class:`Instance`. An instance
without a ``market`` block (possible with ``uncertainty``, spec v2 B) gets no market sheet,
so that an absent block and ``market: {}`` (an empty sheet) both come back as given.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import IllegalCharacterError
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from ..errors import InputError, InputIssue
from ..instance import Instance
from .layout import (
    KEY_VALUE_SHEETS,
    README_SHEET,
    SHEET_ORDER,
    TABLE_KEYS,
    Column,
    description,
    key_value_columns,
    per_period,
    table_columns,
    table_items,
)

__all__ = ["exact_numbers", "instance_document", "write_instance_workbook", "write_template"]

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
TEMPLATE_PERIODS = 5


@contextlib.contextmanager
def exact_numbers() -> Iterator[None]:
    """Write floats with Python's shortest exact repr instead of openpyxl's ``%.16g``.

    ``%.16g`` drops the 17th digit some doubles need (0.1 + 0.2 comes back as 0.3), and a
    round trip through a workbook must give back the very same numbers.
    """
    from openpyxl.cell import _writer as cell_writer

    writer: Any = cell_writer  # a private module: typed loosely on purpose
    original = writer.safe_string

    def exact(value: Any) -> str:
        if isinstance(value, float) and value == value and abs(value) != float("inf"):
            return repr(value)
        return str(original(value))

    writer.safe_string = exact
    try:
        yield
    finally:
        writer.safe_string = original


def instance_document(instance: Instance) -> dict[str, Any]:
    """The instance as its file would hold it: only the keys that were given."""
    return instance.model_dump(mode="python", by_alias=True, exclude_unset=True,
                               exclude_none=True)


def write_instance_workbook(instance: Instance, path: str | Path) -> Path:
    """Write a validated instance as a workbook that reads back to the same instance."""
    doc = instance_document(instance)
    held = {"name"} | {key for key, _ in KEY_VALUE_SHEETS.values()} | {
        keys[0] for keys in TABLE_KEYS.values()}
    unheld = sorted(set(doc) - held)
    if unheld:  # a block added to the format before the workbook has a sheet for it
        raise InputError([InputIssue(
            str(path), "file", "", ", ".join(unheld),
            "expected only blocks a workbook has sheets for (" + ", ".join(sorted(held))
            + "); write this instance as .yaml or .json, a workbook would drop them")])
    return _save(_workbook(doc, instance.horizon.periods), Path(path))


def write_template(path: str | Path, periods: int = TEMPLATE_PERIODS) -> Path:
    """Write the empty template: every sheet and column, documented, ``periods`` columns
    per series (add ``name[6]``... for a longer horizon)."""
    return _save(_workbook(None, periods), Path(path))


def _save(wb: Workbook, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with exact_numbers():
        wb.save(tmp)
    os.replace(tmp, path)
    return path


def _workbook(doc: dict[str, Any] | None, periods: int) -> Workbook:
    wb = Workbook()
    readme = wb.active
    assert readme is not None
    readme.title = README_SHEET
    _readme(readme, periods)
    for sheet in SHEET_ORDER[1:]:
        if sheet == "market" and doc is not None and "market" not in doc:
            continue  # scenarios give the hashprice and the file has no market block
        ws = wb.create_sheet(sheet)
        if sheet in KEY_VALUE_SHEETS:
            _key_value_sheet(ws, sheet, doc, periods)
        else:
            rows = table_items(doc or {}, sheet) or []
            _table_sheet(ws, sheet, rows, periods)
    return wb


def _get(entity: dict[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = entity
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


def _put(ws: Worksheet, row: int, col: int, value: Any, where: str) -> Cell:
    """Set one cell; text stays text even when it starts with '=' (never a formula)."""
    try:
        cell = ws.cell(row=row, column=col, value=value)
    except IllegalCharacterError:
        raise InputError([InputIssue(
            where, f"sheet '{ws.title}', row {row}", "", value,
            "expected text without control characters (a workbook cannot hold them)")]) from None
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def _header(ws: Worksheet, col: int, text: str, note: str) -> None:
    cell = ws.cell(row=1, column=col, value=text)
    cell.font = HEADER_FONT
    cell.fill = HEADER_FILL
    if note:
        cell.comment = Comment(note, "portfolio_opt", width=320, height=90)
    ws.column_dimensions[get_column_letter(col)].width = max(12, min(40, len(text) + 3))


def _headers(columns: list[Column], periods: int) -> list[tuple[str, Column]]:
    out: list[tuple[str, Column]] = []
    for column in columns:
        out.append((column.name, column))
        if column.kind == "series":
            out.extend((per_period(column.name, t), column) for t in range(1, periods + 1))
    return out


def _cell_value(column: Column, value: Any) -> Any:
    if isinstance(value, dict) or (isinstance(value, list) and any(
            isinstance(v, dict) for v in value)):
        # spec v2 C: a price per block {block id: series}, the list of market.blocks
        return json.dumps(value, ensure_ascii=False)
    if column.kind == "list" and isinstance(value, list):
        return _id_list(value)
    return value


def _id_list(ids: list[Any]) -> str:
    """Ids joined by '; ', or a JSON list when an id would not survive the split."""
    plain = all(isinstance(i, str) and i and i == i.strip() and ";" not in i
                and not i.startswith("[") for i in ids)
    return "; ".join(ids) if plain and ids else json.dumps(ids, ensure_ascii=False)


def _table_sheet(ws: Worksheet, sheet: str, rows: list[dict[str, Any]], periods: int) -> None:
    headers = _headers(table_columns(sheet), periods)
    for j, (text, column) in enumerate(headers, start=1):
        note = description(sheet, column.name)
        if text != column.name:
            note = f"{column.name}, period {text[len(column.name) + 1:-1]}"
        _header(ws, j, text, note)
    ws.freeze_panes = "B2"
    index = {text: j for j, (text, _) in enumerate(headers, start=1)}
    for i, entity in enumerate(rows, start=2):
        for column in table_columns(sheet):
            value = _get(entity, column.path)
            if value is None:
                continue
            if column.kind == "series" and isinstance(value, list):
                for t, v in enumerate(value, start=1):  # a valid series has T values
                    _put(ws, i, index[per_period(column.name, t)], v, sheet)
            else:
                _put(ws, i, index[column.name], _cell_value(column, value), sheet)
    for column in table_columns(sheet):
        if column.choices:
            rule = DataValidation(type="list", formula1='"' + ",".join(column.choices) + '"',
                                  allow_blank=True)
            letter = get_column_letter(index[column.name])
            rule.add(f"{letter}2:{letter}10000")
            ws.add_data_validation(rule)


def _key_value_sheet(ws: Worksheet, sheet: str, doc: dict[str, Any] | None,
                     periods: int) -> None:
    key, _ = KEY_VALUE_SHEETS[sheet]
    block = (doc or {}).get(key, {})
    for j, text in enumerate(("field", "value", "description"), start=1):
        _header(ws, j, text, "")
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["C"].width = 80
    row = 2
    for column in key_value_columns(sheet):
        value = (doc or {}).get("name") if column.path == ("name",) else _get(block, column.path)
        ws.cell(row=row, column=1, value=column.name).font = HEADER_FONT
        ws.cell(row=row, column=3, value=description(sheet, column.name))
        if value is not None and (column.kind == "list" or not isinstance(value, list)):
            _put(ws, row, 2, _cell_value(column, value), sheet)
        if column.choices:
            rule = DataValidation(type="list", formula1='"' + ",".join(column.choices) + '"',
                                  allow_blank=True)
            rule.add(f"B{row}")
            ws.add_data_validation(rule)
        row += 1
        if column.kind != "series":
            continue
        values = value if isinstance(value, list) else []
        for t in range(1, max(periods, len(values)) + 1):
            ws.cell(row=row, column=1, value=per_period(column.name, t))
            ws.cell(row=row, column=3, value=f"period {t} (or leave all empty and use the "
                                             f"{column.name} row)" if t == 1 else f"period {t}")
            if t <= len(values):
                _put(ws, row, 2, values[t - 1], sheet)
            row += 1
    ws.freeze_panes = "A2"


_README = [
    "portfolio_opt instance workbook",
    "",
    "One sheet per part of the instance format (docs/instance-format.md, "
    "docs/spreadsheets.md). Units as there: MW, USD, USD/MWh, hashprice in USD per PH/s per "
    "day, J/TH, lease rates in USD per kW of IT load per month.",
    "horizon, market, limits, finance, uncertainty: one row per field: the name in column "
    "A, the value in column B (column C is a note and is not read). The instance's name is "
    "the first row of horizon. finance holds project debt as debt.* rows; leave them empty "
    "for no debt.",
    "sites, sources, links, contracts, scenarios: row 1 names the columns, then one row per "
    "entity. "
    "Nested blocks use dotted names (btc.fleet_mw, ai.block_it_mw, eligible.near.site).",
    "uncertainty, scenarios (optional): hashprice scenarios. scenarios has one row per "
    "scenario (id, probability, hashprice_usd_per_ph_day, energy_price_scale); uncertainty "
    "holds structure (two_stage or multi_stage) and risk.cvar_alpha, risk.cvar_weight as "
    "rows. With scenarios, leave market's hashprice rows empty. Both empty: no uncertainty.",
    "An empty cell means 'not given': a default applies, and a block (grid, btc, "
    "btc.expansion, ai, eligible, finance's debt) is absent when all its cells are empty.",
    "A series is either one number in the plain column or row (the same every period) or "
    "one number per period in name[1] .. name[T]; never both. This workbook has {periods} "
    "period columns; add name[{next}] ... for a longer horizon.",
    "Booleans are TRUE/FALSE cells. Ids are text: a number typed into an id cell is an "
    "error (format the cell as text). eligible.sites lists site ids separated by ';' (or a "
    'JSON list such as ["a;b", "c"] for ids that contain ";").',
    "Formulas are read through the value the spreadsheet program saved with them.",
    "Sheets named README or starting with '_' are not read. Any other unknown sheet or "
    "column is an error, as an unknown key is in YAML: a typo must not change a plan.",
    "Reading runs the same validation as YAML and JSON files; every message names the "
    "sheet, row and column.",
    "",
]


def _readme(ws: Worksheet, periods: int) -> None:
    for i, line in enumerate(_README, start=1):
        cell = ws.cell(row=i, column=1, value=line.format(periods=periods, next=periods + 1))
        cell.alignment = Alignment(wrap_text=False)
    ws["A1"].font = Font(bold=True, size=14)
    row = len(_README) + 1
    for j, text in enumerate(("sheet", "column / field", "kind", "required", "default",
                              "unit, range and meaning"), start=1):
        cell = ws.cell(row=row, column=j, value=text)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
    for sheet in SHEET_ORDER[1:]:
        columns = (key_value_columns(sheet) if sheet in KEY_VALUE_SHEETS
                   else table_columns(sheet))
        for column in columns:
            row += 1
            required = "yes" if column.required else "no"
            if len(column.path) > 1 and column.required:
                required = f"with {'.'.join(column.path[:-1])}"
            default = "" if column.default is None else column.default
            kind = column.kind + (f" ({', '.join(column.choices)})" if column.choices else "")
            for j, value in enumerate((sheet, column.name, kind, required, default,
                                       description(sheet, column.name)), start=1):
                ws.cell(row=row, column=j, value=value)
    ws.column_dimensions["A"].width = 12
    ws.column_dimensions["B"].width = 38
    ws.column_dimensions["F"].width = 90
