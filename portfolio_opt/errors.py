"""One exception hierarchy, grouped by cause. The CLI maps each to an exit code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["InputError", "InputIssue", "PortfolioOptError", "SolverError"]


class PortfolioOptError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class InputIssue:
    """One problem in an input file: where it is, what was found, what would be valid."""

    file: str
    entity: str  # e.g. "site 'rockdale'", "link 'a-b'", "horizon"
    field: str  # dotted path inside the entity, e.g. "btc.fleet_mw"
    value: Any
    expected: str

    def __str__(self) -> str:
        value = _show(self.value)
        where = f"{self.entity}, field '{self.field}'" if self.field else self.entity
        return f"{self.file}: {where}: got {value}; {self.expected}"


def _show(value: Any) -> str:
    if value is _MISSING:
        return "nothing (the key is missing)"
    if value is None or isinstance(value, bool):  # spelled as in the file, not as in Python
        return {None: "null", True: "true", False: "false"}[value]
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
MISSING = _MISSING


class InputError(PortfolioOptError):
    """The input is invalid. Holds every issue found, not just the first."""

    exit_code = 2

    def __init__(self, issues: list[InputIssue]) -> None:
        self.issues = list(issues)
        n = len(self.issues)
        head = f"{n} problem{'s' if n != 1 else ''} in the input"
        super().__init__(head + ":\n" + "\n".join(f"  - {i}" for i in self.issues))


class SolverError(PortfolioOptError):
    """The solver failed or could not be configured (exit 4)."""

    exit_code = 4
