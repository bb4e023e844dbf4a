"""Checks on where a command will write, made before any work so that a bad ``--out`` is
an input error (exit 2) that leaves every existing file as it was.

A folder output (solve, sweep, breakeven) may be new or a folder written before; a file
in its place is refused, not replaced. A file output (generate, convert, template,
report) may replace a file of its kind, as such commands do, but not a folder, nor the
file it reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import InputError, InputIssue

__all__ = ["check_out_dir", "check_out_file"]


def _refuse(command: str, option: str, path: Path, expected: str) -> InputError:
    return InputError([InputIssue("<command line>", f"{command} {option}".strip(), "",
                                  str(path), expected)])


def _file_ancestor(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a folder (nothing can be
    created below a file)."""
    for parent in path.parents:  # as the user spelled it; a relative one ends at "."
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_out_dir(path: str | Path, command: str, option: str = "--out") -> None:
    """Refuse ``path`` as a results folder when it is a file or lies below one."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise _refuse(command, option, p, "expected a folder for the results, but it is an "
                      "existing file (left untouched); name a new folder or one written "
                      "before")
    blocker = _file_ancestor(p)
    if blocker is not None:
        raise _refuse(command, option, p, f"expected a folder for the results, but "
                      f"'{blocker}' is a file, so nothing can be created below it")


def check_out_file(path: str | Path, command: str, option: str = "--out", *,
                   suffixes: Iterable[str] = (), reads: Iterable[str | Path] = ()) -> None:
    """Refuse ``path`` as an output file: a folder, a wrong extension, below a file, or
    one of the files the command ``reads``."""
    p = Path(path)
    allowed = tuple(suffixes)
    if p.is_dir():
        raise _refuse(command, option, p, "expected a file to write, but it is an existing "
                      "folder (left untouched)")
    if allowed and p.suffix.lower() not in allowed:
        raise _refuse(command, option, p, "expected a file ending in " + ", ".join(allowed))
    blocker = _file_ancestor(p)
    if blocker is not None:
        raise _refuse(command, option, p, f"expected a file to write, but '{blocker}' is a "
                      "file, so nothing can be created below it")
    for source in reads:
        if p.exists() and Path(source).exists() and p.samefile(source):
            raise _refuse(command, option, p, "expected another file than the one read: "
                          "writing over the input would lose it")
