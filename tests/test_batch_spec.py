"""Batch files and parameter paths: what is accepted, what is refused and how it is said.

No solves here: paths resolve to the right numbers (read back from the tutorial file),
overrides change exactly those numbers, designs have the sizes their methods define, and
every invalid batch file is exit 2 from the command line with no traceback and no files.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import portfolio_opt as po
from portfolio_opt.batch.designs import make_design
from portfolio_opt.batch.paths import apply_overrides, get_value, get_values, resolve
from portfolio_opt.batch.spec import load_batch
from portfolio_opt.cli import app

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"


@pytest.fixture(scope="module")
def tutorial() -> po.Instance:
    return po.load_instance(TUTORIAL)


def write_batch(folder: Path, body: str, name: str = "batch.yaml") -> Path:
    path = folder / name
    path.write_text(f"base: {TUTORIAL}\n" + textwrap.dedent(body), encoding="utf-8")
    return path


# --- paths -----------------------------------------------------------------------------

def test_paths_reach_the_numbers_of_the_file(tutorial: po.Instance) -> None:
    assert get_value(tutorial, "market.hashprice_usd_per_ph_day") == [45, 44, 33, 25, 26]
    assert get_value(tutorial, "sites[bravo].ai.capex_usd_per_it_mw") == 3_600_000
    assert get_value(tutorial, "contracts[hyperscaler-offer].rate_usd_per_kw_month") == 170
    assert get_value(tutorial, "links[wind-line].loss") == 0.03
    assert get_value(tutorial, "limits.capex_budget_usd") == 120_000_000
    # [*] reaches every site with a grid: alpha and bravo, not charlie (no grid).
    assert get_values(tutorial, "sites[*].grid.price_usd_per_mwh") == {
        "sites[alpha].grid.price_usd_per_mwh": [30, 31, 32, 33, 34],
        "sites[bravo].grid.price_usd_per_mwh": 36,
    }
    assert [loc.kind for loc in resolve(tutorial, "limits.max_contracts")] == ["integer"]


def test_scale_multiplies_series_elementwise_and_leaves_the_rest(tutorial: po.Instance) -> None:
    out = apply_overrides(tutorial, {"market.hashprice_usd_per_ph_day": 0.5,
                                     "sites[*].grid.price_usd_per_mwh": 2.0}, scale=True)
    assert out.market.hashprice_usd_per_ph_day == [22.5, 22, 16.5, 12.5, 13]
    assert out.sites[0].grid is not None and out.sites[1].grid is not None
    assert out.sites[0].grid.price_usd_per_mwh == [60, 62, 64, 66, 68]
    assert out.sites[1].grid.price_usd_per_mwh == 72
    assert out.sites[0].btc == tutorial.sites[0].btc  # untouched
    assert tutorial.market.hashprice_usd_per_ph_day == [45, 44, 33, 25, 26]  # a copy


def test_absolute_values_and_per_period_factors(tutorial: po.Instance) -> None:
    out = apply_overrides(tutorial, {"sites[bravo].ai.capex_usd_per_it_mw": 5e6,
                                     "market.hashprice_usd_per_ph_day": [1, 2, 3, 4, 5],
                                     "limits.max_contracts": 3.0})
    assert out.sites[1].ai is not None and out.sites[1].ai.capex_usd_per_it_mw == 5e6
    assert out.market.hashprice_usd_per_ph_day == [1, 2, 3, 4, 5]
    assert out.limits.max_contracts == 3
    factors = apply_overrides(tutorial, {"market.hashprice_usd_per_ph_day": [2, 1, 1, 1, 0]},
                              scale=True)
    assert factors.market.hashprice_usd_per_ph_day == [90, 44, 33, 25, 0]


def test_a_changed_value_is_validated_like_a_file(tutorial: po.Instance) -> None:
    with pytest.raises(po.InputError) as err:
        apply_overrides(tutorial, {"sites[alpha].btc.pue": 0.5})
    assert "site 'alpha', field 'btc.pue': got 0.5; expected a number >= 1" in str(err.value)


@pytest.mark.parametrize(("path", "why", "nearest"), [
    ("market.hashprice", "market has no field 'hashprice'", "market.hashprice_usd_per_ph_day"),
    ("sites[bravo].ai", "is a block, not a number", "sites[bravo].ai.pue"),
    ("contracts[lab-offer].tenant", "is not a number or a series",
     "contracts[lab-offer].escalator"),
    ("sites[zulu].capacity_mw", "no entry of 'sites' has id 'zulu' (ids: alpha, bravo, charlie)",
     "sites[*].capacity_mw"),
    ("sites[charlie].btc.fleet_mw", "'sites[charlie].btc' is absent", "sites[alpha].btc.fleet_mw"),
    ("horizon.periods", "shapes the whole instance", "horizon.years_per_period"),
])
def test_bad_paths_name_the_nearest_valid_ones(tutorial: po.Instance, path: str, why: str,
                                               nearest: str) -> None:
    with pytest.raises(po.InputError) as err:
        resolve(tutorial, path)
    text = str(err.value)
    assert why in text and f"'{nearest}'" in text and "nearest valid paths" in text


# --- designs ---------------------------------------------------------------------------

PARAMS = """\
parameters:
  - path: market.hashprice_usd_per_ph_day
    scale: [0.5, 1.5]
    levels: 5
  - path: sites[bravo].ai.capex_usd_per_it_mw
    values: [3.0e6, 4.0e6, 5.0e6]
  - path: contracts[hyperscaler-offer].rate_usd_per_kw_month
    scale: [0.8, 1.2]
"""


@pytest.mark.parametrize(("method", "extra", "size"), [
    ("oat", "", 1 + 5 + 3 + 3),  # the base, then each parameter's levels (default 3)
    ("grid", "", 5 * 3 * 3),
    ("random", "samples: 7\n", 7),
    ("lhs", "samples: 7\n", 7),
    ("sobol", "samples: 8\n", 8 * (3 + 2)),  # Saltelli without second order: N (D + 2)
    ("morris", "samples: 4\n", 4 * (3 + 1)),  # trajectories of D + 1 points
])
def test_design_sizes(tmp_path: Path, method: str, extra: str, size: int) -> None:
    batch = load_batch(write_batch(tmp_path, f"method: {method}\nseed: 3\n{extra}{PARAMS}"))
    design = make_design(batch)
    assert len(design) == size
    assert [s.id for s in design.scenarios] == list(range(size))
    again = make_design(load_batch(write_batch(tmp_path, f"method: {method}\nseed: 3\n"
                                               f"{extra}{PARAMS}", "again.yaml")))
    assert [s.columns for s in again.scenarios] == [s.columns for s in design.scenarios]
    if method in ("random", "lhs", "sobol", "morris"):
        assert design.x is not None
        lo, hi = design.x.min(axis=0), design.x.max(axis=0)
        assert lo[0] >= 0.5 and hi[0] <= 1.5 and lo[1] >= 3e6 and hi[1] <= 5e6


def test_oat_levels_are_evenly_spaced_and_the_base_comes_first(tmp_path: Path) -> None:
    design = make_design(load_batch(write_batch(tmp_path, "method: oat\n" + PARAMS)))
    base = design.scenarios[0]
    assert base.changes == () and base.varied is None
    assert base.columns == {"market.hashprice_usd_per_ph_day": 1.0,
                            "sites[bravo].ai.capex_usd_per_it_mw": 3.6e6,
                            "contracts[hyperscaler-offer].rate_usd_per_kw_month": 1.0}
    hash_levels = [s.columns["market.hashprice_usd_per_ph_day"] for s in design.scenarios
                   if s.varied == "market.hashprice_usd_per_ph_day"]
    assert hash_levels == [0.5, 0.75, 1.0, 1.25, 1.5]


# --- invalid batch files: exit 2, the reason, no traceback, nothing written ----------------

INVALID = {
    "unknown key": ("method: oat\ncolour: red\n" + PARAMS,
                    "batch, field 'colour': got 'red'; an unknown key"),
    "unknown key in a parameter": (
        "method: oat\nparameters:\n  - path: market.hashprice_usd_per_ph_day\n"
        "    scale: [0.5, 1.5]\n    step: 2\n", "field 'step': got 2; an unknown key"),
    "unknown path": ("method: oat\nparameters:\n  - path: sites[bravo].ai.capex\n"
                     "    values: [1, 2]\n",
                     "nearest valid paths: 'sites[bravo].ai.pue', "),
    "path to a non-number": ("method: oat\nparameters:\n  - path: contracts[anchor].tenant\n"
                             "    values: [1, 2]\n", "is not a number or a series"),
    "bad method": ("method: tornado\n" + PARAMS,
                   "field 'method': got 'tornado'; expected one of: oat, grid, random, lhs, "
                   "sobol, morris"),
    "values of wrong length": (
        "method: grid\nparameters:\n  - path: market.hashprice_usd_per_ph_day\n"
        "    values: [[40, 30, 20], 35]\n",
        "field 'values[1]': got [40.0, 30.0, 20.0]; expected a list of 5 numbers"),
    "scale of wrong length": (
        "method: oat\nparameters:\n  - path: market.hashprice_usd_per_ph_day\n"
        "    scale: [0.5]\n", "expected [low, high] with 0 <= low < high"),
    "sobol without a power of two": ("method: sobol\nsamples: 10\n" + PARAMS,
                                     "expected a power of two for sobol"),
    "one number varied twice": (
        "method: grid\nparameters:\n  - path: sites[*].grid.price_usd_per_mwh\n"
        "    scale: [0.8, 1.2]\n  - path: sites[alpha].grid.price_usd_per_mwh\n"
        "    scale: [0.8, 1.2]\n", "is already varied by parameter"),
    "whole-number field scaled": (
        "method: oat\nparameters:\n  - path: limits.max_contracts\n    scale: [0.5, 2]\n",
        "is a whole number: give absolute 'values' with method oat or grid"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_batch_files_exit_2(tmp_path: Path, case: str) -> None:
    body, message = INVALID[case]
    batch = write_batch(tmp_path, body)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(batch), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "InputError: " in result.output and message in result.output
    assert str(batch) in result.output  # every message names the file
    assert "Traceback" not in result.output
    assert not out.exists()


def test_invalid_batch_file_exit_2_in_a_real_process(tmp_path: Path) -> None:
    batch = write_batch(tmp_path, "method: oat\nparameters:\n  - path: market.hashprise\n"
                                  "    scale: [0.5, 1.5]\n")
    proc = subprocess.run([sys.executable, "-m", "portfolio_opt", "sweep", str(batch), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("InputError: 1 problem in the input:")
    assert "'market.hashprice_usd_per_ph_day'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists()


def test_base_path_is_relative_to_the_batch_file(tmp_path: Path) -> None:
    (tmp_path / "inst").mkdir()
    (tmp_path / "inst" / "t.yaml").write_bytes(TUTORIAL.read_bytes())
    (tmp_path / "batches").mkdir()
    path = tmp_path / "batches" / "b.yaml"
    path.write_text("base: ../inst/t.yaml\nmethod: oat\n" + PARAMS, encoding="utf-8")
    batch = load_batch(path)
    assert batch.base_path.resolve() == (tmp_path / "inst" / "t.yaml").resolve()
    assert batch.base.name == "tutorial"
