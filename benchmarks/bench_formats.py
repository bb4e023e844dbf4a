"""What spreadsheets and the HTML report cost, as ratios measured in one run.

Reading: the same generated instance from YAML, JSON and .xlsx (best of a few reads each,
interleaved so that machine load hits all three alike); the ratio xlsx / YAML is the price
of a workbook. Report: writing report.html for a solved instance against the solve itself.
Numbers go into ``extra_info``::

    python -m pytest benchmarks/bench_formats.py --benchmark-json=out/bench_formats.json
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
READS = 3
SIZES = [(50, 12, 12), (400, 12, 60)]  # sites, periods, contracts


def _best(fn: Callable[[], Any], rounds: int = READS) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_reads(sites: int, periods: int, contracts: int) -> dict[str, Any]:
    from portfolio_opt.generate import generate_instance, write_instance
    from portfolio_opt.loader import load_instance
    from portfolio_opt.spreadsheet import write_instance_workbook
    from portfolio_opt.validate import validate_data

    d = Path(tempfile.mkdtemp(prefix="bench-formats-"))
    data = generate_instance(sites=sites, periods=periods, contracts=contracts, seed=3)
    inst = validate_data(data)
    paths = {"yaml": write_instance(data, d / "i.yaml"), "json": write_instance(data, d / "i.json")}
    t0 = time.perf_counter()
    paths["xlsx"] = write_instance_workbook(inst, d / "i.xlsx")
    write_xlsx = time.perf_counter() - t0
    times = {k: float("inf") for k in paths}
    for _ in range(READS):  # interleaved rounds
        for k, p in paths.items():
            times[k] = min(times[k], _best(lambda p=p: load_instance(p), 1))
    assert all(load_instance(p) == inst for p in paths.values())
    return {"sites": sites, "periods": periods, "contracts": contracts,
            "read_seconds": times, "write_xlsx_seconds": write_xlsx,
            "xlsx_over_yaml": times["xlsx"] / times["yaml"],
            "xlsx_over_json": times["xlsx"] / times["json"],
            "xlsx_bytes": paths["xlsx"].stat().st_size, "yaml_bytes": paths["yaml"].stat().st_size}


@pytest.mark.parametrize("size", SIZES, ids=[f"{s}-sites" for s, _, _ in SIZES])
def test_read_formats(benchmark: Any, size: tuple[int, int, int]) -> None:
    res = benchmark.pedantic(measure_reads, args=size, rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    assert res["xlsx_over_yaml"] > 0


def measure_report(instance: Path) -> dict[str, Any]:
    import portfolio_opt as po
    from portfolio_opt.html_report import write_report

    d = Path(tempfile.mkdtemp(prefix="bench-report-"))
    po.solve(instance)  # warm: imports and the HiGHS library
    t0 = time.perf_counter()
    result = po.solve(instance)
    solve_seconds = time.perf_counter() - t0
    result.write(d)
    inst = po.load_instance(instance)
    report_seconds = _best(lambda: write_report(d, d / "report.html", instance=inst))
    return {"instance": instance.name, "solve_seconds": solve_seconds,
            "report_seconds": report_seconds, "report_over_solve": report_seconds / solve_seconds,
            "report_bytes": (d / "report.html").stat().st_size}


@pytest.mark.parametrize("name", ["tutorial.yaml", "us_portfolio.yaml"])
def test_report(benchmark: Any, name: str) -> None:
    res = benchmark.pedantic(measure_report, args=(REPO / "instances" / name,), rounds=1,
                             iterations=1)
    benchmark.extra_info.update(res)
    assert res["report_bytes"] > 0
