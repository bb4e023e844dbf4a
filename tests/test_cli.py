"""The ``portfolio-opt`` command line, run for real in a subprocess.

Exit codes (spec): 0 solved (optimal or feasible), 2 invalid input, 3 infeasible,
4 no solution within the limits or a solver failure.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"
HAS_GENERATE = importlib.util.find_spec("portfolio_opt.generate") is not None

SIX_FILES = {"summary.json", "site_periods.csv", "contracts.csv", "contract_site_periods.csv",
             "flows.csv", "cashflows.csv"}
SPEC_COLUMNS = {
    "site_periods.csv": ["site", "period", "year", "btc_mw", "btc_bought_mw", "halls_started",
                         "ai_reserved_it_mw", "ai_available_it_mw", "ai_served_it_mw",
                         "grid_import_mw", "gross_load_mw"],
    "contracts.csv": ["contract", "tenant", "accepted", "it_mw", "sites", "npv_usd"],
    "contract_site_periods.csv": ["contract", "site", "period", "it_mw"],
    "flows.csv": ["link", "from", "to", "period", "flow_mw"],
    "cashflows.csv": ["period", "year", "btc_revenue", "ai_revenue", "energy_cost", "opex",
                      "capex", "net", "discounted"],
}
SUMMARY_KEYS = {"status", "objective_npv_usd", "mip_gap", "solver", "solver_version",
                "solve_seconds", "build_seconds", "instance_sha256"}
EXIT = {"optimal": 0, "feasible": 0, "infeasible": 3, "time_limit_no_solution": 4, "error": 4}

SMALL = """\
name: small
horizon: {periods: 2, discount_rate: 0.05}
market: {hashprice_usd_per_ph_day: [40, 35]}
sites:
  - id: mine
    capacity_mw: 50
    grid: {capacity_mw: 50, price_usd_per_mwh: 40}
    btc: {fleet_mw: 30, efficiency_j_per_th: 20, pue: 1.1}
    ai: {max_it_mw: 20, existing_it_mw: 10, block_it_mw: 10, capex_usd_per_it_mw: 1000000,
         lead_time_periods: 0, pue: 1.2}
contracts:
  - {id: lease, tenant: acme, it_mw: {min: 5, max: 20}, rate_usd_per_kw_month: 120,
     start_period: 1, term_periods: 2}
"""

INFEASIBLE = """\
name: stuck
horizon: {periods: 2}
market: {hashprice_usd_per_ph_day: 40}
sites:
  - id: campus
    capacity_mw: 30
    grid: {capacity_mw: 30, price_usd_per_mwh: 40}
    ai: {max_it_mw: 10, existing_it_mw: 10, block_it_mw: 10, capex_usd_per_it_mw: 1000000}
contracts:
  - {id: signed-anchor, tenant: acme, it_mw: {min: 25, max: 25}, rate_usd_per_kw_month: 120,
     start_period: 1, term_periods: 2, committed: true}
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio_opt.cli", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def run_many(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Several CLI runs at once (they are independent; this halves the wall time)."""
    procs = [subprocess.Popen([sys.executable, "-m", "portfolio_opt.cli", *map(str, args)],
                              cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for args in commands]
    done = []
    for args, p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(args, p.returncode, out, err))
    return done


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


# --------------------------------------------------------------------------- solve


@pytest.fixture(scope="module")
def solved_small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    tmp = tmp_path_factory.mktemp("cli")
    inst = write(tmp / "small.yaml", SMALL)
    out = tmp / "out"
    proc = run("solve", inst, "--out", out, cwd=tmp)
    return inst, out, proc


def test_solve_writes_exactly_the_six_files(solved_small):
    _, out, proc = solved_small
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    assert {p.name for p in out.iterdir()} == SIX_FILES


def test_solve_csv_columns_follow_the_spec(solved_small):
    _, out, _ = solved_small
    for name, columns in SPEC_COLUMNS.items():
        got = header(out / name)
        assert got[: len(columns)] == columns, name
        assert len(got) == len(set(got))


def test_summary_fields_and_sha256(solved_small):
    inst, out, _ = solved_small
    s = summary(out)
    assert set(s) >= SUMMARY_KEYS
    assert s["status"] == "optimal"
    assert s["solver"] == "highs"
    assert isinstance(s["solver_version"], str) and s["solver_version"]
    assert s["solve_seconds"] >= 0 and s["build_seconds"] >= 0
    assert s["instance_sha256"] == hashlib.sha256(inst.read_bytes()).hexdigest()
    assert s["mip_gap"] is None or 0 <= s["mip_gap"] <= 1e-4 + 1e-12


def test_summary_npv_is_the_sum_of_discounted_cashflows(solved_small):
    _, out, _ = solved_small
    s = summary(out)
    total = sum(float(r["discounted"]) for r in rows(out / "cashflows.csv"))
    assert s["objective_npv_usd"] == pytest.approx(total, rel=1e-8, abs=1e-2)
    # 30 MW mining at 40 and 35 USD/PH/day is profitable at 40 USD/MWh and pue 1.1, and the
    # lease at 120 USD/kW-month beats the hall cost: the plan earns money.
    assert s["objective_npv_usd"] > 0
    leases = rows(out / "contracts.csv")
    assert [r["contract"] for r in leases] == ["lease"]


def test_solve_json_instance_into_the_default_folder(tmp_path, solved_small):
    # the same instance as JSON (the extension decides, any case), no --out: the files go
    # to out/<file stem>; same NPV, and the sha256 is of the JSON file's bytes.
    from portfolio_opt.loader import read_document

    yaml_path, yaml_out, _ = solved_small
    inst = write(tmp_path / "small.JSON", json.dumps(read_document(yaml_path).data))
    proc = run("solve", inst, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out" / "small"
    assert {p.name for p in out.iterdir()} == SIX_FILES
    s = summary(out)
    assert s["instance_sha256"] == hashlib.sha256(inst.read_bytes()).hexdigest()
    assert s["objective_npv_usd"] == pytest.approx(summary(yaml_out)["objective_npv_usd"],
                                                   rel=1e-4, abs=1.0)


# --------------------------------------------------------------------------- exit 2


HEAD = "name: bad\nhorizon: {periods: 2}\nmarket: {hashprice_usd_per_ph_day: 40}\n"
# Several independent mistakes; every one must be reported, each with its entity and field.
MANY_ISSUES = HEAD + """\
sites:
  - id: a
    capacity_mw: -1
    capasity: 3
  - id: b
    capacity_mw: 10
    btc: {fleet_mw: 5, efficiency_j_per_th: 0}
    ai: {max_it_mw: 10, existing_it_mw: 10, block_it_mw: 10, capex_usd_per_it_mw: 0}
links:
  - {from: a, to: nowhere, kind: power, capacity_mw: 5}
contracts:
  - {id: k, tenant: t, it_mw: {min: 1, max: 1}, rate_usd_per_kw_month: 1, start_period: 1,
     term_periods: 1, committed: no}
"""


def test_invalid_input_exit_2(tmp_path):
    inst = write(tmp_path / "bad.yaml", MANY_ISSUES)
    out = tmp_path / "never"
    proc = run("solve", inst, "--out", out, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    no_traceback(proc)
    err = proc.stderr
    assert "bad.yaml" in err
    lines = err.splitlines()

    def reported(*words: str) -> bool:
        return any(all(w in line for w in words) for line in lines)

    assert reported("'a'", "capacity_mw"), err
    assert reported("capasity"), err  # unknown key
    assert reported("'b'", "efficiency_j_per_th"), err
    assert reported("nowhere"), err
    assert reported("'k'", "committed"), err  # `no` is a string in YAML 1.2, not false
    assert not out.exists()


def test_duplicate_key_is_invalid(tmp_path):
    inst = write(tmp_path / "dup.yaml",
                 HEAD + "sites:\n  - id: a\n    capacity_mw: 10\n    capacity_mw: 20\n")
    proc = run("validate", inst, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    no_traceback(proc)
    assert "dup.yaml" in proc.stderr and "capacity_mw" in proc.stderr


def test_missing_file_exit_2(tmp_path):
    proc = run("solve", tmp_path / "missing.yaml", "--out", tmp_path / "o", cwd=tmp_path)
    assert proc.returncode == 2
    no_traceback(proc)
    assert "missing.yaml" in proc.stderr
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- exit 3, 4


def test_infeasible_committed_exit_3(tmp_path):
    inst = write(tmp_path / "stuck.yaml", INFEASIBLE)
    out = tmp_path / "out"
    proc = run("solve", inst, "--out", out, cwd=tmp_path)
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    no_traceback(proc)
    assert "signed-anchor" in proc.stderr
    if (out / "summary.json").exists():
        assert summary(out)["status"] == "infeasible"
        assert summary(out)["objective_npv_usd"] is None
        assert not list(out.glob("*.csv"))


def test_time_limit_zero_exit_4(tmp_path):
    # With no time at all HiGHS stops before it has any plan.
    src = ROOT / "instances" / "us_portfolio.yaml"
    if not src.exists():
        src = TUTORIAL
    out = tmp_path / "out"
    proc = run("solve", src, "--out", out, "--time-limit", "0", cwd=tmp_path)
    s = summary(out)
    assert s["status"] in ("time_limit_no_solution", "feasible", "optimal")
    assert proc.returncode == EXIT[s["status"]]
    if s["status"] == "time_limit_no_solution":
        assert proc.returncode == 4
        assert s["objective_npv_usd"] is None
        assert not list(out.glob("*.csv"))
    no_traceback(proc)


@pytest.mark.skipif(not HAS_GENERATE, reason="portfolio_opt.generate is not available")
def test_tiny_time_limit_exit_code_matches_status(tmp_path):
    # A moderately sized instance and 0.05 s: HiGHS may stop with or without a plan; either
    # way the exit code must match the status in summary.json.
    from portfolio_opt.generate import generate_instance, write_instance

    inst = write_instance(generate_instance(30, 8, 12, 7), tmp_path / "mid.json")
    out = tmp_path / "out"
    proc = run("solve", inst, "--out", out, "--time-limit", "0.05", "--quiet", cwd=tmp_path)
    s = summary(out)
    assert s["status"] in ("optimal", "feasible", "time_limit_no_solution")
    assert proc.returncode == EXIT[s["status"]]
    files = {p.name for p in out.iterdir()}
    assert files == (SIX_FILES if proc.returncode == 0 else {"summary.json"})
    no_traceback(proc)


# --------------------------------------------------------------------------- profiles


@pytest.fixture(scope="module")
def tutorial_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("profiles")
    prof = write(tmp / "mine.yaml", "description: test profile\nmip_rel_gap: 0.001\nthreads: 1\n")
    profiles = {"default": "default", "exact": "exact", "fast": "fast", "hard": "hard",
                "file": str(prof)}
    procs = run_many([["solve", TUTORIAL, "--out", tmp / name, "--solver-profile", profile,
                       "--quiet"] for name, profile in profiles.items()], cwd=tmp)
    return {name: (proc, tmp / name) for name, proc in zip(profiles, procs, strict=True)}


@pytest.mark.parametrize("name", ["default", "exact", "fast", "hard", "file"])
def test_solver_profiles(tutorial_runs, name):
    proc, out = tutorial_runs[name]
    assert proc.returncode == 0, proc.stderr
    s = summary(out)
    assert s["status"] in ("optimal", "feasible")
    gap = {"default": 1e-4, "exact": 1e-9, "fast": 1e-2, "hard": 1e-4, "file": 1e-3}[name]
    if "solver_options" in s:  # optional extra field: the options actually used
        assert s["solver_options"]["mip_rel_gap"] == pytest.approx(gap)
    if s["status"] == "optimal" and s["mip_gap"] is not None:
        assert s["mip_gap"] <= gap + 1e-12
    effort = {"default": 0.2, "hard": 0.3}.get(name)  # HiGHS's own default is 0.05
    if effort is not None:
        assert s["solver_options"]["mip_heuristic_effort"] == pytest.approx(effort)


def test_profiles_agree_on_the_npv(tutorial_runs):
    npv = {k: summary(out)["objective_npv_usd"] for k, (_, out) in tutorial_runs.items()}
    exact = npv["exact"]
    for name, gap in (("default", 1e-4), ("fast", 1e-2), ("hard", 1e-4), ("file", 1e-3)):
        assert abs(npv[name] - exact) <= gap * max(abs(exact), abs(npv[name])) + 1.0, name
        assert npv[name] <= exact + 1e-9 * abs(exact) + 1.0, name


@pytest.mark.parametrize("profile", ["nonesuch"])
def test_unknown_profile_exit_2(tmp_path, profile):
    out = tmp_path / "o"
    proc = run("solve", TUTORIAL, "--out", out, "--solver-profile", profile, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    no_traceback(proc)
    assert profile in proc.stderr
    assert not out.exists()


def test_profile_with_a_bad_option_exit_2(tmp_path):
    prof = write(tmp_path / "bad.yaml", "mip_rel_gapp: 0.01\n")
    proc = run("solve", TUTORIAL, "--out", tmp_path / "o", "--solver-profile", prof,
               cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    no_traceback(proc)
    assert "mip_rel_gapp" in proc.stderr


# --------------------------------------------------------------------------- validate, generate


def test_validate_ok(tmp_path):
    proc = run("validate", TUTORIAL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout


def test_validate_invalid_exit_2(tmp_path):
    inst = write(tmp_path / "bad.yaml", MANY_ISSUES)
    proc = run("validate", inst, cwd=tmp_path)
    assert proc.returncode == 2
    no_traceback(proc)
    assert "bad.yaml" in proc.stderr and "capacity_mw" in proc.stderr


@pytest.mark.skipif(not HAS_GENERATE, reason="portfolio_opt.generate is not available")
def test_generate_writes_a_valid_file(tmp_path):
    target = tmp_path / "gen.yaml"
    proc = run("generate", "--sites", "4", "--periods", "3", "--contracts", "3", "--seed", "11",
               "--out", target, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert target.is_file()
    check = run("validate", target, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    solved = run("solve", target, "--out", tmp_path / "o", "--quiet", cwd=tmp_path)
    assert solved.returncode == 0, solved.stderr
