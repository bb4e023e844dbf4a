"""Where finished scenarios go, whichever runner solved them: rows, shards, progress.

The collector adds the design's columns (each varied parameter's value) to a worker's
row, buffers rows, and writes a shard when asked (a chunk finished, a worker died, the
run stops). It also keeps the counts a run reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .columns import CRASHED, HAS_NPV, period_columns
from .designs import Design
from .store import Store
from .worker import Outcome

__all__ = ["Collector", "Progress", "ProgressCallback", "RunStats"]

MAX_ATTEMPTS = 3  # a scenario whose worker dies is retried up to twice


@dataclass
class Progress:
    """What a progress display needs; ``failures`` counts rows without a plan."""

    done: int
    total: int
    failures: int
    started: float  # time.monotonic() at the start of this run
    done_at_start: int  # scenarios already stored when the run started


ProgressCallback = Callable[[Progress], None]


@dataclass
class RunStats:
    """What one run did (a resumed run counts only its own work)."""

    total: int = 0
    stored_before: int = 0
    solved: int = 0  # rows produced by this run, crashed ones included
    retries: int = 0  # scenarios sent again after their worker died
    crashed: int = 0
    failures: int = 0  # rows of this run without a plan
    model_builds: int = 0  # scenarios whose solve built the model (the rest updated it)
    workers: int = 0
    runner: str = "local"
    interrupted: bool = False
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Collector:
    def __init__(self, store: Store, design: Design, stored: set[int],
                 progress: ProgressCallback | None = None) -> None:
        self.store = store
        self.design = design
        self.progress = progress
        self.stats = RunStats(total=len(design), stored_before=len(stored))
        self.started = time.monotonic()
        self._rows: list[dict[str, Any]] = []
        self._sites: list[dict[str, Any]] = []
        self._done = len(stored)

    def add(self, out: Outcome) -> None:
        row = out.row
        scenario = self.design.scenarios[int(row["scenario"])]
        row.update(scenario.columns)
        self._rows.append(row)
        self._sites += out.site_periods
        self._count(row)

    def crashed(self, sid: int, attempts: int, message: str) -> None:
        """Record a scenario whose worker died on every attempt."""
        row: dict[str, Any] = {"scenario": sid, "status": CRASHED, "attempts": attempts,
                               "message": message, "model_built": False}
        row.update({c: None for c in period_columns(self.store.periods)})
        row.update(self.design.scenarios[sid].columns)
        self._rows.append(row)
        self.stats.crashed += 1
        self._count(row)

    def _count(self, row: dict[str, Any]) -> None:
        s = self.stats
        s.solved += 1
        s.statuses[row["status"]] = s.statuses.get(row["status"], 0) + 1
        s.failures += row["status"] not in HAS_NPV
        s.model_builds += bool(row.get("model_built"))
        self._done += 1
        if self.progress is not None:
            self.progress(Progress(self._done, s.total, s.failures, self.started,
                                   s.stored_before))

    def flush(self) -> None:
        """Write the buffered rows as one shard (nothing when the buffer is empty)."""
        if self._rows:
            self.store.write_shard(self._rows, self._sites)
            self._rows, self._sites = [], []

    def finish(self) -> RunStats:
        self.flush()
        self.stats.seconds = time.monotonic() - self.started
        return self.stats
