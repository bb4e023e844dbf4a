"""Sobol, Morris and tornado analyses: exact on a function worked out by hand, then real.

For NPV = a x1 + b x2 with x uniform on [lo, hi], S1_i = ST_i = a_i^2 (hi_i - lo_i)^2 /
sum_j a_j^2 (hi_j - lo_j)^2, and every Morris elementary effect of x_i is a_i (hi_i - lo_i)
(SALib's effects are per step of its unit grid), so mu* = |a_i| (hi_i - lo_i) and sigma = 0.
With a = 1 on [0.5, 1.5] and b = 2.5 on [0.8, 1.2] both parameters carry half the variance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portfolio_opt.batch.analysis import morris_table, sobol_table, tornado_table
from portfolio_opt.batch.api import run_batch
from portfolio_opt.batch.designs import Design, make_design
from portfolio_opt.batch.spec import load_batch

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"
HASH = "market.hashprice_usd_per_ph_day"
RATE = "contracts[hyperscaler-offer].rate_usd_per_kw_month"
WIND = "links[wind-line].capacity_mw"


def design_for(tmp_path: Path, method: str, samples: int) -> Design:
    path = tmp_path / f"{method}.yaml"
    path.write_text(f"base: {TUTORIAL}\nmethod: {method}\nsamples: {samples}\nseed: 1\n"
                    f"parameters:\n  - path: {HASH}\n    scale: [0.5, 1.5]\n"
                    f"  - path: {RATE}\n    scale: [0.8, 1.2]\n", encoding="utf-8")
    return make_design(load_batch(path))


def linear_results(design: Design, failed: tuple[int, ...] = ()) -> pd.DataFrame:
    assert design.x is not None
    y = 1.0 * design.x[:, 0] + 2.5 * design.x[:, 1]
    status = ["infeasible" if i in failed else "optimal" for i in range(len(y))]
    npv = [np.nan if i in failed else v for i, v in enumerate(y)]
    return pd.DataFrame({"scenario": range(len(y)), "status": status,
                         "objective_npv_usd": npv})


def test_sobol_indices_of_a_linear_npv(tmp_path: Path) -> None:
    design = design_for(tmp_path, "sobol", 1024)
    a = sobol_table(design, linear_results(design), seed=1)
    t = a.table.set_index("parameter")
    for p in (HASH, RATE):
        for idx in ("S1", "ST"):
            assert t.loc[p, idx] == pytest.approx(0.5, abs=max(0.03, 2 * t.loc[p, f"{idx}_conf"]))
            assert 0 < t.loc[p, f"{idx}_conf"] < 0.1
    assert a.blocks_used == 1024 and a.blocks_dropped == 0 and a.notes == []


def test_morris_effects_of_a_linear_npv(tmp_path: Path) -> None:
    design = design_for(tmp_path, "morris", 10)
    a = morris_table(design, linear_results(design), seed=1)
    t = a.table.set_index("parameter")
    # mu* = |a| (hi - lo): 1 x 1.0 and 2.5 x 0.4
    assert t.loc[HASH, "mu_star"] == pytest.approx(1.0)
    assert t.loc[RATE, "mu_star"] == pytest.approx(1.0)
    assert t.loc[HASH, "mu"] == pytest.approx(1.0)
    assert t["sigma"].abs().max() == pytest.approx(0, abs=1e-9)
    assert t["sigma_conf"].abs().max() == pytest.approx(0, abs=1e-9)
    assert t["mu_star_conf"].abs().max() == pytest.approx(0, abs=1e-9)


def test_failed_scenarios_drop_their_block_and_are_named(tmp_path: Path) -> None:
    sob = design_for(tmp_path, "sobol", 256)
    a = sobol_table(sob, linear_results(sob, failed=(5, 9)), seed=1)  # rows of blocks 1, 2
    assert (a.blocks_used, a.blocks_dropped, a.failed_scenarios) == (254, 2, [5, 9])
    assert "dropped 2 of 256 base samples" in a.notes[0] and "(5, 9)" in a.notes[0]
    assert a.table.set_index("parameter").loc[HASH, "S1"] == pytest.approx(0.5, abs=0.1)
    mor = design_for(tmp_path, "morris", 6)
    m = morris_table(mor, linear_results(mor, failed=(4,)), seed=1)  # trajectory 2 of 6
    assert (m.blocks_used, m.blocks_dropped) == (5, 1)
    assert m.table.set_index("parameter").loc[HASH, "mu_star"] == pytest.approx(1.0)
    none = sobol_table(sob, linear_results(sob, failed=tuple(range(0, 1024, 4))), seed=1)
    assert none.table.empty and "no indices computed" in none.notes[-1]


def test_tornado_orders_by_swing(tmp_path: Path) -> None:
    path = tmp_path / "oat.yaml"
    path.write_text(f"base: {TUTORIAL}\nmethod: oat\nparameters:\n  - path: {HASH}\n"
                    f"    scale: [0.5, 1.5]\n  - path: {RATE}\n    scale: [0.8, 1.2]\n",
                    encoding="utf-8")
    design = make_design(load_batch(path))
    npv = [100.0, 50.0, 100.0, 150.0, 90.0, 100.0, 110.0]  # base, hash x3, rate x3
    results = pd.DataFrame({"scenario": range(7), "status": ["optimal"] * 7,
                            "objective_npv_usd": npv})
    t = tornado_table(design, results).table
    assert list(t["parameter"]) == [HASH, RATE]
    assert list(t["swing_usd"]) == [100.0, 20.0]
    assert list(t["delta_low_usd"]) == [-50.0, -10.0]


@pytest.mark.parametrize(("method", "samples"), [("sobol", 8), ("morris", 4)])
def test_real_sobol_and_morris_on_the_tutorial(tmp_path: Path, method: str,
                                               samples: int) -> None:
    """Wind-line capacity 0 leaves the committed anchor unserved: those scenarios are
    infeasible, and the policy drops their blocks and says so."""
    path = tmp_path / "b.yaml"
    path.write_text(f"base: {TUTORIAL}\nmethod: {method}\nsamples: {samples}\nseed: 2\n"
                    f"parameters:\n  - path: {HASH}\n    scale: [0.5, 1.5]\n"
                    f"  - path: {WIND}\n    values: [0, 50]\n", encoding="utf-8")
    result = run_batch(path, tmp_path / "out", workers=1)
    assert result.complete and len(result.results) == samples * (4 if method == "sobol" else 3)
    a = result.analyses[method]
    t = a.table.set_index("parameter")
    assert list(t.index) == [HASH, WIND]
    infeasible = result.results[result.results["status"] == "infeasible"]
    assert set(a.failed_scenarios) == set(infeasible["scenario"])
    assert (infeasible[WIND] < 8 * 1.3 / 0.97).all()  # the anchor needs 10.7 MW sent
    assert a.blocks_used + a.blocks_dropped == samples and a.blocks_used >= 2
    if a.blocks_dropped:
        assert "where a plan exists" in a.notes[0]
    conf = ["S1_conf", "ST_conf"] if method == "sobol" else ["mu_star_conf", "sigma_conf"]
    assert np.isfinite(t[conf].to_numpy()).all() and (t[conf].to_numpy() >= 0).all()
    main = "ST" if method == "sobol" else "mu_star"
    assert t.loc[HASH, main] > t.loc[WIND, main]  # hashprice moves NPV far more
    saved = pd.read_csv(result.out_dir / "analysis" / f"{method}.csv")
    assert list(saved["parameter"]) == [HASH, WIND]
