"""The Dask runner: the same chunk function, on a LocalCluster or an existing scheduler.

``"local"`` starts a ``distributed.LocalCluster`` on 127.0.0.1 with one single-threaded
worker process per requested worker; any other address (``tcp://HOST:PORT``, or
``tls://HOST:PORT`` with Dask's own ``Security``: certificates given to
:func:`tls_security` or set in the user's Dask configuration) joins that scheduler,
whose workers must have this package installed and should run one thread each (a worker
process solves one scenario at a time; its engine is cached per process).
Chunks carry the base instance itself, so workers need no shared files; results come
back to this process and go to the same store as the local runner's.

When a chunk fails (its worker died beyond the scheduler's own retries, or the task
raised), its scenarios are sent again one by one, so one bad scenario cannot sink its
neighbours; a single scenario that fails on its third attempt is recorded ``crashed``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import InputError, InputIssue
from .collector import MAX_ATTEMPTS, Collector
from .worker import ChunkTask, run_chunk

__all__ = ["SCHEMES", "run_dask", "tls_security"]

SCHEMES = ("tcp://", "tls://")

log = logging.getLogger(__name__)


def tls_security(ca_file: str | Path, cert: str | Path, key: str | Path | None = None
                 ) -> Any:
    """A ``distributed.security.Security`` for joining a ``tls://`` scheduler as a client.

    Dask's TLS is mutual: the scheduler checks this client's certificate (``cert``, with
    its ``key`` unless the file holds both) against its CA, and the client checks the
    scheduler's against ``ca_file``. Traffic is encrypted in both directions.
    """
    from distributed.security import Security

    return Security(tls_ca_file=str(ca_file), tls_client_cert=str(cert),
                    tls_client_key=None if key is None else str(key),
                    require_encryption=True)


def _no_certificates(address: str) -> InputError:
    return InputError([InputIssue(
        "--dask", "option", "dask", address,
        "a tls:// scheduler needs certificates: pass --dask-tls-ca-file, --dask-tls-cert "
        "and --dask-tls-key, or set distributed.comm.tls.ca-file and "
        "distributed.comm.tls.client.cert/key in your Dask configuration")])


def _client(address: str, workers: int, security: Any = None) -> tuple[Any, Any]:
    from dask.distributed import Client, LocalCluster
    from distributed.security import Security

    if address == "local":
        # Bound to the loopback interface: a batch never opens a port others can reach.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        return Client(cluster), cluster
    if address.startswith("tls://"):
        security = security or Security()  # Security() reads the user's Dask config
        if not security.tls_ca_file:
            raise _no_certificates(address)
    try:
        return Client(address, security=security), None
    except OSError as exc:  # refused, timed out, or the TLS handshake failed
        raise InputError([InputIssue(
            "--dask", "option", "dask", address,
            f"expected a reachable Dask scheduler; connecting failed: {exc}")]) from None


def run_dask(tasks: list[ChunkTask], collector: Collector, address: str, workers: int,
             security: Any = None) -> None:
    """Solve ``tasks`` on Dask, feeding ``collector`` as chunks finish.

    ``security``: a ``distributed.security.Security`` for a ``tls://`` address (see
    :func:`tls_security`); None uses the user's Dask configuration.
    """
    from dask.distributed import as_completed

    if not tasks:
        return
    client, cluster = _client(address, workers, security)
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
