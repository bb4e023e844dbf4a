"""The realistic instance solved from the command line, process start to files written,
against a floor process that imports highspy, reads the same model as MPS and solves it.

The two processes are timed alternately, ``CLI_ROUNDS`` times each after one unmeasured
warm-up of each (page cache), and the medians compared. ``python -X importtime`` of the
same command says where the CLI's start-up time goes. The same command without
``--quiet`` (which prints the plan's tables) is timed in the same alternation.

``PORTFOLIO_OPT_BENCH_BASELINE=DIR`` (a copy of an earlier source tree) also times that
tree's CLI in the same alternation (run from DIR, so that ``-m portfolio_opt`` imports its
package): a before/after ratio from one run on the same machine.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from _scale import BASE_OPTIONS, PYTHON, REALISTIC, REPO, median, rel_diff, work_dir

CLI_ROUNDS = 7
IMPORTTIME_RUNS = 3


def write_realistic_mps(path: Path) -> None:
    """The realistic instance's model exactly as the CLI hands it to HiGHS, as MPS."""
    from pyomo.common.tee import capture_output

    from portfolio_opt.api import build, handoff

    engine = handoff(build(REALISTIC))
    with capture_output(capture_fd=True):  # HiGHS notes on unnamed rows and columns
        engine.highs.writeModel(str(path))


def floor_code(mps: Path) -> str:
    sets = "".join(f"h.setOptionValue({k!r}, {v!r}); " for k, v in BASE_OPTIONS.items())
    return ("import highspy; h = highspy.Highs(); h.setOptionValue('output_flag', False); "
            f"{sets}h.readModel({str(mps)!r}); h.run(); "
            "print(h.getInfo().objective_function_value)")


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _timed(cmd: list[str], cwd: Path = REPO) -> tuple[float, float, str]:
    """Wall seconds from process start to exit, the process's CPU seconds, its stdout."""
    c0 = _cpu_children()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, check=False)
    wall = time.perf_counter() - t0
    cpu = _cpu_children() - c0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, cpu, proc.stdout


def importtime_profile(cmd: list[str]) -> dict[str, Any]:
    """Import cost of the CLI solve path: per top-level package (sum of its modules' own
    times) and the package's own modules (cumulative), medians over a few runs."""
    per_pkg: dict[str, list[float]] = defaultdict(list)
    per_own: dict[str, list[float]] = defaultdict(list)
    totals = []
    pattern = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")
    for _ in range(IMPORTTIME_RUNS):
        proc = subprocess.run([PYTHON, "-X", "importtime", *cmd[1:]], capture_output=True,
                              text=True, cwd=REPO, check=True)
        pkg: dict[str, float] = defaultdict(float)
        own: dict[str, float] = {}
        total = 0.0
        for m in pattern.finditer(proc.stderr):
            self_us, cum_us, name = int(m[1]), int(m[2]), m[3]
            pkg[name.split(".")[0]] += self_us / 1e6
            total += self_us / 1e6
            if name.startswith("portfolio_opt"):
                own[name] = max(own.get(name, 0.0), cum_us / 1e6)
        for k, v in pkg.items():
            per_pkg[k].append(v)
        for k, v in own.items():
            per_own[k].append(v)
        totals.append(total)
    by_pkg = sorted(((k, median(v)) for k, v in per_pkg.items()), key=lambda kv: -kv[1])
    by_own = sorted(((k, median(v)) for k, v in per_own.items()), key=lambda kv: -kv[1])
    return {"total_s": median(totals), "by_package": by_pkg[:15], "own_modules": by_own[:12]}


def measure_cli() -> dict[str, Any]:
    wd = work_dir()
    mps = wd / "realistic-cli.mps"
    write_realistic_mps(mps)
    out = wd / "cli-out"
    cli = [PYTHON, "-m", "portfolio_opt", "solve", str(REALISTIC), "--out", str(out),
           "--quiet"]
    floor = [PYTHON, "-c", floor_code(mps)]
    verbose = [PYTHON, "-m", "portfolio_opt", "solve", str(REALISTIC), "--out",
               str(wd / "cli-out-verbose")]
    base_dir = os.environ.get("PORTFOLIO_OPT_BENCH_BASELINE")
    others: dict[str, tuple[list[str], Path]] = {"verbose": (verbose, REPO)}
    if base_dir:
        others["baseline"] = ([*cli[:-2], str(wd / "cli-out-baseline"), "--quiet"],
                              Path(base_dir))
        others["baseline_verbose"] = ([*verbose[:-1], str(wd / "cli-out-baseline-verbose")],
                                      Path(base_dir))
    _timed(cli)  # warm-up of all (page cache, .pyc files)
    _timed(floor)
    for cmd, cwd in others.values():
        _timed(cmd, cwd)
    cli_s, floor_s, cli_cpu, floor_cpu = [], [], [], []
    other_s: dict[str, list[float]] = {k: [] for k in others}
    other_cpu: dict[str, list[float]] = {k: [] for k in others}
    floor_obj = None
    for _ in range(CLI_ROUNDS):
        (out / "summary.json").unlink(missing_ok=True)
        wall, cpu, _text = _timed(cli)
        cli_s.append(wall)
        cli_cpu.append(cpu)
        for key, (cmd, cwd) in others.items():
            wall, cpu, _text = _timed(cmd, cwd)
            other_s[key].append(wall)
            other_cpu[key].append(cpu)
        wall, cpu, text = _timed(floor)
        floor_s.append(wall)
        floor_cpu.append(cpu)
        floor_obj = float(text.strip().splitlines()[-1])
    summary = json.loads((out / "summary.json").read_text())
    python_start = median([_timed([PYTHON, "-c", "pass"])[0] for _ in range(CLI_ROUNDS)])
    extra: dict[str, Any] = {"baseline_dir": base_dir, "date": date.today().isoformat(),
                             "load_average_1min_at_end": os.getloadavg()[0]}
    for key in others:
        extra[f"{key}_s"] = other_s[key]
        extra[f"{key}_cpu_s"] = other_cpu[key]
        extra[f"{key}_median_s"] = median(other_s[key])
        extra[f"{key}_median_cpu_s"] = median(other_cpu[key])
        extra[f"{key}_ratio"] = median(other_s[key]) / median(floor_s)
        extra[f"{key}_cpu_ratio"] = median(other_cpu[key]) / median(floor_cpu)
    return {
        **extra,
        "rounds": CLI_ROUNDS, "cli_s": cli_s, "floor_s": floor_s, "cli_cpu_s": cli_cpu,
        "floor_cpu_s": floor_cpu,
        "cli_median_s": median(cli_s), "floor_median_s": median(floor_s),
        "ratio": median(cli_s) / median(floor_s),
        "cli_median_cpu_s": median(cli_cpu), "floor_median_cpu_s": median(floor_cpu),
        "cpu_ratio": median(cli_cpu) / median(floor_cpu), "python_start_s": python_start,
        "cli_status": summary["status"], "cli_npv_usd": summary["objective_npv_usd"],
        "cli_solve_s": summary["solve_seconds"], "floor_objective_musd": floor_obj,
        "command": "python -m portfolio_opt solve instances/us_portfolio.yaml --out DIR --quiet",
        "floor_command": "python -c " + repr(floor_code(Path("MODEL.mps"))),
        "importtime": importtime_profile(cli),
    }


def test_cli(benchmark: Any) -> None:
    res = benchmark.pedantic(measure_cli, rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    assert res["cli_status"] == "optimal"
    # The CLI's plan and HiGHS alone reach the same optimum (USD vs MUSD in the model).
    diff = rel_diff(res["cli_npv_usd"] / 1e6, res["floor_objective_musd"])
    assert diff is not None and diff <= 2e-4
