"""Batches and the scenario engine over spec v2 parameters (deal structures, project debt).

The base instances are the hand-derived ones of tests/test_breakeven.py: one 50 MUSD hall
that only a 40 MUSD loan can pay for, and one offer in two structures of one group. A
batch row must equal a cold single solve of the same variant, NPV must move the way the
arithmetic says, and the engine must update parameters rather than rebuild while the
model's structure stays the same.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

import portfolio_opt as po
from portfolio_opt.batch.api import run_batch
from portfolio_opt.batch.paths import apply_overrides, get_value, resolve
from portfolio_opt.scenario import ScenarioEngine

try:
    from tests.test_breakeven import (
        LOAN,
        UNLEVERED,
        annuity,
        annuity_pv,
        debt_only_hall,
        two_structures,
    )
except ImportError:  # tests/ itself on sys.path
    from test_breakeven import (  # type: ignore[no-redef]
        LOAN,
        UNLEVERED,
        annuity,
        annuity_pv,
        debt_only_hall,
        two_structures,
    )

RATE = "finance.debt.interest_rate"
RECOVERY = "contracts[lease].energy_recovery_usd_per_mwh"
# USD of NPV per USD/MWh of recovery: 10 IT MW x PUE 1 x 8,760 h, three years at 10 %.
RECOVERY_SLOPE = 10 * 8760 * annuity_pv(3)


def base_hall() -> dict[str, Any]:
    data = debt_only_hall(tenor=5)
    data["contracts"][0]["energy_recovery_usd_per_mwh"] = 10.0
    return data


def cold(inst: po.Instance) -> float:
    res = po.solve(inst, profile="exact", marginal_values=False)
    assert res.status == "optimal", res.message
    assert res.objective_npv_usd is not None
    return res.objective_npv_usd


def hand_npv(i: float, recovery: float) -> float:
    """Levered NPV of the hall (tests/test_breakeven.py) plus the recovered energy."""
    return UNLEVERED + LOAN * (1 - annuity(i, 5) * annuity_pv(5)) + recovery * RECOVERY_SLOPE


def test_new_paths_resolve_with_their_kinds() -> None:
    inst = po.Instance.model_validate(base_hall())
    kinds = {p: [loc.kind for loc in resolve(inst, p)] for p in (
        RATE, "finance.debt.max_loan_to_cost", "finance.debt.tenor_years",
        "finance.debt.max_total_usd", RECOVERY, "contracts[*].tenant_capex_usd_per_it_mw",
        "contracts[lease].tenant_capex_period", "horizon.tail_energy_price_usd_per_mwh")}
    assert kinds == {
        RATE: ["number"], "finance.debt.max_loan_to_cost": ["number"],
        "finance.debt.tenor_years": ["integer"], "finance.debt.max_total_usd": ["number"],
        RECOVERY: ["series"], "contracts[*].tenant_capex_usd_per_it_mw": ["number"],
        "contracts[lease].tenant_capex_period": ["integer"],
        "horizon.tail_energy_price_usd_per_mwh": ["number"]}
    assert get_value(inst, RATE) == 0.075
    assert get_value(inst, "finance.debt.max_total_usd") is None  # optional, absent
    out = apply_overrides(inst, {RECOVERY: [10, 20, 30], "finance.debt.tenor_years": 7,
                                 "finance.debt.max_total_usd": 35e6})
    assert out.contracts[0].energy_recovery_usd_per_mwh == [10, 20, 30]
    assert out.finance is not None and out.finance.debt.tenor_years == 7
    assert out.finance.debt.max_total_usd == 35e6
    scaled = apply_overrides(inst, {RATE: 2.0, RECOVERY: 1.5}, scale=True)
    assert scaled.finance is not None and scaled.finance.debt.interest_rate == 0.15
    assert scaled.contracts[0].energy_recovery_usd_per_mwh == 15.0
    # the tenor is a whole number: absolute values only, and no fraction
    with pytest.raises(po.InputError, match="whole number; give absolute values"):
        apply_overrides(inst, {"finance.debt.tenor_years": 2.0}, scale=True)
    with pytest.raises(po.InputError, match="not a fraction"):
        apply_overrides(inst, {"finance.debt.tenor_years": 5.5})
    # a value the format refuses is refused like a file's
    with pytest.raises(po.InputError, match="< 1"):
        apply_overrides(inst, {"finance.debt.max_loan_to_cost": 1.0})


def test_unknown_new_paths_list_the_nearest_valid_ones() -> None:
    inst = po.Instance.model_validate(base_hall())
    with pytest.raises(po.InputError) as info:
        resolve(inst, "finance.debt.interest")
    text = str(info.value)
    assert "finance.debt has no field 'interest'" in text
    assert "nearest valid paths: 'finance.debt.interest_rate'" in text
    with pytest.raises(po.InputError) as info:
        resolve(inst, "contracts[lease].energy_recovery")
    assert "'contracts[lease].energy_recovery_usd_per_mwh'" in str(info.value)
    plain = po.load_instance(Path(__file__).resolve().parent.parent / "instances" /
                             "tutorial.yaml")
    with pytest.raises(po.InputError, match="'finance' is absent in the base instance"):
        resolve(plain, RATE)


def test_engine_updates_rather_than_rebuilds_for_v2_values() -> None:
    base = po.Instance.model_validate(base_hall())
    engine = ScenarioEngine(base, profile="exact")
    variants = [
        {}, {RATE: 0.05}, {RATE: 0.0}, {RATE: 0.12}, {"finance.debt.tenor_years": 8},
        {"finance.debt.max_loan_to_cost": 0.85}, {RECOVERY: 25.0}, {RECOVERY: [5, 15, 45]},
    ]
    for k, overrides in enumerate(variants):
        inst = apply_overrides(base, overrides) if overrides else base
        res = engine.solve(inst)
        assert res.status == "optimal"
        assert res.objective_npv_usd == pytest.approx(cold(inst), abs=1.0), overrides
        assert (engine.stats.rebuilds, engine.stats.updates) == (1, k)
    # structure changes rebuild: recovery to 0 (its revenue term leaves the model), a cap
    # on the total principal appearing
    for overrides in ({RECOVERY: 0.0}, {"finance.debt.max_total_usd": 30e6}):
        inst = apply_overrides(base, overrides)
        res = engine.solve(inst)
        assert res.objective_npv_usd == pytest.approx(cold(inst), abs=1.0)
    assert engine.stats.rebuilds == 3

    groups = po.Instance.model_validate(two_structures())
    param = "contracts[tenant-funded].tenant_capex_usd_per_it_mw"
    engine = ScenarioEngine(groups, profile="exact")
    for x in (1e6, 1.5e6, 2.5e6, 3e6):
        inst = apply_overrides(groups, {param: x})
        res = engine.solve(inst)
        # r = 0: max(operator-funded 4 MUSD, tenant-funded -14 MUSD + 10 x)
        assert res.objective_npv_usd == pytest.approx(max(4e6, -14e6 + 10 * x), abs=1.0)
    assert (engine.stats.rebuilds, engine.stats.updates) == (1, 3)
    engine.solve(apply_overrides(groups, {param: 0.0}))  # tenant capex leaves the model
    assert engine.stats.rebuilds == 2

    tail = base_hall()
    tail["contracts"][0]["term_periods"] = 5
    tail["horizon"].update(terminal_value="contract_tail", tail_energy_price_usd_per_mwh=30)
    tail_base = po.Instance.model_validate(tail)
    engine = ScenarioEngine(tail_base, profile="exact")
    for price in (30.0, 45.0, 60.0):
        inst = apply_overrides(tail_base, {"horizon.tail_energy_price_usd_per_mwh": price})
        assert engine.solve(inst).objective_npv_usd == pytest.approx(cold(inst), abs=1.0)
    assert (engine.stats.rebuilds, engine.stats.updates) == (1, 2)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("deals_batch")
    base = folder / "hall.json"
    base.write_text(json.dumps(base_hall()), encoding="utf-8")
    spec = {
        "base": str(base), "method": "oat", "solver_profile": "exact",
        "parameters": [
            {"path": RATE, "values": [0.0, 0.04, 0.08, 0.12]},
            {"path": RECOVERY, "values": [5.0, 20.0, 40.0, [10.0, 20.0, 30.0]]},
        ],
    }
    return run_batch(spec, folder / "out", workers=1)


def test_sweeps_over_the_interest_rate_and_energy_recovery(sweep: Any) -> None:
    rows = sweep.results.set_index("scenario")
    assert sweep.complete and set(rows["status"]) == {"optimal"}
    assert rows.loc[0, "objective_npv_usd"] == pytest.approx(hand_npv(0.075, 10.0), abs=1.0)
    rate: list[tuple[float, float]] = []
    recovery: list[tuple[Any, float]] = []
    for s in sweep.design.scenarios:
        npv = float(rows.loc[s.id, "objective_npv_usd"])
        if s.varied == RATE:
            ((_, i, _),) = s.changes
            rate.append((float(i), npv))
        elif s.varied == RECOVERY:
            ((_, tariff, _),) = s.changes
            recovery.append((tariff, npv))
    # the rate: the hand-derived levered NPV, strictly falling as the rate rises
    assert [i for i, _ in rate] == [0.0, 0.04, 0.08, 0.12]
    for i, npv in rate:
        assert npv == pytest.approx(hand_npv(i, 10.0), abs=1.0)
    assert all(a[1] > b[1] for a, b in itertools.pairwise(rate))
    # the recovery: 217,848.23 USD of NPV per USD/MWh, strictly rising with a flat tariff
    assert round(RECOVERY_SLOPE, 2) == 217_848.23
    flat = [(float(t), npv) for t, npv in recovery if not isinstance(t, list)]
    assert [t for t, _ in flat] == [5.0, 20.0, 40.0]
    for t, npv in flat:
        assert npv == pytest.approx(hand_npv(0.075, t), abs=1.0)
    assert all(a[1] < b[1] for a, b in itertools.pairwise(flat))
    # a per-period tariff: each period's recovery discounted at its own end
    (series_npv,) = [npv for t, npv in recovery if isinstance(t, list)]
    per_period = sum(10 * 8760 * e / 1.1 ** t for t, e in enumerate([10, 20, 30], start=1))
    assert series_npv == pytest.approx(hand_npv(0.075, 0.0) + per_period, abs=1.0)


def test_a_batch_row_equals_a_single_solve(sweep: Any) -> None:
    from portfolio_opt.batch.paths import apply_changes

    base = po.Instance.model_validate(base_hall())
    rows = sweep.results.set_index("scenario")
    for s in sweep.design.scenarios:
        inst = apply_changes(base, list(s.changes))
        assert rows.loc[s.id, "objective_npv_usd"] == pytest.approx(cold(inst), rel=1e-9,
                                                                      abs=1e-3)
