"""The command line's live status line while HiGHS solves (rich): elapsed seconds, the best
plan's NPV, the bound and the gap, redrawn from HiGHS's callbacks.

Shown only when stdout is a terminal and ``--quiet`` is not given; piped output stays
plain. The library itself only calls a callback (``po.solve(..., progress=...)``) and logs
the same events on ``portfolio_opt.solver``.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from .monitor import SolveProgress

__all__ = ["LiveStatus"]


class LiveStatus:
    """A context manager whose :meth:`update` is a ``progress`` callback; a no-op unless
    ``enabled``. The line is redrawn only from the callbacks (no refresh thread), so it
    never writes while HiGHS's banner is being silenced."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._live: Any = None

    @staticmethod
    def wanted(quiet: bool) -> bool:
        """On a terminal and not quiet."""
        return not quiet and sys.stdout.isatty()

    def __enter__(self) -> LiveStatus:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            self._live = Live(Text("preparing the solve"), console=Console(highlight=False),
                              auto_refresh=False, transient=False)
            self._live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, progress: SolveProgress) -> None:
        if self._live is not None:
            from rich.text import Text

            self._live.update(Text(progress.text()), refresh=True)
