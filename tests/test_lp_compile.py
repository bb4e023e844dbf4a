"""The hand-off's compile (portfolio_opt/lp_compile.py) gives Pyomo's compile bit for bit.

lp_compile reads flat linear rows in one loop and hands every other expression to Pyomo's
own visitor. Compared here with Pyomo's LinearStandardFormCompiler on the same model:
the objective's coefficients and offset, the matrix (structure and every value), the
right-hand sides, the rows (constraint and side) and the columns (variable), for the
bundled instances, random spec v2 instances that use every field, with plain numbers (one
solve) and with mutable parameters (re-solves), and for a hand-made model with each kind of
expression the short path passes on (parameters as coefficients, a fixed variable, nested
and negated sums, terms that cancel, a constant row), and for random rows of those kinds
(hypothesis; 3,000 examples without derandomizing also agreed when this was written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.core.expr import NegationExpression, SumExpression

from portfolio_opt.loader import load_instance
from portfolio_opt.lp_compile import compile_standard_form
from portfolio_opt.lp_copy import standard_form_compiler
from portfolio_opt.model import build_model, prepare
from portfolio_opt.validate import validate_data

try:
    from tests.reference.random_b import small_instance_b
except ImportError:  # tests/ itself on sys.path (pytest's rootdir-relative import)
    from reference.random_b import small_instance_b  # type: ignore[no-redef]

INSTANCES = Path(__file__).resolve().parent.parent / "instances"
OPTIONS = {"mixed_form": True, "set_sense": None}


def _same_matrix(a: Any, b: Any) -> None:
    assert a.shape == b.shape
    assert a.data.dtype == b.data.dtype
    for field in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def assert_same_compile(model: pyo.ConcreteModel) -> Any:
    ours = compile_standard_form(model, **OPTIONS)
    pyomo = standard_form_compiler().write(model, **OPTIONS)
    _same_matrix(ours.A, pyomo.A)
    _same_matrix(ours.c, pyomo.c)
    assert np.array_equal(np.asarray(ours.rhs, dtype=float), np.asarray(pyomo.rhs, dtype=float))
    assert np.array_equal(np.asarray(ours.c_offset), np.asarray(pyomo.c_offset))
    assert [(id(r.constraint), r.bound_type) for r in ours.rows] == \
        [(id(r.constraint), r.bound_type) for r in pyomo.rows]
    assert [id(v) for v in ours.columns] == [id(v) for v in pyomo.columns]
    return ours


REFERENCE_FILES = sorted((Path(__file__).resolve().parent / "data" / "reference").glob("*.yaml"))


@pytest.mark.parametrize("path", [INSTANCES / "tutorial.yaml", INSTANCES / "us_portfolio.yaml",
                                  INSTANCES / "examples" / "two_structures.yaml",
                                  *REFERENCE_FILES[:8]], ids=lambda p: p.stem)
@pytest.mark.parametrize("mutable", [False, True])
def test_bundled_instances_compile_as_pyomo_does(path: Path, mutable: bool) -> None:
    model = build_model(prepare(load_instance(path)), mutable=mutable)
    info = assert_same_compile(model)
    assert info.A.nnz > 0


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("mutable", [False, True])
def test_every_v2_field_compiles_as_pyomo_does(seed: int, mutable: bool) -> None:
    inst = validate_data(small_instance_b(seed), f"<small_instance_b({seed})>")
    assert_same_compile(build_model(prepare(inst), mutable=mutable))


def test_each_kind_of_expression_compiles_as_pyomo_does() -> None:
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(4)
    m.x = pyo.Var(m.I, bounds=(0, 10))
    m.y = pyo.Var(bounds=(-1, 1), domain=pyo.Integers)
    m.z = pyo.Var(bounds=(0, 3))
    m.z.fix(2.5)  # a fixed variable: a constant, or a column moved to the right side
    m.p = pyo.Param(mutable=True, initialize=0.3)
    x = m.x
    m.c = pyo.ConstraintList()
    m.c.add(pyo.quicksum([2.0 * x[1], 3 * x[2], x[3], 1.5]) <= 7)  # flat, with a constant
    m.c.add(2.0 * x[1] + 0.5 * x[1] - 2.5 * x[1] + x[2] >= -1)  # terms that cancel
    m.c.add(x[4] == 3)  # one variable
    m.c.add(0.25 * x[4] <= 2)  # one term
    m.c.add(pyo.inequality(1, x[1] + 2 * x[2], 9))  # both sides: two rows
    m.c.add(m.p * x[1] + x[2] <= 4)  # a parameter as a coefficient
    m.c.add(x[1] + m.p <= 4)  # a parameter as a constant
    m.c.add(x[3] + 2 * m.z <= 8)  # a fixed variable in a flat row
    m.c.add((x[1] + 2 * x[2] + 1) - (3 * x[3] - x[4] + 2) <= 5)  # a negated flat sum
    m.c.add((x[1] + x[2]) - 4 * x[3] - x[4] - 7 + m.y >= -20)  # negated terms and numbers
    m.c.add((x[1] + x[2]) - (x[1] + x[2]) + x[3] <= 1)  # a negated sum that cancels
    m.c.add(2 * (x[1] + x[2]) + x[3] <= 11)  # a product of a number and a sum
    m.c.add((x[1] + 0 * x[2]) - 0 * x[3] + m.y <= 2)  # zero coefficients
    m.c.add((m.y + 1) - (x[2] + m.p * x[3]) <= 3)  # a parameter inside a negated part
    m.c.add(-(x[1] + x[2]) <= 0)  # a negation alone
    m.obj = pyo.Objective(expr=pyo.quicksum([1.5 * x[1], -x[2], 4 * m.y, 2.0]) - x[3],
                          sense=pyo.maximize)
    info = assert_same_compile(m)
    assert len(info.rows) == 16  # 15 rows, one of them two-sided
    # the fixed variable became part of the right side
    assert id(m.z) not in {id(v) for v in info.columns}


def test_the_hand_off_compiles_with_the_short_path() -> None:
    from portfolio_opt.lp_copy import compile_lp

    model = build_model(prepare(load_instance(INSTANCES / "us_portfolio.yaml")))
    lp, _ = compile_lp(model)
    ours = compile_standard_form(model, **OPTIONS)
    assert lp.num_row_ == len(ours.rows) and lp.num_col_ == len(ours.columns)
    assert np.array_equal(np.asarray(lp.a_matrix_.value_), ours.A.tocsc().data)


def test_flat_rows_take_the_short_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyomo.repn.linear import LinearRepnVisitor

    walked: list[Any] = []
    general = LinearRepnVisitor.walk_expression

    def counted(self: Any, expr: Any) -> Any:
        walked.append(expr)
        return general(self, expr)

    monkeypatch.setattr(LinearRepnVisitor, "walk_expression", counted, raising=False)
    model = build_model(prepare(load_instance(INSTANCES / "us_portfolio.yaml")))
    info = assert_same_compile(model)  # Pyomo's own compile walks every row: count ours
    rows = sum(1 for _ in model.component_data_objects(pyo.Constraint, active=True))
    ours = len(walked) - (rows + 1)  # Pyomo's walks: every row and the objective
    assert 0 <= ours < 0.2 * rows, (ours, rows)  # most rows never reach the general walk
    assert len(info.rows) >= rows


def _random_row(draw: Any, m: pyo.ConcreteModel) -> Any:
    """A random expression of the kinds the model builds and some it does not."""
    from hypothesis import strategies as st

    coef = st.sampled_from([0, 1, -1, 2, 0.5, -0.25, 1e-9, 3.0, 1 / 3, 0.0, -0.0])

    def term() -> Any:
        kind = draw(st.integers(0, 11))  # mostly what the short path reads
        v = m.z if draw(st.integers(0, 5)) == 0 else m.x[draw(st.integers(1, 5))]
        if kind <= 4:
            return draw(coef) * v
        if kind <= 6:
            return v
        if kind <= 8:
            return draw(coef)
        if kind == 9:
            return m.p * v
        if kind == 10:
            return m.p
        return m.y

    def flat() -> Any:
        return pyo.quicksum([term() for _ in range(draw(st.integers(1, 5)))])

    parts = []
    for _ in range(draw(st.integers(1, 4))):
        part = flat() if draw(st.booleans()) else term()
        if draw(st.booleans()):  # a negated part, as `a - (b + c)` builds it
            part = NegationExpression((part,)) if hasattr(part, "is_expression_type") \
                else -part
        parts.append(part)
    # the sum node the model's rules build (quicksum of parts), or Pyomo's own `+`
    if len(parts) > 1 and draw(st.booleans()):
        return SumExpression(parts)
    expr = parts[0]
    for part in parts[1:]:
        expr = expr + part
    return expr


def test_random_rows_compile_as_pyomo_does() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(st.data())
    def check(data: Any) -> None:
        m = pyo.ConcreteModel()
        m.x = pyo.Var(pyo.RangeSet(5), bounds=(-3, 7))
        m.y = pyo.Var(domain=pyo.Binary)
        m.z = pyo.Var(bounds=(0, 2))
        if data.draw(st.integers(0, 3)) == 0:
            m.z.fix(data.draw(st.sampled_from([0.0, 1.5, -2.0])))
        m.p = pyo.Param(mutable=True, initialize=data.draw(st.sampled_from([0.0, 0.7, -2.0])))
        m.c = pyo.ConstraintList()
        for _ in range(data.draw(st.integers(1, 6))):
            body = _random_row(data.draw, m)
            if isinstance(body, (int, float)):
                continue
            m.c.add(body <= 5.0)
        m.obj = pyo.Objective(expr=m.x[1] + m.y)
        try:
            assert_same_compile(m)
        except Exception as exc:  # the same refusal on both sides is agreement
            from pyomo.common.errors import InfeasibleConstraintException

            assert isinstance(exc, InfeasibleConstraintException), exc
            with pytest.raises(InfeasibleConstraintException):
                standard_form_compiler().write(m, **OPTIONS)
            with pytest.raises(InfeasibleConstraintException):
                compile_standard_form(m, **OPTIONS)

    check()
