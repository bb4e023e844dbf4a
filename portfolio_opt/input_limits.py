"""Bounds on what one input file may cost to read, checked before the cost is paid.

A YAML alias repeats the node it names without copying it, so a 1 KB file of nested
aliases ("billion laughs") stands for hundreds of millions of values; everything after
the parser (validation, messages that print a value, a batch shipping the base to every
worker) pays for the expanded size. The composed node graph is small, though: counting
each node's expanded size once (memoised by node id) bounds the document before any
Python object is built. JSON has no aliases, so its cost is bounded by the file's size.

The limits are far above real instances: a generated 5,000-site, 12-period instance with
500 contracts is 2.3 MB of YAML (3.7 MB of JSON) and 258,002 nodes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_EXPANDED_NODES", "MAX_FILE_BYTES", "MAX_SCENARIOS", "MAX_UNZIPPED_BYTES",
           "DocumentTooLarge", "check_expansion", "check_workbook_size"]

# ~4x the generated instance above. Checked only where aliases repeat nodes: a document
# without aliases is bounded by MAX_FILE_BYTES alone.
MAX_EXPANDED_NODES = 1_000_000
# ~17x the same instance as JSON (the larger spelling); read at most this many bytes.
MAX_FILE_BYTES = 64 * 1024 * 1024
# An .xlsx is a zip of XML: a small file can inflate ~1000x (a "zip bomb"). Its members'
# declared sizes bound what zipfile will inflate, so their sum is checked before opening.
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
# Scenarios of an `uncertainty` block (spec v2 B). The file limits above do not bound what
# a scenario costs later: each one repeats every operating variable (hashing, imports,
# flows) of every site, block and period in the model, so 10,000 scenarios of even a
# 100-site, 12-period portfolio are tens of millions of variables; far more is a mistake
# (sample or cluster them). Checked by validation (validate_v2.py) before anything is
# built; a scenario's series are already bounded by horizon.periods.
MAX_SCENARIOS = 10_000


class DocumentTooLarge(ValueError):
    """The document would exceed a limit once read; ``what`` and ``limit`` say which."""

    def __init__(self, what: str, expected: str, line: int | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.expected = expected
        self.line = line


def _children(node: Any) -> list[Any]:
    value = node.value
    if isinstance(value, list):  # a sequence (nodes) or a mapping (key, value pairs)
        out: list[Any] = []
        for item in value:
            out.extend(item if isinstance(item, tuple) else (item,))
        return out
    return []  # a scalar


def check_expansion(root: Any, limit: int = MAX_EXPANDED_NODES) -> int:
    """The number of nodes ``root`` stands for with every alias expanded.

    Raises :class:`DocumentTooLarge` above ``limit`` or when an alias names a node that
    contains it (a recursive document expands without end). Iterative, so a deeply nested
    document cannot exhaust Python's stack here.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # started, not finished: the ancestors of the current node
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            open_nodes.discard(key)
            sizes[key] = total
            # A document without aliases is never refused here (its size is the file's);
            # only repetition through aliases beyond the limit is.
            if total > limit and total > len(sizes):
                raise DocumentTooLarge(
                    f"at least {total:,} values once aliases are expanded",
                    f"expected at most {limit:,} (aliases may repeat data, e.g. one price "
                    "series shared by several sites, not multiply it level by level)",
                    node.start_mark.line + 1)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise DocumentTooLarge(
                "an alias (*name) inside the node its anchor (&name) marks",
                "expected a document without recursive aliases (it would never end)",
                node.start_mark.line + 1)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def check_workbook_size(raw: bytes) -> str | None:
    """Why the workbook in ``raw`` is too large to open, or None when it is not."""
    import io
    import zipfile

    if len(raw) > MAX_FILE_BYTES:
        return f"more than {MAX_FILE_BYTES:,} bytes"
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            inflated = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # not a zip at all: the workbook reader says so in its own words
    if inflated > MAX_UNZIPPED_BYTES:
        return f"{inflated:,} bytes once unzipped (more than {MAX_UNZIPPED_BYTES:,})"
    return None
