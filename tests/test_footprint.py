"""What each command imports, and what a solve keeps once HiGHS holds the model.

Structural checks, not timings: ``validate`` and ``--help`` load none of the solve's heavy
libraries, ``import portfolio_opt`` loads nothing until a name is used, a solve does not
load networkx; the constraints a direct hand-off releases are rebuilt, with the plan, for
marginal values and for the infeasibility diagnosis (docs/performance.md, start-up and
memory).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import portfolio_opt as po
from portfolio_opt import api
from portfolio_opt.generate import generate_instance
from portfolio_opt.solver import solver_options

ROOT = Path(__file__).resolve().parent.parent
HEAVY = {"pandas", "pyomo", "highspy", "networkx", "numpy", "scipy", "pyarrow", "matplotlib"}


def imported(args: list[str]) -> set[str]:
    """Top-level packages a fresh ``python -X importtime ARGS`` process imports."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", proc.stderr, re.M)
    assert names, proc.stderr[-2000:]
    return {n.split(".")[0] for n in names}


@pytest.mark.parametrize("command", [
    ["validate", "instances/tutorial.yaml"],
    ["validate", "instances/us_portfolio.yaml"],
    ["--help"],
    ["solve", "--help"],
])
def test_light_commands_import_no_solver_stack(command: list[str]) -> None:
    assert imported(["-m", "portfolio_opt", *command]) & HEAVY == set()


def test_package_names_load_on_first_use() -> None:
    code = ("import portfolio_opt as po; po.Status; po.Instance; po.InputError; "
            "po.load_instance('instances/tutorial.yaml')")
    assert imported(["-c", code]) & HEAVY == set()


def test_solve_imports_what_it_uses(tmp_path: Path) -> None:
    mods = imported(["-m", "portfolio_opt", "solve", "instances/tutorial.yaml", "--out",
                     str(tmp_path / "out"), "--quiet"])
    assert {"pandas", "pyomo", "highspy"} <= mods
    # networkx only for the report's map and the diagnosis, rich only to print tables
    # or the live status, scipy only for the direct hand-off of large models.
    assert mods & {"networkx", "matplotlib", "rich", "scipy"} == set()


def test_direct_handoff_imports_scipy_sparse_only() -> None:
    # Pyomo's finishing step for scipy would also import scipy.stats, .spatial and
    # .integrate (about 1.2 s); the standard-form compiler needs scipy.sparse alone, and
    # scipy still loads the others lazily for anyone who asks.
    # Nor numpy.f2py, which scipy's `from numpy import *` would load (lp_compile.import_sparse);
    # a later import of it gets the real module.
    code = ("import sys; from portfolio_opt import api; "
            "b = api.build('instances/tutorial.yaml'); api.handoff(b, 'direct'); "
            "print(sorted(m for m in ('scipy.sparse', 'scipy.stats', 'scipy.spatial', "
            "'scipy.integrate', 'numpy.f2py') if m in sys.modules)); "
            "import scipy; print(scipy.stats.norm.cdf(0.0)); "
            "import numpy, numpy.f2py; print(callable(numpy.f2py.run_main), "
            "numpy.f2py is sys.modules['numpy.f2py'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[:3] == ["['scipy.sparse']", "0.5", "True True"]


def test_marginal_values_from_the_kept_compile_equal_a_fresh_compile() -> None:
    # The direct hand-off keeps its compiled LP (keep_lp): the fixed-integer LP is that
    # LP, so the table equals the one from compiling the solved model again.
    from portfolio_opt.marginal import marginal_values

    built = api.build(generate_instance(sites=12, periods=5, contracts=4, seed=3))
    engine = api.handoff(built, "direct", keep_lp=True)
    assert engine.compiled is not None and engine.compiled[1].constraints
    options = solver_options("exact")
    assert engine.solve(options).status == "optimal"
    kept = marginal_values(built, options, engine.compiled)
    fresh = marginal_values(built, options)
    assert kept is not None and fresh is not None and len(kept) > 50
    assert kept.equals(fresh)
    assert api.handoff(built, "direct").compiled is None  # kept only when asked


# --------------------------------------------------------------------------- memory


def _constraints(built: api.Model) -> int:
    from pyomo.core import Constraint, Objective

    m = built.pyomo
    return sum(1 for _ in m.component_data_objects((Constraint, Objective)))


@pytest.mark.parametrize("source", ["tutorial", "generated"])
def test_released_model_gives_the_same_plan_and_marginal_values(source: str) -> None:
    src: object = (str(ROOT / "instances" / "tutorial.yaml") if source == "tutorial"
                   else generate_instance(sites=12, periods=5, contracts=4, seed=3))
    options = solver_options("exact")
    results = {}
    for release in (False, True):
        built = api.build(src)  # type: ignore[arg-type]
        engine = api.handoff(built, "direct")
        if release:
            api.release_structure(built)
            assert built.released and _constraints(built) == 0
        results[release] = api.result_from_solve(built, engine, options, "exact",
                                                 marginals=True)
    kept, released = results[False], results[True]
    assert released.status == kept.status == "optimal"
    assert released.objective_npv_usd == kept.objective_npv_usd
    for key, table in kept.tables().items():
        assert released.tables()[key].equals(table), key
    assert kept.marginal_values is not None and released.marginal_values is not None
    assert released.marginal_values.equals(kept.marginal_values)


def test_restore_rebuilds_the_constraints_with_the_plan() -> None:
    from pyomo.core import Var

    built = api.build(str(ROOT / "instances" / "tutorial.yaml"))
    n = _constraints(built)
    engine = api.handoff(built, "direct")
    api.release_structure(built)
    engine.solve(solver_options("exact"))
    full = api.restore_structure(built)
    assert not full.released and _constraints(full) == n
    assert api.restore_structure(full) is full
    for var in built.pyomo.component_objects(Var):
        twin = full.pyomo.find_component(var.name)
        assert {k: v.value for k, v in var.items()} == {k: v.value for k, v in twin.items()}
        assert {k: v.fixed for k, v in var.items()} == {k: v.fixed for k, v in twin.items()}


def test_solve_releases_only_without_marginal_values(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    real = api.result_from_solve

    def spy(built: api.Model, *args: object, **kwargs: object) -> po.Result:
        seen.append(built.released)
        return real(built, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "DIRECT_HANDOFF_MIN_VARS", 0)  # the direct hand-off
    monkeypatch.setattr(api, "result_from_solve", spy)
    tutorial = ROOT / "instances" / "tutorial.yaml"
    with_mv = po.solve(tutorial, profile="exact")
    without = po.solve(tutorial, profile="exact", marginal_values=False)
    assert seen == [False, True]
    assert with_mv.objective_npv_usd == without.objective_npv_usd
    assert with_mv.marginal_values is not None and without.marginal_values is None


def test_infeasible_diagnosis_after_release(monkeypatch: pytest.MonkeyPatch) -> None:
    # 'x' needs 200 IT MW from period 2 at 'a' or 'b'; halls of 50 IT MW started in
    # period 1 give at most 100 + 50 (tests/test_diagnosis.py): infeasible, and diagnosed
    # from the rebuilt model.
    def site(sid: str, max_it_mw: float) -> dict[str, object]:
        return {"id": sid, "capacity_mw": 1000,
                "grid": {"capacity_mw": 1000, "price_usd_per_mwh": 30},
                "ai": {"block_it_mw": 50, "capex_usd_per_it_mw": 0, "max_it_mw": max_it_mw,
                       "lead_time_periods": 1}}

    data = {"name": "stuck", "horizon": {"periods": 2},
            "market": {"hashprice_usd_per_ph_day": 40},
            "sites": [site("a", 100), site("b", 50)],
            "contracts": [{"id": "x", "tenant": "acme", "it_mw": {"min": 200, "max": 200},
                           "rate_usd_per_kw_month": 120, "start_period": 2,
                           "term_periods": 1, "committed": True, "max_sites": 2,
                           "eligible": {"sites": ["a", "b"]}}]}
    kept = po.solve(data, profile="exact", marginal_values=False)
    monkeypatch.setattr(api, "DIRECT_HANDOFF_MIN_VARS", 0)
    released = po.solve(data, profile="exact", marginal_values=False)
    assert kept.status == released.status == "infeasible"
    assert released.message == kept.message
    assert kept.diagnosis is not None and released.diagnosis is not None
    for diag in (kept.diagnosis, released.diagnosis):
        diag["iis"].pop("seconds")
    assert released.diagnosis == kept.diagnosis
