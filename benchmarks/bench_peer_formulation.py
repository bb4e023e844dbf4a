"""The product against the independent formulation (tests/reference/spec_model.py), end to
end, each side in a fresh process, back to back on the same instance (benchmarks/
_peer_formulation.py has the details). The default run is short: one generated 200-site
instance (``generate_instance(200, 8, 60, 101)``), product against reference:

    python -m pytest benchmarks/bench_peer_formulation.py -p no:cacheprovider --benchmark-only

``PORTFOLIO_OPT_PEER_INSTANCES`` (e.g. ``h200-s11,h200-s12,gen-101``) picks the instances
(``h200-sNN``: the shared hard portfolios; ``gen-SEED``: generated),
``PORTFOLIO_OPT_PEER_COMPARE`` the comparisons (``peer``: product against reference;
``cli``: the same without marginal values; ``heur``: the default profile against it with
``mip_heuristic_effort`` 0.3), ``PORTFOLIO_OPT_PEER_LIMIT`` the time limit (300 s).
Numbers go to ``PORTFOLIO_OPT_PEER_OUT`` (default: a file in the benchmark work folder; the
stored full run, ``benchmarks/results/peer_formulation.json``, comes from
``python benchmarks/_peer_formulation.py run``, two processes at a time).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _peer_formulation import COMPARISONS, GAP, drive, instance_path, pairs, render, work_dir

INSTANCES = tuple(os.environ.get("PORTFOLIO_OPT_PEER_INSTANCES", "gen-101").split(","))
COMPARE = tuple(os.environ.get("PORTFOLIO_OPT_PEER_COMPARE", "peer").split(","))
LIMIT = float(os.environ.get("PORTFOLIO_OPT_PEER_LIMIT", 300))
OUT = Path(os.environ.get("PORTFOLIO_OPT_PEER_OUT", work_dir() / "peer_formulation.json"))

_last: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _fresh() -> Iterator[None]:
    OUT.unlink(missing_ok=True)
    yield
    if _last:
        print("\n" + render(_last["data"]))


PARAMS = [(i, c) for c in COMPARE for i in INSTANCES]


@pytest.mark.parametrize(("instance", "comparison"), PARAMS,
                         ids=[f"{c}-{i}" for i, c in PARAMS])
def test_peer_formulation(benchmark: Any, instance: str, comparison: str) -> None:
    if instance.startswith("h200") and not instance_path(instance).exists():
        pytest.skip("hard portfolios not available")
    data = benchmark.pedantic(drive, args=([instance], [comparison], LIMIT, 1, OUT),
                              kwargs={"with_lp": False, "keep": True}, rounds=1, iterations=1)
    _last["data"] = data
    found = [(p, q) for inst, _, p, q in pairs(data, comparison) if inst == instance]
    assert found, f"no pair measured for {instance}"
    p, q = found[0]
    for r in (p, q):
        assert "e2e_s" in r, r.get("error")
    a, b = COMPARISONS[comparison]
    benchmark.extra_info.update({f"{a}_s": p["e2e_s"], f"{b}_s": q["e2e_s"],
                                 "ratio": p["e2e_s"] / q["e2e_s"]})
    # Neither plan beats the other side's bound (maximisation); optimal NPVs agree to the gap.
    for x, y in ((p, q), (q, p)):
        if x["npv_usd"] is not None and y["bound_usd"] is not None:
            assert x["npv_usd"] <= y["bound_usd"] + 1e-6 * abs(y["bound_usd"])
    if p["status"] == "optimal" and q["status"] == "optimal":
        assert abs(p["npv_usd"] - q["npv_usd"]) <= 1.01 * GAP * abs(q["npv_usd"])
