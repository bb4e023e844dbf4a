"""``run_batch``: a batch file in, a store on disk and the same tables as DataFrames out.

The order is fixed: check the batch file and its base instance (nothing is written when
they are invalid), build the design, open the store (refusing a folder made by another
batch), skip the scenarios already stored, solve the rest on local processes or Dask,
compact, and analyse when every scenario has a row.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..outpaths import check_out_dir
from .analysis import Analysis, analyse
from .collector import Collector, ProgressCallback, RunStats
from .designs import Design, make_design
from .spec import Batch, BatchFile, load_batch, resolve_batch
from .store import MANIFEST, Store, read_results
from .worker import ChunkTask, EngineKey

__all__ = ["BatchResult", "load_batch_result", "open_batch", "plot_batch_result", "run_batch"]

log = logging.getLogger(__name__)

ANALYSIS_DIR = "analysis"


@dataclass
class BatchResult:
    """A batch's tables: one row per scenario, the long site table, the analyses."""

    out_dir: Path
    batch: Batch
    design: Design
    results: pd.DataFrame
    site_periods: pd.DataFrame
    analyses: dict[str, Analysis]
    stats: RunStats

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.design)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The analysis tables by name (tornado, sobol, morris: whichever apply)."""
        return {name: a.table for name, a in self.analyses.items()}

    @property
    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out_dir / MANIFEST).read_text("utf-8"))
        return data


def open_batch(source: str | Path | dict[str, Any] | BatchFile | Batch) -> Batch:
    """A checked :class:`Batch` from a file path, a dict, a parsed file or a Batch."""
    if isinstance(source, Batch):
        return source
    if isinstance(source, (str, Path)):
        return load_batch(source)
    return resolve_batch(source)


def _tasks(batch: Batch, design: Design, todo: list[int], chunk: int) -> list[ChunkTask]:
    spec = batch.spec
    key = EngineKey(batch.base_sha256, batch.profile, spec.time_limit, spec.mip_gap)
    base = batch.base.model_dump(by_alias=True, exclude_none=True)
    items = [(sid, design.scenarios[sid].changes, 1) for sid in todo]
    return [ChunkTask(key, base, str(batch.base_path), items[i:i + chunk])
            for i in range(0, len(items), chunk)]


def _write_analyses(out_dir: Path, analyses: dict[str, Analysis]) -> None:
    target = out_dir / ANALYSIS_DIR
    target.mkdir(exist_ok=True)
    for name, a in analyses.items():
        tmp = target / f".{name}.csv.tmp"
        a.table.to_csv(tmp, index=False, float_format="%.10g")
        tmp.replace(target / f"{name}.csv")
    summary = {name: a.summary() for name, a in analyses.items()}
    tmp = target / ".analysis.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target / "analysis.json")


def run_batch(
    batch_file_or_spec: str | Path | dict[str, Any] | BatchFile | Batch,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    dask: str | None = None,
    fresh: bool = False,
    chunk_size: int | None = None,
    progress: ProgressCallback | None = None,
    dask_security: Any = None,
) -> BatchResult:
    """Solve every scenario of a batch not yet in ``out_dir`` and return all of them.

    ``workers``: processes (default: one per core), each solving with one HiGHS thread.
    ``dask``: ``"local"`` for a LocalCluster on 127.0.0.1, or a scheduler address
    (``tcp://`` or ``tls://``); ``dask_security`` a ``distributed.security.Security`` for
    ``tls://`` (see ``dask_runner.tls_security``; None: the user's Dask configuration).
    ``fresh``: delete the folder's earlier results first (else a rerun resumes).
    ``chunk_size``: scenarios sent to a worker at a time (default: about four chunks per
    worker, at most 25). ``progress`` is called after each finished scenario.
    Raises :class:`~portfolio_opt.errors.InputError` for an invalid batch (nothing
    written) and KeyboardInterrupt after storing what finished when interrupted.
    """
    from ..solver import solver_options
    from .runner import default_workers

    batch = open_batch(batch_file_or_spec)
    check_out_dir(out_dir, "run_batch", "out_dir")
    solver_options(batch.profile, time_limit=batch.spec.time_limit, mip_gap=batch.spec.mip_gap)
    design = make_design(batch)
    store = Store(out_dir, batch, design)
    stored = store.open(fresh=fresh)
    todo = [sc.id for sc in design.scenarios if sc.id not in stored]
    n_workers = workers or default_workers()
    chunk = chunk_size or max(1, min(25, math.ceil(len(todo) / (4 * n_workers))))
    collector = Collector(store, design, stored, progress)
    collector.stats.workers = n_workers
    collector.stats.runner = "local" if dask is None else f"dask:{dask}"
    tasks = _tasks(batch, design, todo, chunk)
    log.info("batch %s: %d scenarios, %d stored, %d to solve in %d chunks on %d workers",
             batch.source, len(design), len(stored), len(todo), len(tasks), n_workers)
    try:
        if dask is None:
            from .runner import run_local

            run_local(tasks, collector, n_workers)
        else:
            from .dask_runner import run_dask

            run_dask(tasks, collector, dask, n_workers, dask_security)
    except BaseException:
        collector.stats.interrupted = True
        stats = collector.finish()
        store.compact()
        store.finish("interrupted", stats.as_dict())
        raise
    stats = collector.finish()
    results, sites = store.compact()
    analyses: dict[str, Analysis] = {}
    if len(results) == len(design):
        analyses = analyse(design, results, seed=batch.spec.seed,
                           morris_levels=batch.spec.morris_levels)
        _write_analyses(store.dir, analyses)
    store.finish("complete" if len(results) == len(design) else "incomplete", stats.as_dict())
    return BatchResult(store.dir, batch, design, results, sites, analyses, stats)


def load_batch_result(batch_file_or_spec: str | Path | dict[str, Any] | BatchFile | Batch,
                      out_dir: str | Path) -> BatchResult:
    """Re-open a store without solving (also a partial one): tables and analyses."""
    batch = open_batch(batch_file_or_spec)
    design = make_design(batch)
    results, sites = read_results(out_dir)
    analyses = (analyse(design, results, seed=batch.spec.seed,
                        morris_levels=batch.spec.morris_levels)
                if len(results) == len(design) else {})
    return BatchResult(Path(out_dir), batch, design, results, sites, analyses, RunStats())


def plot_batch_result(result: BatchResult, out_dir: str | Path | None = None) -> list[Path]:
    """Draw a batch's pictures with ``portfolio_opt.batch.plots.plot_batch`` when present.

    The hook the CLI's ``--plot`` calls; the plotting module is separate so batches run
    without matplotlib being imported.
    """
    from .plots import plot_batch

    return plot_batch(result, Path(out_dir or result.out_dir))
