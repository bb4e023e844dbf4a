"""Pointing validation messages at cells: the entity and field become sheet, row and column.

:func:`portfolio_opt.validate.validate_data` names an entity (``site 'alpha'``,
``contracts[2]``, ``horizon``) and a dotted field (``grid.price_usd_per_mwh``); the reader
recorded which row and which cells each came from, so each message gains the place a
spreadsheet user looks for, and keeps the entity and field it already named.
"""

from __future__ import annotations

import re
from typing import Any

from openpyxl.utils import get_column_letter

from ..errors import InputIssue
from .layout import KEY_VALUE_SHEETS, TABLE_KEYS, TABLE_SHEETS, split_period, table_items
from .reader import Cell, Sheets

__all__ = ["locate_issues"]

_KIND = {"sites": "site", "sources": "source", "links": "link", "contracts": "contract",
         "scenarios": "scenario"}
# A message about one period of a series: "element 3 (period 3)", or multi_stage's
# "expected period 1 equal to that of the first scenario".
_ELEMENT = re.compile(r"element ([0-9]+) \(period|^expected period ([0-9]+) equal")
_INDEX = re.compile(r"\[[0-9]+\]$")
_NUMBER_TEXT = re.compile(r"^\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*$")


def locate_issues(issues: list[InputIssue], sheets: Sheets) -> list[InputIssue]:
    """The validation's issues, each with the sheet, row and column it is about."""
    labels = _labels(sheets.document)
    located = [_locate(issue, sheets, labels) for issue in issues]
    return [issue for issue in located if issue is not None]


def _labels(doc: dict[str, Any]) -> dict[str, list[tuple[str, int]]]:
    """Every way the validation may name an entity row -> (sheet, index in its list)."""
    out: dict[str, list[tuple[str, int]]] = {}
    for key, kind in _KIND.items():
        items = table_items(doc, key)
        if not isinstance(items, list):
            continue
        where = ".".join(TABLE_KEYS[key])  # uncertainty.scenarios[1]
        for k, item in enumerate(items):
            names = [f"{where}[{k}]"]
            ident = _ident(key, item)
            if ident is not None:
                names += [f"{kind} '{ident}'", f"{kind} '{ident}' ({where}[{k}])"]
            for label in names:
                out.setdefault(label, []).append((key, k))
    return out


def _ident(key: str, item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    ident = item.get("id")
    if isinstance(ident, str) and ident:
        return ident
    ends = (item.get("from"), item.get("to"))
    if key == "links" and all(isinstance(e, str) and e for e in ends):
        return f"{ends[0]}-{ends[1]}"  # a link's default id
    return None


def _locate(issue: InputIssue, sheets: Sheets, labels: dict[str, list[tuple[str, int]]]
            ) -> InputIssue | None:
    """The issue with its place; None when it is about a formula cell already reported."""
    entity, fld = issue.entity, issue.field
    if entity == "uncertainty" and fld.split(".")[0].split("[")[0] == "scenarios":
        return _scenarios_issue(issue, sheets)
    if entity in KEY_VALUE_SHEETS or (entity == "document" and fld == "name"):
        sheet = "horizon" if entity == "document" else entity
        key: tuple[Any, ...] = ("name",) if entity == "document" else (sheet, _base(fld))
        if sheets.unreadable.intersection(sheets.cells.get(key, [])):
            return None
        where = _key_value_place(sheet, _base(fld) if entity != "document" else "name",
                                 sheets.cells.get(key), sheets, issue.expected)
        return _with(issue, where, entity != "document" and entity)
    if entity == "document":
        top = fld.split(".")[0].split("[")[0]
        if top in TABLE_SHEETS or top in KEY_VALUE_SHEETS:
            return _with(issue, f"sheet '{top}'" if top in sheets.headers
                         or top in sheets.field_rows else f"no sheet '{top}'", False)
        return issue
    found = labels.get(entity)
    if not found:
        return issue
    if len(found) > 1 and fld:  # one id on several rows: keep the rows holding the value
        holding = [(s, k) for s, k in found
                   if _value_at(table_items(sheets.document, s)[k], fld) == issue.value]
        found = holding or found
    sheet = found[0][0]
    rows = sorted({sheets.rows[(sheet, k)] for _, k in found if (sheet, k) in sheets.rows})
    where = f"sheet '{sheet}', row{'s' if len(rows) > 1 else ''} " + ", ".join(map(str, rows))
    if fld:
        cells = _field_cells(sheet, found[0][1], fld, sheets)
        if sheets.unreadable.intersection(cells):
            return None
        where += _columns_text(cells, issue.expected) if cells else _absent_column(
            sheet, fld, sheets)
    return _with(issue, where, entity)


def _scenarios_issue(issue: InputIssue, sheets: Sheets) -> InputIssue:
    """An issue about the scenario list as a whole (none given, too many, probabilities
    that do not sum to 1): the scenarios sheet's rows, and the column of the field named
    after ``scenarios[].`` if any."""
    expected = issue.expected
    rows = sorted(r for (s, _), r in sheets.rows.items() if s == "scenarios")
    if "scenarios" not in sheets.headers:
        where = "no sheet 'scenarios'"
    elif not rows:
        where = "sheet 'scenarios'"
    else:
        where = f"sheet 'scenarios', row {rows[0]}" if len(rows) == 1 else \
            f"sheet 'scenarios', rows {rows[0]}-{rows[-1]}"
        sub = issue.field.partition(".")[2]
        column = sheets.headers["scenarios"].get(sub) if sub else None
        if column is not None:
            where += f", column {get_column_letter(column)}"
    if not rows:  # the uncertainty sheet is filled, the scenarios sheet is not
        expected = ("expected at least one scenario: a row of the sheet 'scenarios' with "
                    "id, probability and hashprice_usd_per_ph_day (or, for no uncertainty, "
                    "empty the sheet 'uncertainty')")
    return _with(InputIssue(issue.file, issue.entity, issue.field, issue.value, expected),
                 where, "uncertainty")


def _value_at(entity: Any, fld: str) -> Any:
    """The value at a dotted field with list indices (``eligible.sites[1]``), or None."""
    cur = entity
    for part in re.findall(r"[^.\[\]]+|\[[0-9]+\]", fld):
        if part.startswith("["):
            i = int(part[1:-1])
            cur = cur[i] if isinstance(cur, list) and i < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _base(fld: str) -> str:
    """``eligible.sites[1]`` -> ``eligible.sites``: the column a list element sits in."""
    while _INDEX.search(fld):
        fld = _INDEX.sub("", fld)
    return fld


def _field_cells(sheet: str, k: int, fld: str, sheets: Sheets) -> list[Cell]:
    base = _base(fld)
    cells = sheets.cells.get((sheet, k, base))
    if cells:
        return cells
    # A whole block ("eligible", "btc"): the cells of its columns in this row.
    inside = [c for key, cs in sheets.cells.items()
              if len(key) == 3 and key[:2] == (sheet, k) and str(key[2]).startswith(base + ".")
              for c in cs]
    return sorted(inside, key=lambda c: c.column)


def _period_of(element: re.Match[str]) -> int:
    return int(element.group(1) or element.group(2))


def _columns_text(cells: list[Cell], expected: str) -> str:
    element = _ELEMENT.search(expected)
    if element and len(cells) > 1:
        t = _period_of(element)
        if 1 <= t <= len(cells):
            return f", column {get_column_letter(cells[t - 1].column)}"
    letters = [get_column_letter(c.column) for c in cells]
    if len(letters) == 1:
        return f", column {letters[0]}"
    return f", columns {letters[0]}-{letters[-1]}"


def _absent_column(sheet: str, fld: str, sheets: Sheets) -> str:
    """A field with no value: its (empty) column if the sheet has one."""
    base = _base(fld)
    headers = sheets.headers.get(sheet, {})
    if base in headers:
        return f", column {get_column_letter(headers[base])}"
    per_period = [j for h, j in headers.items() if split_period(h)[0] == base
                  and split_period(h)[1] is not None]
    if per_period:
        return f", columns {get_column_letter(min(per_period))}-" \
               f"{get_column_letter(max(per_period))}"
    return f" (the sheet has no column '{base}')"


def _key_value_place(sheet: str, fld: str, cells: list[Cell] | None, sheets: Sheets,
                     expected: str) -> str:
    if sheet not in sheets.field_rows:
        return f"no sheet '{sheet}'"
    if cells:
        rows = [c.row for c in cells]
        element = _ELEMENT.search(expected)
        if element and len(cells) > 1 and 1 <= _period_of(element) <= len(cells):
            rows = [cells[_period_of(element) - 1].row]
        span = f" {rows[0]}" if len(rows) == 1 else f"s {rows[0]}-{rows[-1]}"
        return f"sheet '{sheet}', row{span}, column B"
    row = sheets.field_rows[sheet].get(fld)
    if row is not None:
        return f"sheet '{sheet}', row {row}, column B"
    return f"sheet '{sheet}' (no row '{fld}' in column A)"


# Hints written for YAML files, and what to do in a spreadsheet instead.
_HINTS = (
    (re.compile(r" \(quote ids that look like numbers\)"),
     " (format the cell as text, or type the id with a leading apostrophe)"),
    (re.compile(r"; '[^']*' is a string in YAML 1\.2$"), " (use a TRUE or FALSE cell)"),
    (re.compile(r" \('[^']*' is a string in YAML 1\.2\)"), ""),
    (re.compile(r"\bnot null\b"), "not an empty cell"),
)


def _with(issue: InputIssue, where: str, entity: str | bool) -> InputIssue:
    expected = issue.expected
    for pattern, hint in _HINTS:
        expected = pattern.sub(hint, expected)
    if (isinstance(issue.value, str) and _NUMBER_TEXT.match(issue.value)
            and "number" in expected):
        expected += " (the cell holds text that looks like a number: store it as a number)"
    label = f"{where} ({entity})" if isinstance(entity, str) and entity else where
    return InputIssue(issue.file, label, issue.field, issue.value, expected)
