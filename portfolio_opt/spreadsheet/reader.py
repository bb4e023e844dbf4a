"""Reading an instance workbook into the document a YAML file would give, cell by cell.

The reader only reshapes: sheets and dotted columns become the nested mappings and lists of
the format, and every value keeps the type the cell holds (a number typed as text stays
text). Judging the values is left to :func:`portfolio_opt.validate.validate_data`, the same
as for YAML and JSON; :mod:`.locate` then points each of its messages at a sheet, row and
column. Problems only a workbook can have (an unknown sheet, a repeated column, a series
given both ways) are reported here, with the validation's, in one list.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from ..errors import InputIssue
from .layout import (
    KEY_VALUE_SHEETS,
    README_SHEET,
    TABLE_SHEETS,
    key_value_columns,
    per_period,
    split_period,
    table_columns,
)

__all__ = ["Cell", "Sheets", "read_sheets"]


@dataclass(frozen=True)
class Cell:
    """Where a value came from."""

    sheet: str
    row: int
    column: int

    @property
    def ref(self) -> str:
        return f"{get_column_letter(self.column)}{self.row}"


@dataclass
class Sheets:
    """The document read from a workbook, and where each part of it came from.

    ``cells`` maps ``(list key, index, field)`` for table rows and ``(block key, field)``
    for key-value rows (``("name",)`` for the name) to the cells holding the value, one per
    period for a series given per period. ``rows`` maps ``(list key, index)`` to the
    entity's row, ``headers`` each sheet's column names to column numbers, and
    ``field_rows`` each key-value sheet's field names to rows.
    """

    document: dict[str, Any]
    issues: list[InputIssue] = field(default_factory=list)
    cells: dict[tuple[Any, ...], list[Cell]] = field(default_factory=dict)
    rows: dict[tuple[str, int], int] = field(default_factory=dict)
    headers: dict[str, dict[str, int]] = field(default_factory=dict)
    field_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    unreadable: set[Cell] = field(default_factory=set)  # formulas without a saved value


ValueAt = Callable[[Worksheet, int, int, Any], Any]


def read_sheets(wb: Workbook, name: str, cached: Callable[[], Workbook]) -> Sheets:
    """Reshape ``wb`` into an instance document; ``cached`` gives the workbook with the
    values saved with formulas (loaded only if a formula is met)."""
    out = Sheets({})
    saved: list[Workbook] = []

    def value_at(ws: Worksheet, row: int, col: int, value: Any) -> Any:
        """The cell's value; a formula's saved result, or an issue when none was saved."""
        if not (isinstance(value, str) and value.startswith("=")) and not _is_formula(value):
            return value
        if ws.cell(row=row, column=col).data_type != "f":
            return value
        if not saved:
            saved.append(cached())
        result = saved[0][ws.title].cell(row=row, column=col).value
        if result is None:
            out.unreadable.add(Cell(ws.title, row, col))
            out.issues.append(InputIssue(
                name, f"sheet '{ws.title}', row {row}, column {get_column_letter(col)}", "",
                str(value), "expected a value: the formula has no saved result (the file was "
                "not saved by a spreadsheet program); open and save it there, or type the "
                "value"))
            return value  # the formula text holds the place; its issue is reported here
        return result

    known = set(KEY_VALUE_SHEETS) | set(TABLE_SHEETS)
    for ws in wb.worksheets:
        title = ws.title
        if title == README_SHEET or title.startswith("_"):
            continue
        if title not in known:
            out.issues.append(InputIssue(
                name, f"sheet '{title}'", "", title,
                "expected one of the sheets " + ", ".join(sorted(known)) + " (README and "
                "sheets named '_...' are not read; an unknown sheet is an error, as an "
                "unknown key is: a typo must not change a plan)"))
    doc = out.document
    if "horizon" in wb.sheetnames:
        block, top_name = _key_value(wb["horizon"], "horizon", out, name, value_at)
        if top_name is not _ABSENT:
            doc["name"] = top_name
        doc["horizon"] = block
    if "market" in wb.sheetnames:
        doc["market"], _ = _key_value(wb["market"], "market", out, name, value_at)
    scenarios: list[dict[str, Any]] = []
    for sheet in TABLE_SHEETS:
        if sheet in wb.sheetnames:
            items = _table(wb[sheet], sheet, out, name, value_at)
            if sheet == "scenarios":  # uncertainty.scenarios, merged below
                scenarios = items
            elif items or sheet == "sites":  # an empty optional sheet is an absent list
                doc[sheet] = items
    uncertainty: dict[str, Any] = {}
    for sheet in ("limits", "finance", "uncertainty"):  # an empty sheet (or none) is an
        if sheet in wb.sheetnames:                        # absent block
            block, _ = _key_value(wb[sheet], sheet, out, name, value_at)
            if sheet == "uncertainty":
                uncertainty = block
            elif block:
                doc[sheet] = block
    _uncertainty(doc, uncertainty, scenarios, out, name)
    return out


def _uncertainty(doc: dict[str, Any], block: dict[str, Any], scenarios: list[dict[str, Any]],
                 out: Sheets, name: str) -> None:
    """The uncertainty block (spec v2 B): the uncertainty sheet's rows and the scenarios
    sheet's rows as its ``scenarios``; absent when both are empty, and present (so that
    validation asks for what is missing) as soon as one cell of either is filled."""
    if "scenarios" in block:  # typed as a row of the uncertainty sheet
        row = out.field_rows.get("uncertainty", {}).get("scenarios")
        out.issues.append(InputIssue(
            name, f"sheet 'uncertainty', row {row}, column B", "scenarios",
            block.pop("scenarios"), "expected the scenarios as rows of the sheet "
            "'scenarios' (columns id, probability, hashprice_usd_per_ph_day, "
            "energy_price_scale), not a row of the sheet 'uncertainty'"))
        out.cells.pop(("uncertainty", "scenarios"), None)
        if not block and not scenarios:
            return
    if scenarios:
        block["scenarios"] = scenarios
    if block:
        doc["uncertainty"] = block


def _is_formula(value: Any) -> bool:
    return type(value).__name__ in ("ArrayFormula", "DataTableFormula")


_ABSENT: Any = object()


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None


def _key_value(ws: Worksheet, sheet: str, out: Sheets, name: str,
               value_at: ValueAt) -> tuple[dict[str, Any], Any]:
    """A key-value sheet's block, and the name row's value (horizon only) or ``_ABSENT``."""
    block: dict[str, Any] = {}
    series: dict[str, dict[int, tuple[Any, Cell]]] = {}
    rows: dict[str, int] = {}
    top_name: Any = _ABSENT
    kinds = {c.name: c for c in key_value_columns(sheet)}
    for r, (key_cell, value_cell) in enumerate(ws.iter_rows(min_row=2, max_col=2,
                                                             values_only=True), start=2):
        value = value_at(ws, r, 2, value_cell)
        key = _text(key_cell)
        if key_cell is None or key == "":
            if value is not None:
                out.issues.append(InputIssue(
                    name, f"sheet '{sheet}', row {r}, column B", "", value,
                    "expected a field name in column A next to the value"))
            continue
        if key is None:
            out.issues.append(InputIssue(name, f"sheet '{sheet}', row {r}, column A", "",
                                         key_cell, "expected a field name (text)"))
            continue
        if key in rows:
            out.issues.append(InputIssue(
                name, f"sheet '{sheet}', row {r}, column A", "", key,
                f"expected each field once; row {rows[key]} already holds '{key}'"))
            continue
        rows[key] = r
        if value is None:
            continue
        cell = Cell(sheet, r, 2)
        base, t = split_period(key)
        if t is not None and base in kinds and kinds[base].kind == "series":
            series.setdefault(base, {})[t] = (value, cell)
        elif key == "name" and sheet == "horizon":
            top_name = value
            out.cells[("name",)] = [cell]
        elif _set(block, key, _json_cell(kinds.get(key), value, cell, out, name), out, name,
                  cell):
            out.cells[(sheet, key)] = [cell]  # a dotted row (debt.interest_rate) nests
    for base, by_period in series.items():
        if (sheet, base) in out.cells:
            out.issues.append(_both(name, f"sheet '{sheet}', row {rows[base]}", base))
            continue
        values, cells = _series_list(by_period, partial(_value_cell, sheet, rows, base))
        if _set(block, base, values, out, name, cells[0]):
            out.cells[(sheet, base)] = cells
    out.field_rows[sheet] = rows
    return block, top_name


def _both(name: str, where: str, base: str) -> InputIssue:
    return InputIssue(name, where, base, "both",
                      f"expected either one number in '{base}' (every period) or one per "
                      f"period in '{base}[1]' .. '{base}[T]', not both")


def _series_list(by_period: dict[int, tuple[Any, Cell]],
                 gap: Callable[[int], Cell | None]) -> tuple[list[Any], list[Cell]]:
    """Period values as a list up to the last one given, and one cell per period; a gap is
    ``None`` (an error), its cell the empty one of that period (``gap(t)``)."""
    last = max(by_period)
    values = [by_period[t][0] if t in by_period else None for t in range(1, last + 1)]
    first = by_period[min(by_period)][1]
    cells = [by_period[t][1] if t in by_period else gap(t) or first
             for t in range(1, last + 1)]
    return values, cells


def _row_cell(sheet: str, row: int | None, column: int | None) -> Cell | None:
    return None if row is None or column is None else Cell(sheet, row, column)


def _value_cell(sheet: str, rows: dict[str, int], base: str, t: int) -> Cell | None:
    """The value cell (column B) of period ``t``'s row of series ``base``."""
    return _row_cell(sheet, rows.get(per_period(base, t)), 2)


def _header_cell(sheet: str, row: int, headers: dict[str, int], base: str, t: int
                 ) -> Cell | None:
    """The cell of period ``t`` of series ``base`` in ``row`` (None without that column)."""
    return _row_cell(sheet, row, headers.get(per_period(base, t)))


def _table(ws: Worksheet, sheet: str, out: Sheets, name: str,
           value_at: ValueAt) -> list[dict[str, Any]]:
    columns = {c.name: c for c in table_columns(sheet)}
    headers: dict[int, str] = {}
    seen: dict[str, int] = {}
    dropped: set[int] = set()  # columns whose header is itself reported
    grid = list(ws.iter_rows(values_only=True))
    for j, raw in enumerate(grid[0] if grid else (), start=1):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        text = raw.strip() if isinstance(raw, str) else None
        where = f"sheet '{sheet}', row 1, column {get_column_letter(j)}"
        if text is None:
            dropped.add(j)
            out.issues.append(InputIssue(name, where, "", raw, "expected a column name (text)"))
        elif text in seen:
            dropped.add(j)
            out.issues.append(InputIssue(
                name, where, "", text, f"expected each column once; column "
                f"{get_column_letter(seen[text])} is already '{text}'"))
        else:
            seen[text] = j
            headers[j] = text
    out.headers[sheet] = seen
    items: list[dict[str, Any]] = []
    for r, row_values in enumerate(grid[1:], start=2):
        filled = {j: value_at(ws, r, j, v) for j, v in enumerate(row_values, start=1)
                  if v is not None and not (isinstance(v, str) and v == "")}
        if not filled:
            continue
        k = len(items)
        entity: dict[str, Any] = {}
        series: dict[str, dict[int, tuple[Any, Cell]]] = {}
        for j, value in filled.items():
            cell = Cell(sheet, r, j)
            header = headers.get(j)
            if j in dropped:
                continue
            if header is None:
                out.issues.append(InputIssue(
                    name, f"sheet '{sheet}', row {r}, column {get_column_letter(j)}", "",
                    value, "expected a value under a named column (row 1 of this column "
                    "is empty)"))
                continue
            base, t = split_period(header)
            if t is not None and (base not in columns or columns[base].kind == "series"):
                series.setdefault(base, {})[t] = (value, cell)
                continue
            column = columns.get(header)
            parsed = _list_cell(value, cell, out, name) if column and column.kind == "list" \
                else _json_cell(column, value, cell, out, name)
            if _set(entity, header, parsed, out, name, cell):
                out.cells[(sheet, k, header)] = [cell]
        for base, by_period in series.items():
            plain = out.cells.get((sheet, k, base))
            if plain:
                out.issues.append(_both(name, f"sheet '{sheet}', row {r}", base))
                continue
            period_values, cells = _series_list(by_period, partial(_header_cell, sheet, r, seen,
                                                                   base))
            if _set(entity, base, period_values, out, name, cells[0]):
                out.cells[(sheet, k, base)] = cells
        out.rows[(sheet, k)] = r
        items.append(entity)
    return items


def _set(entity: dict[str, Any], dotted: str, value: Any, out: Sheets, name: str,
         cell: Cell) -> bool:
    """Put ``value`` at the dotted path; a clash (``btc`` and ``btc.pue``) is an issue."""
    path = dotted.split(".")
    cur = entity
    for key in path[:-1]:
        nxt = cur.setdefault(key, {})
        if not isinstance(nxt, dict):
            break
        cur = nxt
    else:
        if path[-1] not in cur:
            cur[path[-1]] = value
            return True
    unit = "row" if cell.sheet in KEY_VALUE_SHEETS else "column"
    out.issues.append(InputIssue(
        name, f"sheet '{cell.sheet}', row {cell.row}, column {get_column_letter(cell.column)}",
        dotted, value, f"expected either the {unit} '{path[0]}' or {unit}s "
        f"'{path[0]}.<field>', not both"))
    return False


def _json_cell(column: Any, value: Any, cell: Cell, out: Sheets, name: str) -> Any:
    """A list column's cell (market.blocks as a JSON list), or a series cell holding a
    JSON mapping {block id: series} (a price per block, spec v2 C); else the value."""
    if column is None or not isinstance(value, str):
        return value
    text = value.strip()
    if column.kind == "list":
        return _list_cell(value, cell, out, name)
    if column.kind == "series" and text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            out.issues.append(InputIssue(
                name, f"sheet '{cell.sheet}', row {cell.row}, column "
                f"{get_column_letter(cell.column)}", "", value,
                f"expected a number, or a JSON mapping {{block id: series}} ({exc.msg})"))
    return value


def _list_cell(value: Any, cell: Cell, out: Sheets, name: str) -> Any:
    """``'a; b'`` -> ``['a', 'b']``; ``'["a;b", "c"]'`` -> its JSON list; else ``[value]``."""
    if not isinstance(value, str):
        return [value]
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            out.issues.append(InputIssue(
                name, f"sheet '{cell.sheet}', row {cell.row}, column "
                f"{get_column_letter(cell.column)}", "", value,
                f"expected ids separated by ';' or a JSON list of ids ({exc.msg})"))
            return []
        return parsed if isinstance(parsed, list) else [parsed]
    return [part.strip() for part in text.split(";")]


def workbook_from_bytes(raw: bytes, data_only: bool) -> Workbook:
    """Open a workbook from its bytes (one read of the file, hashed and parsed)."""
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(raw), data_only=data_only)

