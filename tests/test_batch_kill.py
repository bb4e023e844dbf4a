"""Workers killed for real: nothing lost, the scenario retried, a rerun solves only the rest.

The worker reads PORTFOLIO_OPT_TEST_KILL_SCENARIO and SIGKILLs itself when it starts a
named scenario ("3:1" on the first attempt only, "6" on every attempt). Spawned workers
inherit the parent's environment, so setting it in the test reaches them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import portfolio_opt as po
from portfolio_opt.batch.api import BatchResult, run_batch
from portfolio_opt.batch.paths import apply_changes
from portfolio_opt.batch.store import read_results
from portfolio_opt.batch.worker import KILL_ENV

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"

BATCH = f"""\
base: {TUTORIAL}
method: oat
parameters:
  - path: market.hashprice_usd_per_ph_day
    scale: [0.6, 1.4]
    levels: 5
  - path: sites[*].grid.price_usd_per_mwh
    scale: [0.8, 1.2]
    levels: 5
"""  # 11 scenarios: the base, 5 hashprice levels, 5 grid-price levels


@pytest.fixture(scope="module")
def batch_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kill") / "kill.yaml"
    path.write_text(BATCH, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def killed(batch_file: Path) -> BatchResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KILL_ENV, "3:1,6")
        return run_batch(batch_file, batch_file.parent / "killed", workers=2, chunk_size=4)


def test_a_killed_worker_loses_nothing(killed: BatchResult) -> None:
    r = killed.results.set_index("scenario")
    assert list(r.index) == list(range(11))
    # Scenario 3 killed its worker once, then solved on a fresh one.
    assert r.loc[3, "status"] == "optimal" and r.loc[3, "attempts"] == 2
    # Scenario 6 killed a worker on each of its three attempts.
    assert r.loc[6, "status"] == "crashed" and r.loc[6, "attempts"] == 3
    assert "died" in r.loc[6, "message"] and "-9" in r.loc[6, "message"]
    others = r.drop(index=[3, 6])
    assert (others["status"] == "optimal").all() and (others["attempts"] == 1).all()
    s = killed.stats
    assert s.solved == 11 and s.crashed == 1
    assert s.retries == 3  # scenario 3 once, scenario 6 twice


def test_the_retried_scenario_equals_its_single_solve(killed: BatchResult) -> None:
    base = po.load_instance(TUTORIAL)
    single = po.solve(apply_changes(base, list(killed.design.scenarios[3].changes)))
    npv = killed.results.set_index("scenario").loc[3, "objective_npv_usd"]
    assert single.objective_npv_usd is not None
    assert abs(npv - single.objective_npv_usd) <= 1e-4 * abs(single.objective_npv_usd) + 1


def test_rerun_with_a_partial_store_solves_only_what_is_missing(killed: BatchResult,
                                                                tmp_path: Path) -> None:
    """Copy the killed run's store, drop two shards, rerun: exactly their rows are solved."""
    store = tmp_path / "partial"
    store.mkdir()
    (store / "manifest.json").write_bytes((killed.out_dir / "manifest.json").read_bytes())
    (store / "shards").mkdir()
    shards = sorted((killed.out_dir / "shards").glob("*.parquet"))
    for f in shards:
        (store / "shards" / f.name).write_bytes(f.read_bytes())
    results = sorted((store / "shards").glob("*.results.parquet"))
    assert len(results) >= 3
    dropped: set[int] = set()
    for f in results[:2]:
        dropped |= set(pd.read_parquet(f)["scenario"])
        f.unlink()
    kept, _ = read_results(store)
    assert set(kept["scenario"]) == set(range(11)) - dropped

    again = run_batch(killed.batch, store, workers=2)
    assert again.stats.stored_before == 11 - len(dropped)
    assert again.stats.solved == len(dropped)  # no scenario solved twice
    assert again.stats.model_builds <= 2
    assert list(again.results["scenario"]) == list(range(11))
    both = again.results.set_index("scenario").join(
        killed.results.set_index("scenario"), suffixes=("", "_before"))
    ok = both["status_before"] == "optimal"
    assert (abs(both.loc[ok, "objective_npv_usd"] - both.loc[ok, "objective_npv_usd_before"])
            <= 1e-4 * abs(both.loc[ok, "objective_npv_usd_before"]) + 1).all()
    if 6 in dropped:  # a crashed scenario that was not stored is solved now (no kill hook)
        assert both.loc[6, "status"] == "optimal"


def _default_sigint() -> None:
    """In the child before it starts: SIGINT handled by default, as under a terminal.

    A test run started as a background job (``pytest &`` in a script) has SIGINT ignored,
    the child would inherit that and Python would then install no KeyboardInterrupt
    handler, so the Ctrl-C these tests send would be lost.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawned_children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` and that run multiprocessing's spawn_main."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
def test_ctrl_c_leaves_a_readable_store_and_a_rerun_finishes(tmp_path: Path) -> None:
    batch = tmp_path / "long.yaml"
    batch.write_text(f"base: {TUTORIAL}\nmethod: grid\nparameters:\n"
                     "  - path: market.hashprice_usd_per_ph_day\n    scale: [0.5, 1.5]\n"
                     "    levels: 20\n  - path: sites[bravo].ai.capex_usd_per_it_mw\n"
                     "    values: [3.0e6, 5.0e6, 7.0e6]\n", encoding="utf-8")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "portfolio_opt", "sweep", str(batch), "--out", str(out),
           "--workers", "2", "--chunk-size", "3", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "shards").glob("*.results.parquet"))
                                              if (out / "shards").is_dir() else []) < 2:
        time.sleep(0.05)
    workers = _spawned_children(proc.pid)
    assert len(workers) == 2  # both workers are solving when Ctrl-C comes
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not [pid for pid in workers if _running(pid)]  # the workers were stopped
    assert "interrupted" in err and "Traceback" not in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "interrupted"
    stored = pd.read_parquet(out / "results.parquet")  # compacted on the way out
    assert 0 < len(stored) < 60
    assert (stored["status"] == "optimal").all()
    assert stored["scenario"].is_unique

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"this run solved {60 - len(stored)} ({len(stored)} were already stored" \
        in done.stdout
    final = pd.read_parquet(out / "results.parquet")
    assert list(final["scenario"]) == list(range(60))
    same = final.set_index("scenario").loc[stored["scenario"], "objective_npv_usd"]
    assert (same.to_numpy() == stored["objective_npv_usd"].to_numpy()).all()
