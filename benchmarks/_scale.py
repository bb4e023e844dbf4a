"""Shared pieces of the scale, CLI, peer and formulation benchmarks.

Instances are generated once per seed into a work folder (``PORTFOLIO_OPT_BENCH_DIR``,
default ``<tmp>/portfolio_opt_bench``) and reused. Each heavy measurement runs in its own
Python process so that peak memory (``ru_maxrss``) and import costs belong to that one
measurement; the child writes its numbers as JSON.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
REALISTIC = REPO / "instances" / "us_portfolio.yaml"
PYTHON = sys.executable

# HiGHS options of every benchmark solve: the default profile, one thread, a time limit so
# that the 1,000- and 5,000-site MILPs (which HiGHS does not close in minutes) stay bounded.
SOLVE_TIME_LIMIT = 60.0
BASE_OPTIONS: dict[str, Any] = {"mip_rel_gap": 1e-4, "threads": 1}


@dataclass(frozen=True)
class Size:
    """One benchmark instance: generated (sites x periods, contracts) or the realistic file."""

    key: str
    sites: int
    periods: int
    contracts: int
    seed: int = 1

    @property
    def generated(self) -> bool:
        return self.key != "realistic"


# Contracts are a quarter of the sites, as in the issue; seed 1 everywhere.
SCALE_SIZES: tuple[Size, ...] = (
    Size("s10", 10, 10, 2),
    Size("s100", 100, 10, 25),
    Size("s1000", 1000, 10, 250),
    Size("s5000", 5000, 10, 1250),
)
REALISTIC_SIZE = Size("realistic", 20, 12, 10)


def work_dir() -> Path:
    d = Path(os.environ.get("PORTFOLIO_OPT_BENCH_DIR",
                            Path(tempfile.gettempdir()) / "portfolio_opt_bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def generated_instance(sites: int, periods: int, contracts: int, seed: int,
                       suffix: str = ".json") -> Path:
    """The generated instance file (written once; the generator is deterministic per seed).

    JSON by default: YAML of thousands of sites loads slowly (pure-Python ruamel), which
    the scale benchmark measures apart with the ``.yaml`` copy.
    """
    from portfolio_opt.generate import generate_instance, write_instance

    path = work_dir() / f"gen-s{sites}-t{periods}-c{contracts}-seed{seed}{suffix}"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{suffix}")
        write_instance(generate_instance(sites, periods, contracts, seed), tmp)
        os.replace(tmp, path)
    return path


def instance_path(size: Size, suffix: str = ".json") -> Path:
    if not size.generated:
        return REALISTIC
    return generated_instance(size.sites, size.periods, size.contracts, size.seed, suffix)


def run_json(args: list[str], out_json: Path, *, timeout: float = 3600.0) -> dict[str, Any]:
    """Run a child Python process that writes ``out_json``; fail loudly with its stderr."""
    out_json.unlink(missing_ok=True)
    proc = subprocess.run([PYTHON, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)
    if proc.returncode != 0 or not out_json.exists():
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                           f"{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out_json.read_text())
    return result


def floor_solve(mps: Path, options: dict[str, Any], tag: str) -> dict[str, Any]:
    """HiGHS alone, in a fresh process: import highspy, read the MPS file, solve it."""
    out = work_dir() / f"floor-{tag}.json"
    return run_json([str(BENCH_DIR / "_floor.py"), str(mps), json.dumps(options), str(out)],
                    out)


def fit_exponent(xs: list[float], ys: list[float]) -> float:
    """Slope of the least-squares line through (log x, log y): y ~ x^slope."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    n = len(lx)
    mx, my = sum(lx) / n, sum(ly) / n
    sxx = sum((a - mx) ** 2 for a in lx)
    sxy = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True))
    return sxy / sxx


def rel_diff(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return abs(a - b) / max(1.0, abs(a), abs(b))


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured: cores, CPU, RAM, versions, date."""
    from importlib.metadata import version

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu or platform.machine(),
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "pyomo": version("pyomo"),
        "highs": version("highspy"),
        "date": date.today().isoformat(),
        "load_average_1min_at_start": load,
    }


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def lp_relaxation_bound(highs: Any) -> float:
    """The optimum of the held model with integrality dropped (a fresh HiGHS instance)."""
    import highspy

    lp = highs.getLp()
    lp.integrality_ = []
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    h.run()
    return float(h.getInfo().objective_function_value)
