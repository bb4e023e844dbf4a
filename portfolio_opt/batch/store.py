"""The batch store on disk: results written as they finish, resumable, never half-written.

Layout of ``DIR``::

    manifest.json          what was run: batch file, base instance hash, versions, design
    shards/*.results.parquet, shards/*.site_periods.parquet
                           one pair per finished chunk, each written to a temporary name
                           and renamed into place (the results file last: it commits the
                           pair, so a site-periods shard without one is ignored)
    results.parquet, site_periods.parquet
                           the shards compacted, one row per scenario, sorted by id

The shards are the truth: a rerun reads their scenario ids and solves only the others,
and compaction can always be redone from them. A folder made by another batch file or
another base instance is refused unless the caller asks for a fresh start.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError, InputIssue
from .columns import SITE_PERIOD_COLUMNS, result_columns
from .designs import Design
from .spec import Batch

__all__ = ["Store", "read_results", "versions"]

MANIFEST = "manifest.json"
RESULTS = "results.parquet"
SITE_PERIODS = "site_periods.parquet"
SHARDS = "shards"
_OURS = (MANIFEST, RESULTS, SITE_PERIODS, SHARDS, "analysis")

_FLOAT = ["objective_npv_usd", "mip_gap", "objective_bound_usd", "solve_seconds",
          "build_seconds", "wall_seconds"]


def versions() -> dict[str, str]:
    """Package, modelling and solver versions, for the manifest."""
    from importlib.metadata import PackageNotFoundError, version

    import highspy
    import pyomo

    from .. import __version__

    try:
        highs = version("highspy")
    except PackageNotFoundError:  # pragma: no cover - highspy is a dependency
        highs = getattr(highspy, "__version__", "unknown")
    return {"portfolio_opt": __version__, "pyomo": pyomo.__version__, "highspy": highs,
            "python": platform.python_version()}


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _atomic_json(data: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class Store:
    """One batch's folder. :meth:`open` first; then shards; then :meth:`compact`."""

    def __init__(self, out_dir: str | Path, batch: Batch, design: Design) -> None:
        self.dir = Path(out_dir)
        self.batch = batch
        self.design = design
        self.periods = batch.base.horizon.periods
        self.columns = result_columns(design.columns, self.periods,
                                      batch.base.uncertainty is not None)
        self._seq = 0

    @property
    def shard_dir(self) -> Path:
        return self.dir / SHARDS

    def open(self, *, fresh: bool = False) -> set[int]:
        """Prepare the folder; return the ids of the scenarios already stored."""
        manifest = self.dir / MANIFEST
        if fresh:
            for name in _OURS:
                target = self.dir / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        elif manifest.exists():
            self._check_same(manifest)
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        done = self.stored_ids()
        self._seq = len(list(self.shard_dir.glob("*.results.parquet")))
        if not manifest.exists():
            _atomic_json(self._manifest("running", {}), manifest)
        return done

    def _check_same(self, manifest: Path) -> None:
        old = json.loads(manifest.read_text(encoding="utf-8"))
        issues = []
        for key, now, what in (("batch_sha256", self.batch.sha256, "batch file"),
                               ("base_sha256", self.batch.base_sha256, "base instance")):
            if old.get(key) != now:
                issues.append(InputIssue(
                    str(manifest), "store", key, old.get(key),
                    f"this folder holds a batch with another {what} (now {now[:12]}...); "
                    "rerun with the same files to resume, use another --out, or pass "
                    "--fresh to delete its results and start over"))
        if issues:
            raise InputError(issues)

    def _manifest(self, state: str, run: dict[str, Any]) -> dict[str, Any]:
        b = self.batch
        return {
            "state": state,
            "batch_file": b.source,
            "batch_sha256": b.sha256,
            "batch": b.spec.model_dump(mode="json", exclude_none=True),
            "base_instance": str(b.base_path),
            "base_sha256": b.base_sha256,
            "versions": versions(),
            "design": {**b.describe(), "scenarios": len(self.design)},
            "columns": self.columns,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "run": run,
        }

    def stored_ids(self) -> set[int]:
        ids: set[int] = set()
        for path in sorted(self.shard_dir.glob("*.results.parquet")):
            ids.update(int(x) for x in pd.read_parquet(path, columns=["scenario"])["scenario"])
        return ids

    def frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        """Rows as a typed results table (the same dtypes in every shard)."""
        df = pd.DataFrame(rows, columns=self.columns)
        for c in df.columns:
            if c in ("scenario", "attempts"):
                df[c] = df[c].astype("int64")
            elif c == "model_built":
                df[c] = df[c].fillna(False).astype(bool)
            elif c in ("status", "message"):
                df[c] = df[c].fillna("").astype(str)
            else:
                df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        return df

    @staticmethod
    def site_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=SITE_PERIOD_COLUMNS)
        halls = pd.to_numeric(df["halls_started"]).astype("float64")
        # Whole halls, except expectations over scenarios that differ in them (spec v2 B,
        # multi_stage): those stay fractional rather than being truncated.
        whole = bool((halls == halls.round()).all())
        return df.astype({"scenario": "int64", "site": str, "period": "int64",
                          "btc_mw": "float64", "ai_served_it_mw": "float64",
                          "halls_started": "int64" if whole else "float64"})

    def write_shard(self, rows: list[dict[str, Any]], site_rows: list[dict[str, Any]]) -> Path:
        """Store finished scenarios: site periods first, then the results file commits."""
        self._seq += 1
        stem = f"{self._seq:06d}-{secrets.token_hex(3)}"
        _atomic_parquet(self.site_frame(site_rows), self.shard_dir / f"{stem}.site_periods.parquet")
        target = self.shard_dir / f"{stem}.results.parquet"
        _atomic_parquet(self.frame(rows), target)
        return target

    def compact(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Merge the shards into results.parquet and site_periods.parquet (atomically)."""
        results, sites = read_shards(self.shard_dir)
        results = self.frame(_records(results))
        _atomic_parquet(results, self.dir / RESULTS)
        _atomic_parquet(sites, self.dir / SITE_PERIODS)
        return results, sites

    def finish(self, state: str, run: dict[str, Any]) -> None:
        _atomic_json(self._manifest(state, run), self.dir / MANIFEST)


def read_shards(shard_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every committed shard, one row per scenario (the latest if one was stored twice)."""
    parts, site_parts = [], []
    for path in sorted(shard_dir.glob("*.results.parquet")):
        parts.append(pd.read_parquet(path))
        sp = path.with_name(path.name.replace(".results.", ".site_periods."))
        if sp.exists():
            site_parts.append(pd.read_parquet(sp))
    results = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    sites = (pd.concat(site_parts, ignore_index=True) if site_parts
             else pd.DataFrame(columns=SITE_PERIOD_COLUMNS))
    if len(results):
        results = (results.drop_duplicates("scenario", keep="last")
                   .sort_values("scenario").reset_index(drop=True))
        sites = sites[sites["scenario"].isin(results["scenario"])]
    if len(sites):
        sites = (sites.drop_duplicates(["scenario", "site", "period"], keep="last")
                 .sort_values("scenario", kind="stable")
                 .reset_index(drop=True))
    return results, Store.site_frame(_records(sites))


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in df.to_dict("records")]


def read_results(out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, site_periods) of a store, also of one interrupted before compaction."""
    d = Path(out_dir)
    if (d / SHARDS).is_dir():
        return read_shards(d / SHARDS)
    return pd.read_parquet(d / RESULTS), pd.read_parquet(d / SITE_PERIODS)
