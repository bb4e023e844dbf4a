"""Dask: a LocalCluster on 127.0.0.1 gives the same rows as the local process pool."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from portfolio_opt.batch.api import run_batch

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"

BATCH = f"""\
base: {TUTORIAL}
method: grid
parameters:
  - path: market.hashprice_usd_per_ph_day
    scale: [0.6, 1.4]
    levels: 3
  - path: contracts[hyperscaler-offer].rate_usd_per_kw_month
    values: [120, 200]
"""  # 6 scenarios

SAME = ["scenario", "market.hashprice_usd_per_ph_day",
        "contracts[hyperscaler-offer].rate_usd_per_kw_month", "status", "attempts"]


@pytest.mark.slow
def test_dask_local_cluster_gives_the_rows_of_the_process_pool(tmp_path: Path) -> None:
    batch = tmp_path / "grid.yaml"
    batch.write_text(BATCH, encoding="utf-8")
    local = run_batch(batch, tmp_path / "local", workers=1, chunk_size=2)
    dask = run_batch(batch, tmp_path / "dask", workers=2, chunk_size=2, dask="local")
    assert dask.stats.runner == "dask:local" and dask.stats.solved == 6
    assert dask.stats.model_builds <= 2  # each Dask worker process keeps its engine
    a, b = local.results, dask.results
    pd.testing.assert_frame_equal(a[SAME], b[SAME])
    assert (a["status"] == "optimal").all()
    npv_a, npv_b = a["objective_npv_usd"], b["objective_npv_usd"]
    assert ((npv_a - npv_b).abs() <= 1e-4 * npv_a.abs() + 1).all()
    periods = [c for c in a.columns if c.startswith(("btc_mw_p", "ai_it_mw_p"))]
    assert len(periods) == 10
    pd.testing.assert_frame_equal(a[periods], b[periods], atol=1e-6)
    assert len(pd.read_parquet(tmp_path / "dask" / "site_periods.parquet")) == 6 * 3 * 5


@pytest.mark.slow
def test_dask_joins_an_existing_scheduler_by_address(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    batch = tmp_path / "grid.yaml"
    batch.write_text(BATCH, encoding="utf-8")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        first = run_batch(batch, tmp_path / "out", dask=address, chunk_size=4)
        assert first.stats.runner == f"dask:{address}" and first.stats.solved == 6
        assert first.stats.model_builds == 1  # one worker process, one engine for both chunks
        # The cluster outlives the batch (it was joined, not started): a rerun resumes.
        again = run_batch(batch, tmp_path / "out", dask=address)
        assert again.stats.solved == 0 and again.stats.stored_before == 6
    assert (first.results["status"] == "optimal").all()
