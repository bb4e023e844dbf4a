"""Hostile input files: each case here once hung the tool or wrote something harmful.

Every command runs for real in a subprocess. ``timeout=`` is only a guard against a hang
(it fails the test instead of stalling CI); what is asserted is the exit code and the
message a person reads.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from portfolio_opt.input_limits import MAX_EXPANDED_NODES, check_expansion
from portfolio_opt.loader import _core_schema_yaml

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"
HANG_GUARD = 30  # seconds; the bomb took over a minute (and growing memory) before the guard


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio_opt.cli", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=HANG_GUARD)


def clean_exit_2(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "InternalError" not in proc.stderr
    return proc.stderr


def billion_laughs(levels: int = 9) -> str:
    """Each anchored list repeats the previous one nine times: 9**9 strings from ~1 KB."""
    lines = ['l1: &l1 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for k in range(2, levels + 1):
        lines.append(f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# --- 1. alias expansion is bounded --------------------------------------------------------


def test_the_bomb_is_small_and_expands_to_hundreds_of_millions():
    text = billion_laughs()
    assert len(text.encode()) < 1024
    # 9**9 strings at the last level alone; counted on the composed graph, nothing built.
    node = _core_schema_yaml().compose(text)
    with pytest.raises(ValueError, match="at least"):
        check_expansion(node)
    assert check_expansion(node, limit=10**10) > 9**9


def test_validate_refuses_the_bomb_with_exit_2_naming_file_and_limit(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs(), encoding="utf-8")
    err = clean_exit_2(run("validate", bomb, cwd=tmp_path))
    assert "bomb.yaml" in err
    assert f"expected at most {MAX_EXPANDED_NODES:,}" in err  # "1,000,000"
    assert "aliases are expanded" in err


def test_solve_refuses_the_bomb_and_writes_nothing(tmp_path):
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(billion_laughs(), encoding="utf-8")
    clean_exit_2(run("solve", bomb, "--out", tmp_path / "out", cwd=tmp_path))
    assert not (tmp_path / "out").exists()


def test_a_batch_with_a_bomb_base_or_a_bomb_batch_file_is_refused(tmp_path):
    (tmp_path / "bomb.yaml").write_text(billion_laughs(), encoding="utf-8")
    batch = tmp_path / "batch.yaml"
    batch.write_text("base: bomb.yaml\nmethod: oat\nparameters:\n"
                     "  - {path: market.hashprice_usd_per_ph_day, scale: [0.5, 1.5]}\n",
                     encoding="utf-8")
    err = clean_exit_2(run("sweep", batch, "--out", tmp_path / "store", "--workers", 1,
                           cwd=tmp_path))
    assert "bomb.yaml" in err and "1,000,000" in err
    # The batch file itself goes through the same reader.
    bad_batch = tmp_path / "bad_batch.yaml"
    bad_batch.write_text(billion_laughs() + f"base: {TUTORIAL}\nmethod: oat\n",
                         encoding="utf-8")
    err = clean_exit_2(run("sweep", bad_batch, "--out", tmp_path / "store", cwd=tmp_path))
    assert "bad_batch.yaml" in err and "1,000,000" in err
    assert not (tmp_path / "store").exists()


def test_a_shared_series_through_an_anchor_stays_valid(tmp_path):
    """Normal aliases (one price series for several sites) are read as before."""
    text = """\
name: shared
horizon: {periods: 3}
market: {hashprice_usd_per_ph_day: [50, 45, 40]}
sites:
  - id: a
    capacity_mw: 10
    grid: {capacity_mw: 10, price_usd_per_mwh: &ercot [30, 35, 40]}
    btc: &fleet {fleet_mw: 5, efficiency_j_per_th: 20}
  - id: b
    capacity_mw: 10
    grid: {capacity_mw: 10, price_usd_per_mwh: *ercot}
    btc: *fleet
"""
    path = tmp_path / "shared.yaml"
    path.write_text(text, encoding="utf-8")
    proc = run("validate", path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 sites" in proc.stdout


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("name: &n [1, *n]\n", encoding="utf-8")
    err = clean_exit_2(run("validate", path, cwd=tmp_path))
    assert "loop.yaml: document (line 1)" in err and "recursive aliases" in err


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deep_nesting_is_an_input_error(tmp_path, suffix):
    path = tmp_path / f"deep{suffix}"
    path.write_text('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    err = clean_exit_2(run("validate", path, cwd=tmp_path))
    assert f"deep{suffix}: document: got 'values nested too deeply to read'" in err


def test_an_xlsx_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * (300 * 2**20) + b"</a>")
    assert path.stat().st_size < 2**20  # 300 MiB of XML in well under 1 MiB
    err = clean_exit_2(run("validate", path, cwd=tmp_path))
    assert "bomb.xlsx: file: got '314,572,807 bytes once unzipped" in err
