"""Reading instance files: YAML 1.2 (core schema) or JSON, safely, duplicate keys rejected."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError, InputIssue
from .input_limits import MAX_FILE_BYTES, DocumentTooLarge, check_expansion
from .instance import Instance

__all__ = ["LoadedFile", "load_instance", "read_document"]

YAML_SUFFIXES = {".yaml", ".yml"}
JSON_SUFFIXES = {".json"}
XLSX_SUFFIXES = {".xlsx"}


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    data: Any
    sha256: str


_CORE_SCHEMA = [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
]


def _core_schema_yaml() -> Any:
    """A safe YAML loader resolving plain scalars by the YAML 1.2 core schema only.

    ruamel's safe loader already reads 1.2 (``9e6`` is a number, ``no`` a string) but also
    resolves timestamps and ``1_000``; the core schema has neither, so both stay strings.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.resolver import VersionedResolver

    tag = "tag:yaml.org,2002:"
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for name, pattern, first in _CORE_SCHEMA:
        for ch in first:
            table.setdefault(ch, []).append((tag + name, re.compile(pattern)))

    class CoreResolver(VersionedResolver):
        @property
        def processing_version(self) -> Any:
            return (1, 2)  # a %YAML 1.1 directive does not switch the rules back

        @property
        def versioned_resolver(self) -> Any:
            return table

    class GuardedConstructor(SafeConstructor):
        def construct_document(self, node: Any) -> Any:
            # Bound the expanded size on the composed graph, before any object is built.
            check_expansion(node)
            return super().construct_document(node)

    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = CoreResolver
    yaml.Constructor = GuardedConstructor
    yaml.allow_duplicate_keys = False
    return yaml


class _DuplicateJsonKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f'found duplicate key "{key}"')
        self.key = key


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateJsonKey(key)
        out[key] = value
    return out


_DUPLICATE = "expected each key at most once in a mapping"


def _parse_issue(name: str, exc: Exception, is_json: bool) -> InputIssue:
    """A parser's exception as an issue with the line, the problem and what would be valid."""
    from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError

    if isinstance(exc, DocumentTooLarge):
        where = f"document (line {exc.line})" if exc.line else "document"
        return InputIssue(name, where, "", exc.what, exc.expected)
    if isinstance(exc, RecursionError):  # nesting deeper than the parser's stack
        return InputIssue(name, "document", "", "values nested too deeply to read",
                          "expected nesting a few levels deep, as in the format")
    if isinstance(exc, UnicodeDecodeError):
        return InputIssue(name, "document", "", f"byte {exc.start}: {exc.reason}",
                          "expected a text file encoded in UTF-8")
    if isinstance(exc, _DuplicateJsonKey):
        return InputIssue(name, "document", "", exc.key, _DUPLICATE)
    if isinstance(exc, json.JSONDecodeError):
        return InputIssue(name, f"document (line {exc.lineno}, column {exc.colno})", "",
                          exc.msg, "expected well-formed JSON")
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"document (line {mark.line + 1}, column {mark.column + 1})" if mark else "document"
        problem = exc.problem or exc.context or type(exc).__name__
        if isinstance(exc, DuplicateKeyError):
            found = re.search(r'duplicate key "(.*?)"', problem)
            key = found.group(1) if found else problem
            return InputIssue(name, where, "", key, _DUPLICATE)
        if isinstance(exc, ConstructorError) and "tag" in problem:
            tag = re.search(r"tag '(.*?)'", problem)
            return InputIssue(
                name, where, "", tag.group(1) if tag else problem,
                "expected plain YAML values: tags such as !!python/... are not allowed "
                "(they are never executed)",
            )
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return InputIssue(name, where, "", problem + context,
                          "expected a single well-formed YAML 1.2 document")
    return InputIssue(name, "document", "", " ".join(str(exc).split()),
                      "expected a well-formed " + ("JSON" if is_json else "YAML 1.2") + " document")


def read_document(path: str | Path) -> LoadedFile:
    """Read and parse one YAML, JSON or .xlsx file (the extension decides, any case)."""
    p = Path(path)
    name = str(path)
    suffix = p.suffix.lower()
    if suffix in XLSX_SUFFIXES:  # a workbook: read, validated and located cell by cell
        from .spreadsheet import read_workbook

        return read_workbook(path)
    if suffix not in YAML_SUFFIXES | JSON_SUFFIXES:
        raise InputError(
            [InputIssue(name, "file", "", p.suffix or p.name,
                        "expected a file ending in .yaml, .yml, .json or .xlsx")]
        )
    try:
        with p.open("rb") as fh:  # at most one byte past the limit, even from a pipe
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(
            [InputIssue(name, "file", "", exc.strerror or str(exc),
                        "expected an existing, readable instance file")]
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise InputError([InputIssue(
            name, "file", "", f"more than {MAX_FILE_BYTES:,} bytes",
            f"expected an instance file of at most {MAX_FILE_BYTES // 2**20} MiB "
            "(a 5,000-site instance is under 4 MiB)")])
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")  # a leading byte-order mark (some editors) is dropped
        if suffix in JSON_SUFFIXES:
            data = json.loads(text, object_pairs_hook=_json_pairs)
        else:
            data = _core_schema_yaml().load(text)
    except Exception as exc:  # every parser error becomes an input error
        raise InputError([_parse_issue(name, exc, suffix in JSON_SUFFIXES)]) from None
    return LoadedFile(p, data, digest)


def load_instance(path: str | Path) -> Instance:
    """Load and fully validate an instance file; raises :class:`InputError` listing all issues."""
    from .validate import validate_data

    loaded = read_document(path)
    return validate_data(loaded.data, source=str(path))
