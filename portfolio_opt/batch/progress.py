"""The batch progress bar (rich, on stderr): done/total, scenarios per second, failures, ETA.

Used by the command line; the library only calls a callback, so a notebook or a service
can show progress its own way.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from .collector import Progress

__all__ = ["ProgressBar"]


class ProgressBar:
    """A context manager whose :meth:`update` is a :data:`ProgressCallback`.

    The rate counts only this run's scenarios (a resumed run starts from what is stored),
    so the ETA is what is left divided by how fast this run goes.
    """

    def __init__(self, description: str = "sweep") -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[failures]}"),
            TextColumn("{task.fields[eta]}"),
            console=Console(stderr=True), transient=False,
        )
        self._task: Any = None
        self._description = description

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, p: Progress) -> None:
        if self._task is None:
            self._task = self._progress.add_task(self._description, total=p.total,
                                                 rate="", failures="", eta="")
        elapsed = max(time.monotonic() - p.started, 1e-9)
        rate = (p.done - p.done_at_start) / elapsed
        left = p.total - p.done
        eta = left / rate if rate > 0 else float("nan")
        self._progress.update(
            self._task, completed=p.done, rate=f"{rate:.1f} scen/s",
            failures=f"{p.failures} failed",
            eta="ETA " + (_clock(eta) if eta == eta else "?"),
        )


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
