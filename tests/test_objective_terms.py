"""The NPV as one linear expression with a coefficient per variable (model/objective.py).

halls[s,tau] enters available[s,t] of every later period, so the objective merges those
terms before the hand-off. Checked here: the variables are distinct; a hall's coefficient
is the one the NPV formula gives (docs/formulation.md); the plain-number model (one solve)
and the mutable-parameter model (re-solves) carry the same coefficients, with every field
of spec v2 in use; and the objective's value at the solved plan is the NPV recomputed from
the result tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.environ import value

import portfolio_opt
from portfolio_opt.model import build_model, prepare
from portfolio_opt.model.objective import scenario_npv
from portfolio_opt.validate import validate_data

try:
    from tests.reference.random_b import small_instance_b
except ImportError:  # tests/ itself on sys.path (pytest's rootdir-relative import)
    from reference.random_b import small_instance_b  # type: ignore[no-redef]

REALISTIC = Path(__file__).resolve().parent.parent / "instances" / "us_portfolio.yaml"


def _terms(expr: Any) -> tuple[float, dict[str, float]]:
    assert isinstance(expr, LinearExpression)
    constant, coefs, variables = expr.constant, expr.linear_coefs, expr.linear_vars
    names = [v.name for v in variables]
    assert len(set(names)) == len(names), "a variable appears twice in the objective"
    return value(constant), {n: value(c) for n, c in zip(names, coefs, strict=True)}


def test_hall_coefficient_is_the_npv_formula() -> None:
    """coef(halls[s,tau]) = -delta^cap_tau K_s B_s - sum_{t >= tau + L_s} delta^op_t o^a_s B_s
    (capex when started, opex of the block in every period it is available)."""
    d = prepare(portfolio_opt.load_instance(REALISTIC))
    m = build_model(d)
    _, coefs = _terms(m.npv.expr)
    checked = 0
    for s in d.hall_sites:
        lead = d.ai(s).lead_time_periods
        for tau in d.periods:
            expected = -m.p_disc_cap[tau] * m.p_hall_capex[s] - sum(
                m.p_disc_op[t] * m.p_ai_opex[s] * m.p_block[s]
                for t in d.periods if t >= tau + lead)
            assert coefs[m.halls[s, tau].name] == pytest.approx(expected, rel=1e-12)
            checked += 1
    assert checked >= 2 * len(d.periods)


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_plain_and_mutable_models_have_the_same_objective(seed: int) -> None:
    inst = validate_data(small_instance_b(seed), f"b-{seed}")
    d = prepare(inst)
    fixed, mutable = build_model(d), build_model(d, mutable=True)
    # NPV_w of each scenario (one scenario without uncertainty: the objective itself)
    for w in d.scenarios:
        a, b = scenario_npv(fixed, d, w), scenario_npv(mutable, d, w)
        const_a, coefs_a = _terms(a)
        const_b, coefs_b = _terms(b)
        assert const_a == pytest.approx(const_b, rel=1e-12, abs=1e-12)
        assert coefs_a.keys() == coefs_b.keys()
        for name, c in coefs_a.items():
            assert c == pytest.approx(coefs_b[name], rel=1e-12, abs=1e-15), name


def test_objective_value_is_the_recomputed_npv() -> None:
    """The objective (MUSD) at the solved plan = the NPV the result tables add up to
    (extract.py recomputes each cash flow from the plan, not from the objective)."""
    from pyomo.contrib.solver.solvers.highs import Highs

    from portfolio_opt.extract import extract_plan, plan_npv
    from portfolio_opt.model.data import MONEY_SCALE

    d = prepare(portfolio_opt.load_instance(REALISTIC))
    m = build_model(d)
    Highs().solve(m, rel_gap=1e-6, threads=1)
    recomputed = plan_npv(*extract_plan(m, d))
    assert value(m.npv) * MONEY_SCALE == pytest.approx(recomputed, rel=1e-9)
    assert recomputed == pytest.approx(11_293_880_139.38, rel=1e-4)
