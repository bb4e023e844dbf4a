"""What the explanations cost, as ratios measured in one run.

Marginal values: ``po.solve`` with and without them on the same instance, interleaved
rounds, best of each; the ratio is the price of the fixed-integer LP, its duals and the
one-unit re-solves. Infeasibility: the whole infeasible solve (MILP, data checks, clashing
contracts, IIS) against the MILP alone, on instances made infeasible by one committed
contract that cannot fit. Numbers go into ``extra_info``::

    python -m pytest benchmarks/bench_explain.py --benchmark-json=out/bench_explain.json
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 3
CASES = ["us_portfolio", "generated-150"]


def _data(case: str) -> dict[str, Any]:
    import portfolio_opt as po
    from portfolio_opt.generate import generate_instance

    if case == "us_portfolio":
        return po.load_instance(REPO / "instances" / "us_portfolio.yaml").model_dump(
            by_alias=True, exclude_none=True)
    return generate_instance(sites=150, periods=10, contracts=20, seed=3)


def _best(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_marginal(case: str) -> dict[str, Any]:
    import portfolio_opt as po

    data = _data(case)
    po.solve(data)  # warm: imports, the HiGHS library, the standard-form compiler
    plain = with_mv = float("inf")
    for _ in range(ROUNDS):  # interleaved
        plain = min(plain, _best(lambda: po.solve(data, marginal_values=False)))
        with_mv = min(with_mv, _best(lambda: po.solve(data)))
    mv = po.solve(data).marginal_values
    assert mv is not None
    return {"case": case, "solve_seconds": plain, "solve_with_marginal_seconds": with_mv,
            "marginal_over_solve": (with_mv - plain) / plain, "rows": len(mv),
            "binding": int(mv["binding"].sum())}


def _infeasible(case: str) -> dict[str, Any]:
    data = _data(case)
    committed = [c for c in data["contracts"] if c.get("committed")]
    c = committed[0]
    c["it_mw"]["max"] = c["it_mw"]["min"] = 3 * c["it_mw"]["max"]
    return data


def measure_diagnosis(case: str) -> dict[str, Any]:
    import portfolio_opt as po
    from portfolio_opt.api import build, handoff
    from portfolio_opt.solver import solver_options

    data = _infeasible(case)
    po.solve(data)  # warm
    options = solver_options("default")
    t0 = time.perf_counter()
    built = build(data)
    outcome = handoff(built).solve(options)
    milp = time.perf_counter() - t0
    assert outcome.status == "infeasible"
    t0 = time.perf_counter()
    result = po.solve(data)
    total = time.perf_counter() - t0
    assert result.diagnosis is not None
    return {"case": case, "milp_seconds": milp, "infeasible_solve_seconds": total,
            "explain_over_milp": (total - milp) / milp,
            "iis_seconds": result.diagnosis["iis"]["seconds"],
            "iis_rules": len(result.diagnosis["iis"]["rows"])
            + len(result.diagnosis["iis"]["columns"]),
            "causes": [c["kind"] for c in result.diagnosis["causes"]]}


@pytest.mark.parametrize("case", CASES)
def test_marginal_values_cost(benchmark: Any, case: str) -> None:
    res = benchmark.pedantic(measure_marginal, args=(case,), rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    assert res["rows"] > 0


@pytest.mark.parametrize("case", CASES)
def test_infeasibility_explanation_cost(benchmark: Any, case: str) -> None:
    res = benchmark.pedantic(measure_diagnosis, args=(case,), rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    assert res["iis_rules"] > 0
