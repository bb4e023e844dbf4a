"""Instances in and results out as .xlsx workbooks, for teams that plan in spreadsheets.

An instance workbook has one sheet per part of the format (horizon, market, limits,
finance, uncertainty as field/value rows; sites, sources, links, contracts and the
uncertainty block's scenarios as tables with dotted column names) and a README sheet; see
docs/spreadsheets.md. Reading one goes through the same validation as a
YAML or JSON file, and every message names the sheet, row and column.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, InputIssue

if TYPE_CHECKING:
    from ..instance import Instance
    from ..loader import LoadedFile

__all__ = [
    "convert",
    "read_workbook",
    "write_instance_workbook",
    "write_results_workbook",
    "write_template",
]


def read_workbook(path: str | Path) -> LoadedFile:
    """Read an instance workbook into the document a YAML file would give.

    The document is validated here so that messages can name cells; a valid document comes
    back as a :class:`~portfolio_opt.loader.LoadedFile` like a parsed YAML file.
    """
    from ..loader import LoadedFile
    from ..validate import validate_data
    from .locate import locate_issues
    from .reader import read_sheets, workbook_from_bytes

    p = Path(path)
    name = str(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError([InputIssue(name, "file", "", exc.strerror or str(exc),
                                     "expected an existing, readable workbook")]) from None
    from ..input_limits import check_workbook_size

    too_large = check_workbook_size(raw)
    if too_large:
        raise InputError([InputIssue(name, "file", "", too_large,
                                     "expected an instance workbook of at most 64 MiB, "
                                     "256 MiB unzipped (a 5,000-site instance is far "
                                     "smaller)")])
    try:
        wb = workbook_from_bytes(raw, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError([InputIssue(name, "file", "", " ".join(str(exc).split())[:120],
                                     "expected an .xlsx workbook (Excel 2007 or later, "
                                     "not .xls or .csv)")]) from None
    sheets = read_sheets(wb, name, lambda: workbook_from_bytes(raw, data_only=True))
    issues = list(sheets.issues)
    try:
        validate_data(sheets.document, name)
    except InputError as exc:
        issues += locate_issues(exc.issues, sheets)
    if issues:
        raise InputError(issues)
    return LoadedFile(p, sheets.document, hashlib.sha256(raw).hexdigest())


def write_instance_workbook(instance: Instance, path: str | Path) -> Path:
    """Write a validated instance as a workbook that reads back to the same instance."""
    from .writer import write_instance_workbook as write

    return write(instance, path)


def write_template(path: str | Path, periods: int = 5) -> Path:
    """Write the documented, empty instance workbook with ``periods`` columns per series."""
    from .writer import write_template as write

    return write(path, periods)


def write_results_workbook(result: Any, path: str | Path) -> Path:
    """Write a result's summary and tables as one workbook (one sheet each)."""
    from .results import write_results_workbook as write

    return write(result, path)


def convert(source: str | Path, target: str | Path) -> Path:
    """Read an instance in one format and write it in another (.yaml, .yml, .json, .xlsx,
    by extension); the written file loads to the same validated instance."""
    from ..generate import write_instance
    from ..loader import load_instance
    from .writer import instance_document

    instance = load_instance(source)
    out = Path(target)
    suffix = out.suffix.lower()
    if suffix == ".xlsx":
        return write_instance_workbook(instance, out)
    if suffix not in (".yaml", ".yml", ".json"):
        raise InputError([InputIssue(str(target), "file", "", out.suffix or out.name,
                                     "expected a file ending in .yaml, .yml, .json or .xlsx")])
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_instance(instance_document(instance), out)
