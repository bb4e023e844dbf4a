"""Watching a running HiGHS solve: Ctrl-C stops it cleanly, progress goes to a callback and
to the ``portfolio_opt.solver`` logger.

HiGHS calls back into Python from its simplex, interior-point and MIP loops. A
:class:`SolveMonitor` subscribes to those callbacks: each one checks whether a stop was
asked for (Ctrl-C, or :meth:`SolveMonitor.request_stop`) and, if so, sets HiGHS's
``user_interrupt``; HiGHS then returns with model status "Interrupt by user" and keeps the
best plan found so far. While the solve runs in the main thread, :meth:`SolveMonitor.sigint`
replaces Python's ``KeyboardInterrupt`` by such a request: a ``KeyboardInterrupt`` raised
inside a callback would otherwise leave HiGHS in an error state or be lost.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["SolveMonitor", "SolveProgress"]

log = logging.getLogger("portfolio_opt.solver")

# USD per model money unit; the model keeps money in MUSD (portfolio_opt.model.data).
_USD = 1e6


@dataclass(frozen=True)
class SolveProgress:
    """A snapshot of a running solve, in USD."""

    phase: str  # "start" (finding the MIP start) or "solve"
    elapsed: float  # seconds since the first HiGHS run of this solve began
    npv_usd: float | None  # the best plan's objective so far; None before the first plan
    bound_usd: float | None  # the best proven bound; None before the first one
    gap: float | None  # relative MIP gap; None without both

    def text(self) -> str:
        """One line: ``solving 12.3 s  best NPV 52,280.5 MUSD  bound ...  gap 0.019%``."""
        what = "finding a start plan" if self.phase == "start" else "solving"
        npv = "no plan yet" if self.npv_usd is None else f"{self.npv_usd / 1e6:,.1f} MUSD"
        bound = "-" if self.bound_usd is None else f"{self.bound_usd / 1e6:,.1f} MUSD"
        gap = "-" if self.gap is None else f"{self.gap:.3%}"
        return (f"{what} {self.elapsed:6.1f} s  best NPV {npv}  bound {bound}  gap {gap}"
                "  (Ctrl-C stops and keeps the best plan)")


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) and abs(x) < 1e50 else None


class SolveMonitor:
    """Subscribes to a HiGHS instance's callbacks for the length of a run.

    ``on_progress`` receives a :class:`SolveProgress` at most every ``interval`` seconds
    (from HiGHS's thread: keep it short); the same events are logged at INFO on
    ``portfolio_opt.solver`` at most every ``log_interval`` seconds.
    """

    def __init__(self, on_progress: Callable[[SolveProgress], None] | None = None, *,
                 interval: float = 0.25, log_interval: float = 1.0) -> None:
        self.on_progress = on_progress
        self.interval = interval
        self.log_interval = log_interval
        self.stop_requested = False
        self.phase = "solve"
        self._t0: float | None = None
        self._shown = self._logged = -math.inf
        self._npv: float | None = None
        self._bound: float | None = None
        self._gap: float | None = None
        self._lock = threading.Lock()
        self._mip_kinds: set[int] = set()

    def request_stop(self) -> None:
        """Ask the running (or next) HiGHS run to stop at its next callback."""
        self.stop_requested = True

    @contextmanager
    def sigint(self) -> Iterator[None]:
        """While inside: Ctrl-C (SIGINT) requests a stop instead of raising.

        Only in the main thread and only when SIGINT has Python's default handler (a batch
        worker that ignores SIGINT, or an application with its own handler, is left alone).
        """
        if (threading.current_thread() is not threading.main_thread()
                or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self.request_stop()

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextmanager
    def attached(self, h: Any, phase: str) -> Iterator[None]:
        """Subscribe to ``h``'s interrupt and MIP callbacks for one run."""
        import highspy

        cb = highspy.cb.HighsCallbackType
        self._mip_kinds = {int(cb.kCallbackMipInterrupt), int(cb.kCallbackMipImprovingSolution)}
        self.phase = phase
        self._npv = self._bound = self._gap = None
        if self._t0 is None:
            self._t0 = time.monotonic()
        events = (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt,
                  h.cbMipImprovingSolution)
        for event in events:
            event.subscribe(self._event)
        try:
            yield
        finally:
            for event in events:
                event.unsubscribe(self._event)
            self._report(force=True)

    def _event(self, e: Any) -> None:
        if self.stop_requested:
            e.interrupt()
        if int(e.callback_type) in self._mip_kinds:
            out = e.data_out
            with self._lock:
                npv = _finite(out.mip_primal_bound)
                if npv is not None:
                    self._npv = npv * _USD
                # While finding the start, the restricted model's bound and gap say nothing
                # of the full model's: only its plan is shown.
                bound = _finite(out.mip_dual_bound) if self.phase != "start" else None
                if bound is not None:
                    self._bound = bound * _USD
                if self.phase != "start":
                    self._gap = _finite(out.mip_gap) if self._npv is not None else None
        self._report()

    def snapshot(self) -> SolveProgress:
        elapsed = 0.0 if self._t0 is None else time.monotonic() - self._t0
        with self._lock:
            return SolveProgress(self.phase, elapsed, self._npv, self._bound, self._gap)

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        show = self.on_progress is not None and (force or now - self._shown >= self.interval)
        write = log.isEnabledFor(logging.INFO) and now - self._logged >= self.log_interval
        if not (show or write):
            return
        p = self.snapshot()
        if show and self.on_progress is not None:
            self._shown = now
            self.on_progress(p)
        if write:
            self._logged = now
            log.info("%s", p.text().split("  (Ctrl-C")[0])
