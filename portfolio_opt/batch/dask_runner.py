"""The Dask runner: the same chunk function, on a LocalCluster or an existing scheduler.

``"local"`` starts a ``distributed.LocalCluster`` on 127.0.0.1 with one single-threaded
worker process per requested worker; any other address (``tcp://HOST:PORT``) joins that
scheduler, whose workers must have this package installed and should run one thread each
(a worker process solves one scenario at a time; its engine is cached per process).
Chunks carry the base instance itself, so workers need no shared files; results come
back to this process and go to the same store as the local runner's.

When a chunk fails (its worker died beyond the scheduler's own retries, or the task
raised), its scenarios are sent again one by one, so one bad scenario cannot sink its
neighbours; a single scenario that fails on its third attempt is recorded ``crashed``.
"""

from __future__ import annotations

import logging
from typing import Any

from .collector import MAX_ATTEMPTS, Collector
from .worker import ChunkTask, run_chunk

__all__ = ["run_dask"]

log = logging.getLogger(__name__)


def _client(address: str, workers: int) -> tuple[Any, Any]:
    from dask.distributed import Client, LocalCluster

    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        return Client(cluster), cluster
    return Client(address), None


def run_dask(tasks: list[ChunkTask], collector: Collector, address: str, workers: int) -> None:
    """Solve ``tasks`` on Dask, feeding ``collector`` as chunks finish."""
    from dask.distributed import as_completed

    if not tasks:
        return
    client, cluster = _client(address, workers)
    try:
        futures = {client.submit(run_chunk, t, pure=False): t for t in tasks}
        queue = as_completed(list(futures))
        for fut in queue:
            task = futures.pop(fut)
            try:
                outs = fut.result()
            except Exception as exc:
                for retry in _after_failure(task, exc, collector):
                    new = client.submit(run_chunk, retry, pure=False)
                    futures[new] = retry
                    queue.add(new)
                collector.flush()
                continue
            for out in outs:
                collector.add(out)
            collector.flush()
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _after_failure(task: ChunkTask, exc: BaseException, collector: Collector
                   ) -> list[ChunkTask]:
    """Tasks to submit again after ``task`` failed: its scenarios, one per task."""
    log.warning("chunk of %d scenarios failed on Dask: %s", len(task.scenarios), exc)
    out = []
    for sid, changes, attempt in task.scenarios:
        if len(task.scenarios) == 1 and attempt >= MAX_ATTEMPTS:
            collector.crashed(sid, attempt, f"failed on Dask on each of {attempt} attempts "
                              f"({type(exc).__name__}: {exc})")
            continue
        nxt = attempt + 1 if len(task.scenarios) == 1 else attempt
        if nxt != attempt:
            collector.stats.retries += 1
        out.append(ChunkTask(task.key, task.base, task.source, [(sid, changes, nxt)]))
    return out
