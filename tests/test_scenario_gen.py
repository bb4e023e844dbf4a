"""``portfolio-opt scenarios``: hashprice scenarios for spec v2 part B (docs/scenarios.md).

The halving-aware model reproduces its documented expected path (the halving drop
included) with many paths; fast forward selection is checked by hand on three points and
keeps K members of the sampled set with the mean roughly preserved; a tree shares its
data exactly up to each branching period; the written file is byte-identical for a seed,
validates (in-process and by ``portfolio-opt validate``), and bad options are exit 2.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from portfolio_opt.cli import app
from portfolio_opt.errors import InputError
from portfolio_opt.instance import Horizon, Instance
from portfolio_opt.loader import load_instance, read_document
from portfolio_opt.scenario_gen import (
    HALVING_2028,
    HashpriceModel,
    Paths,
    expected_path,
    halving_factor,
    make_scenarios,
    scenario_document,
    simulate,
)
from portfolio_opt.scenario_reduce import forward_selection, parse_tree

ROOT = Path(__file__).resolve().parent.parent
US = ROOT / "instances" / "us_portfolio.yaml"
TUTORIAL = ROOT / "instances" / "tutorial.yaml"
YEARLY = Horizon(periods=12, years_per_period=1, start_year=2026)
START = np.full(12, 45.0)


def cli(*args: str | Path | float) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["scenarios", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def scenarios_of(path: Path) -> list[dict[str, Any]]:
    scenarios: list[dict[str, Any]] = read_document(path).data["uncertainty"]["scenarios"]
    return scenarios


# ------------------------------------------------------------------------------ the model


def test_documented_halving_factors() -> None:
    model = HashpriceModel()
    # Right after a halving: 0.5; long after it: 0.5 ** (1 - 0.3) (2027 still holds a
    # trace of the 2024 halving's recovery, exp(-2.7 / 0.5)).
    h = halving_factor(np.array([2027.0, HALVING_2028 + 1e-9, 2031.9]), model)
    assert h[1] / h[0] == pytest.approx(0.5, rel=1e-3)
    assert h[2] / h[0] == pytest.approx(0.5 ** 0.7, rel=1e-3)
    e = expected_path(model, YEARLY, START)
    assert e[0] == 45.0
    # Yearly means (docs/scenarios.md): 2028 / 2027 = 0.703, 2029 / 2027 = 0.603.
    assert e[2] / e[1] == pytest.approx(0.703, abs=1e-3)
    assert e[3] / e[1] == pytest.approx(0.603, abs=1e-3)
    assert e[7] / e[5] == pytest.approx(e[3] / e[1], rel=1e-9)  # 2032 repeats 2028


def test_halving_visible_in_the_mean_of_many_paths() -> None:
    model = HashpriceModel()
    paths = simulate(model, YEARLY, START, 20000, seed=7)
    assert paths.energy_scale is None
    assert (paths.hashprice >= 0).all()
    assert (paths.hashprice[:, 0] == 45.0).all()  # period 1 is today's, in every path
    mean = paths.hashprice.mean(axis=0)
    expected = expected_path(model, YEARLY, START)
    assert mean == pytest.approx(expected, rel=0.03)
    assert mean[2] / mean[1] == pytest.approx(0.703, abs=0.02)  # the April 2028 halving
    assert mean[3] / mean[1] == pytest.approx(0.603, abs=0.02)
    # A seed is a seed; another one differs.
    again = simulate(model, YEARLY, START, 20000, seed=7)
    assert np.array_equal(again.hashprice, paths.hashprice)
    assert not np.array_equal(simulate(model, YEARLY, START, 20000, 8).hashprice,
                              paths.hashprice)


def test_energy_scale_correlated_and_hashprice_unchanged() -> None:
    base = simulate(HashpriceModel(), YEARLY, START, 4000, seed=3)
    both = simulate(HashpriceModel(energy_correlation=0.9), YEARLY, START, 4000, seed=3)
    assert np.array_equal(base.hashprice, both.hashprice)  # energy has its own stream
    assert both.energy_scale is not None
    assert (both.energy_scale > 0).all()
    assert (both.energy_scale[:, 0] == 1.0).all()
    assert both.energy_scale.mean(axis=0) == pytest.approx(np.ones(12), abs=0.02)
    r = np.corrcoef(np.log(both.hashprice[:, 5]), np.log(both.energy_scale[:, 5]))[0, 1]
    assert 0.8 < r < 0.95


def test_anchored_model_keeps_the_instance_series() -> None:
    series = np.array([45, 44, 33, 25, 25.5, 26, 22.5, 20, 20.5, 21, 18.5, 17.0])
    model = HashpriceModel(kind="gbm-anchored")
    assert expected_path(model, YEARLY, series) == pytest.approx(series)
    mean = simulate(model, YEARLY, series, 20000, seed=1).hashprice.mean(axis=0)
    assert mean == pytest.approx(series, rel=0.03)


# -------------------------------------------------------------------------- reduction


def test_forward_selection_by_hand() -> None:
    x = np.array([[0.0], [1.0], [10.0]])
    p = np.full(3, 1 / 3)
    kept, q = forward_selection(x, p, 1)  # z = 11/3, 10/3, 19/3: the middle point
    assert kept.tolist() == [1] and q == pytest.approx([1.0])
    kept, q = forward_selection(x, p, 2)  # then 10 (saves 9/3), and 0 goes to 1
    assert kept.tolist() == [1, 2] and q == pytest.approx([2 / 3, 1 / 3])
    kept, q = forward_selection(x, p, 3)
    assert sorted(kept.tolist()) == [0, 1, 2] and q == pytest.approx(p)


def test_reduction_keeps_k_members_and_the_mean() -> None:
    paths = simulate(HashpriceModel(), YEARLY, START, 2000, seed=11)
    scen = make_scenarios(paths, 45.0, reduce=20)
    assert len(scen.probabilities) == 20 and scen.structure == "two_stage"
    assert sum(Decimal(str(p)) for p in scen.probabilities) == 1
    assert min(scen.probabilities) > 0
    rounded = {tuple(round(float(v), 2) for v in row) for row in paths.hashprice}
    assert all(tuple(row) in rounded for row in scen.hashprice)  # members of the N paths
    assert len({tuple(row) for row in scen.hashprice}) == 20
    mean = np.array(scen.probabilities) @ np.array(scen.hashprice)
    truth = paths.hashprice.mean(axis=0)
    assert mean.mean() == pytest.approx(truth.mean(), rel=0.05)
    assert mean == pytest.approx(truth, rel=0.15)


# ------------------------------------------------------------------------------- trees


def test_parse_tree() -> None:
    assert parse_tree("4:2, 2:3", 12) == [(2, 3), (4, 2)]
    for bad in ("1:3", "2:1", "x", "3:2,3:2", "13:2", "2:3:4", "2"):
        with pytest.raises(InputError):
            parse_tree(bad, 12)


def test_tree_shares_data_up_to_each_branching() -> None:
    paths = simulate(HashpriceModel(energy_correlation=0.3), YEARLY, START, 600, seed=5)
    scen = make_scenarios(paths, 45.0, tree=parse_tree("2:3,5:2", 12))
    assert scen.structure == "multi_stage" and len(scen.probabilities) == 6
    assert scen.energy_scale is not None
    hp, es = np.array(scen.hashprice), np.array(scen.energy_scale)
    data = np.hstack([hp[:, :, None], es[:, :, None]])  # scenario x period x 2
    assert (data[:, 0] == data[0, 0]).all()  # period 1: one root
    for first in range(0, 6, 2):  # leaves of one period-2 node share periods 1..4
        a, b = data[first], data[first + 1]
        assert np.array_equal(a[:4], b[:4]) and not np.array_equal(a[4:], b[4:])
    nodes = {tuple(map(tuple, data[i, :4])) for i in range(6)}
    assert len(nodes) == 3  # three distinct period-2 branches, each over periods 2..4
    assert sum(Decimal(str(p)) for p in scen.probabilities) == 1
    # Conditional means: the tree keeps the mean of the paths (up to the rounding).
    probs = np.array(scen.probabilities)
    assert probs @ hp == pytest.approx(paths.hashprice.mean(axis=0), abs=0.01)
    assert (hp >= 0).all() and (es > 0).all()


def test_tree_needs_enough_paths() -> None:
    paths = simulate(HashpriceModel(), YEARLY, START, 4, seed=5)
    with pytest.raises(InputError, match="more paths"):
        make_scenarios(paths, 45.0, tree=parse_tree("2:3,4:2", 12))


# ------------------------------------------------------------------------------ output


def test_document_market_and_risk() -> None:
    scen = make_scenarios(Paths(np.array([[45.0, 40.0], [45.0, 50.0]]), None), 45.0)
    raw: dict[str, Any] = {
        "name": "x",
        "market": {"hashprice_usd_per_ph_day": [45, 44],
                   "blocks": [{"id": "all", "hours_share": 1}]},
        "uncertainty": {"risk": {"cvar_alpha": 0.9}},
    }
    doc = scenario_document(raw, scen, {"cvar_weight": 0.5})
    assert doc["market"] == {"blocks": [{"id": "all", "hours_share": 1}]}
    assert doc["uncertainty"]["risk"] == {"cvar_alpha": 0.9, "cvar_weight": 0.5}
    assert [s["id"] for s in doc["uncertainty"]["scenarios"]] == ["s01", "s02"]
    assert raw["market"]["hashprice_usd_per_ph_day"] == [45, 44]  # a copy
    del raw["market"]["blocks"]
    assert "market" not in scenario_document(raw, scen)


def test_cli_same_seed_same_bytes(tmp_path: Path) -> None:
    files = [tmp_path / f"{name}.yaml" for name in ("a", "b", "c")]
    for out, seed in zip(files, (4, 4, 5), strict=True):
        code, text = cli(US, "--paths", 300, "--reduce", 8, "--seed", seed, "--out", out)
        assert code == 0, text
    assert files[0].read_bytes() == files[1].read_bytes()
    assert files[0].read_bytes() != files[2].read_bytes()
    inst = load_instance(files[0])  # the project's validation, in-process
    assert inst.market.hashprice_usd_per_ph_day is None and inst.uncertainty is not None
    assert len(inst.uncertainty.scenarios) == 8
    assert inst.uncertainty.structure == "two_stage"
    assert math.fsum(s.probability for s in inst.uncertainty.scenarios) == pytest.approx(
        1, abs=1e-12)
    assert all(min(inst.series(s.hashprice_usd_per_ph_day)) >= 0
               for s in inst.uncertainty.scenarios)
    assert "mean" in text and "fast forward selection" in text


def test_cli_tree_json_and_uncertain_input(tmp_path: Path) -> None:
    out = tmp_path / "tree.json"
    code, text = cli(TUTORIAL, "--paths", 200, "--tree", "2:2,3:2", "--energy-correlation",
                     0.5, "--cvar-alpha", 0.9, "--out", out)
    assert code == 0, text
    doc = json.loads(out.read_text())
    Instance.model_validate(doc)
    assert "market" not in doc
    unc = doc["uncertainty"]
    assert unc["structure"] == "multi_stage" and unc["risk"] == {"cvar_alpha": 0.9}
    assert len({tuple(s["hashprice_usd_per_ph_day"][:1]) for s in unc["scenarios"]}) == 1
    assert all("energy_price_scale" in s for s in unc["scenarios"])
    # An instance with scenarios starts from their mean; its risk is kept.
    again = tmp_path / "again.yaml"
    code, text = cli(out, "--paths", 50, "--reduce", 3, "--structure", "multi_stage",
                     "--out", again)
    assert code == 0, text
    inst = load_instance(again)
    assert inst.uncertainty is not None and inst.uncertainty.structure == "multi_stage"
    assert inst.uncertainty.risk.cvar_alpha == 0.9
    first = {inst.series(s.hashprice_usd_per_ph_day)[0] for s in inst.uncertainty.scenarios}
    assert first == {45.0}


@pytest.mark.parametrize("args, needle", [
    (["--paths", "0"], "--paths"),
    (["--paths", "10", "--reduce", "11"], "--reduce"),
    (["--paths", "10", "--reduce", "2", "--tree", "2:2"], "not both"),
    (["--paths", "10", "--tree", "1:2"], "--tree"),
    (["--paths", "10", "--tree", "2-3"], "PERIOD:BRANCHES"),
    (["--paths", "10", "--model", "garch"], "--model"),
    (["--paths", "10", "--energy-correlation", "1.5"], "correlation"),
    (["--paths", "10", "--structure", "three_stage"], "--structure"),
    (["--paths", "2000"], "--reduce K"),
])
def test_bad_options_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    code, text = cli(US, *args, "--out", tmp_path / "x.yaml")
    assert code == 2 and needle in text, text
    assert not (tmp_path / "x.yaml").exists()


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    raw = read_document(TUTORIAL).data
    del raw["market"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(raw))
    code, text = cli(bare, "--paths", 10, "--out", tmp_path / "x.yaml")
    assert code == 2 and "hashprice" in text, text
    code, text = cli(TUTORIAL, "--paths", 10, "--out", TUTORIAL)
    assert code == 2 and "another file" in text, text
    code, text = cli(TUTORIAL, "--paths", 10, "--out", tmp_path / "x.csv")
    assert code == 2 and ".yaml" in text, text


def test_round_trip_through_validate(tmp_path: Path) -> None:
    """The real commands, as a user runs them."""
    out = tmp_path / "us10.yaml"
    run = [sys.executable, "-m", "portfolio_opt"]
    made = subprocess.run([*run, "scenarios", str(US), "--paths", "300", "--reduce", "10",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    checked = subprocess.run([*run, "validate", str(out)], capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "valid" in checked.stdout
    tree = tmp_path / "tree.yaml"
    made = subprocess.run([*run, "scenarios", str(US), "--paths", "300", "--tree", "2:3,4:2",
                           "--out", str(tree)], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    checked = subprocess.run([*run, "validate", str(tree)], capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(scenarios_of(tree)) == 6
