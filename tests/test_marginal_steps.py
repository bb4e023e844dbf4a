"""value_next_unit_usd read off the optimal basis (portfolio_opt/lp_step.py) against a
re-solve of every step: the same table, and most steps certified without a re-solve.

The certificate is a feasible point of the moved LP whose objective meets the dual bound of
the unchanged duals, so it can only ever return the optimum; these checks make sure it is
also used, on the bundled instance, generated portfolios and every spec v2 reference file
that has binding limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import portfolio_opt
from portfolio_opt import lp_copy, lp_step
from portfolio_opt.generate import generate_instance

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = sorted(p for p in (ROOT / "tests" / "data" / "reference").glob("*.yaml")
                   if not p.stem.startswith("infeasible"))  # no plan, no marginal values


def _table(source: Any) -> pd.DataFrame:
    res = portfolio_opt.solve(source, threads=1, mip_gap=1e-6, marginal_values=True)
    assert res.status == "optimal"
    assert res.marginal_values is not None
    return res.marginal_values


def _both(source: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                    list[bool]]:
    certified: list[bool] = []
    step = lp_step.BasisStep.objective_after

    def spy(self: lp_step.BasisStep, rows: dict[int, float],
            cols: dict[int, float]) -> float | None:
        value = step(self, rows, cols)
        certified.append(value is not None)
        return value

    monkeypatch.setattr(lp_step.BasisStep, "objective_after", spy)
    read = _table(source)
    monkeypatch.setattr(lp_copy, "CERTIFY_STEPS", False)
    resolved = _table(source)
    return read, resolved, certified


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a["kind"]) == list(b["kind"]) and list(a["entity"]) == list(b["entity"])
    for x, y in zip(a["value_next_unit_usd"], b["value_next_unit_usd"], strict=True):
        if pd.isna(y):
            assert pd.isna(x)
        else:
            assert x == pytest.approx(y, rel=1e-9, abs=1e-3)


@pytest.mark.parametrize("seed", [101, 7])
def test_generated_portfolio_steps_match_re_solves(seed: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    inst = generate_instance(60 if seed == 7 else 200, 8, 20 if seed == 7 else 60, seed)
    read, resolved, certified = _both(inst, monkeypatch)
    _same(read, resolved)
    assert len(certified) > 20
    assert sum(certified) >= 0.8 * len(certified)  # 240 of 251 on seed 101


def test_bundled_instance_steps_match_re_solves(monkeypatch: pytest.MonkeyPatch) -> None:
    read, resolved, certified = _both(ROOT / "instances" / "us_portfolio.yaml", monkeypatch)
    _same(read, resolved)
    assert any(certified)


@pytest.mark.parametrize("path", REFERENCE, ids=[p.stem for p in REFERENCE])
def test_reference_files_steps_match_re_solves(path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    read, resolved, _ = _both(path, monkeypatch)
    _same(read, resolved)
