"""The local runner: a pool of spawned worker processes that survives its workers dying.

Why not ``concurrent.futures``: a pool there breaks as a whole when one worker is killed,
and it cannot tell which scenario killed it. Here each worker has its own pipe; it sends
every scenario's row as soon as it is solved, so when a worker dies the parent knows
exactly which scenario it was on (the first of its chunk not yet returned). That scenario
is retried on a fresh worker, alone, up to twice; then it is recorded ``crashed``. The
rest of the chunk goes back to the queue. Workers ignore Ctrl-C: the parent stops them
and writes what finished, so an interrupted store is always readable.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from .collector import MAX_ATTEMPTS, Collector
from .worker import ChunkTask, iter_chunk

__all__ = ["default_workers", "run_local"]

log = logging.getLogger(__name__)

Item = tuple[int, Any, int]  # (scenario id, changes, attempt)


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _worker_main(conn: Connection) -> None:
    """A worker: solve each task received, one message per scenario, until None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    while True:
        task = conn.recv()
        if task is None:
            return
        for out in iter_chunk(task):
            conn.send(("row", out))
        conn.send(("done", None))


@dataclass
class _Handle:
    proc: Any  # multiprocessing.Process (spawn context)
    conn: Connection
    task: ChunkTask | None = None
    remaining: deque[Item] = field(default_factory=deque)


class _Pool:
    def __init__(self, n: int, collector: Collector) -> None:
        self.ctx = mp.get_context("spawn")
        self.collector = collector
        self.pending: deque[ChunkTask] = deque()
        self.handles = [self._start(i) for i in range(n)]

    def _start(self, i: int) -> _Handle:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child,), daemon=True,
                                name=f"portfolio-opt-batch-{i}")
        proc.start()
        child.close()
        return _Handle(proc, parent)

    def busy(self) -> bool:
        return bool(self.pending) or any(h.task is not None for h in self.handles)

    def dispatch(self) -> None:
        for h in self.handles:
            if h.task is None and self.pending:
                task = self.pending.popleft()
                h.task, h.remaining = task, deque(task.scenarios)
                # If it died, its sentinel says so next and the task is requeued.
                with contextlib.suppress(BrokenPipeError, OSError):
                    h.conn.send(task)

    def _receive(self, h: _Handle) -> bool:
        """Take every message waiting from ``h``; False once its pipe is closed."""
        try:
            while h.conn.poll():
                kind, out = h.conn.recv()
                if kind == "row":
                    sid = int(out.row["scenario"])
                    if h.remaining and h.remaining[0][0] == sid:
                        h.remaining.popleft()
                    self.collector.add(out)
                else:
                    h.task = None
                    self.collector.flush()
        except (EOFError, OSError):
            return False
        return True

    def _replace(self, i: int) -> None:
        h = self.handles[i]
        h.proc.join(timeout=5)  # its pipe can close before the process is reaped
        code = h.proc.exitcode
        h.conn.close()
        if h.task is not None and h.remaining:
            sid, changes, attempt = h.remaining.popleft()
            rest = list(h.remaining)
            log.warning("worker %s died (exit code %s) on scenario %d, attempt %d",
                        h.proc.name, code, sid, attempt)
            if attempt >= MAX_ATTEMPTS:
                self.collector.crashed(sid, attempt, f"the worker process died (exit code "
                                       f"{code}) on each of {attempt} attempts")
            else:
                self.collector.stats.retries += 1
                self.pending.appendleft(_task_like(h.task, [(sid, changes, attempt + 1)]))
            if rest:
                self.pending.appendleft(_task_like(h.task, rest))
            self.collector.flush()
        self.handles[i] = self._start(i)

    def run(self) -> None:
        while self.busy():
            self.dispatch()
            waitables: list[Any] = [h.conn for h in self.handles]
            waitables += [h.proc.sentinel for h in self.handles]
            ready = set(wait(waitables, timeout=1.0))
            for i, h in enumerate(self.handles):
                alive = self._receive(h) if h.conn in ready else True
                if not alive or h.proc.sentinel in ready or not h.proc.is_alive():
                    alive = self._receive(h) and alive  # rows sent just before dying
                    self._replace(i)

    def close(self) -> None:
        for h in self.handles:
            with contextlib.suppress(BrokenPipeError, OSError):
                h.conn.send(None)
        for h in self.handles:
            h.proc.join(timeout=5)
            if h.proc.is_alive():
                h.proc.kill()
                h.proc.join(timeout=5)
            h.conn.close()

    def kill(self) -> None:
        for h in self.handles:
            if h.proc.is_alive():
                h.proc.kill()
        for h in self.handles:
            h.proc.join(timeout=5)
            h.conn.close()


def _task_like(task: ChunkTask, items: list[Item]) -> ChunkTask:
    return ChunkTask(task.key, task.base, task.source, items)


def run_local(tasks: list[ChunkTask], collector: Collector, workers: int) -> None:
    """Solve ``tasks`` on ``workers`` spawned processes, feeding ``collector``.

    On Ctrl-C the workers are killed, the finished rows are written, and
    KeyboardInterrupt propagates to the caller.
    """
    if not tasks:
        return
    pool = _Pool(min(workers, len(tasks)), collector)
    pool.pending.extend(tasks)
    try:
        pool.run()
    except BaseException:
        pool.kill()
        raise
    pool.close()
