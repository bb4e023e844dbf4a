"""The hard-portfolio valid inequalities (docs/formulation.md, "Valid inequalities"):
contract_single_site, contract_halls_ready, contract_first_hall_ready and
ai_first_hall_cumulative.

Two kinds of check, both against tests/reference (which has none of these rows):

- every row of every family holds at the reference's optimal plan (so the cuts cut off
  no optimal plan of an independent formulation), on random small instances and on
  hand-made ones whose optimum is known;
- with each family switched on alone, and with all of them, the product reaches the
  reference's optimum on random instances (from this suite's small generator and from
  ``portfolio_opt.generate``).
"""

from __future__ import annotations

from typing import Any

import pyomo.core as pyo
import pytest

from portfolio_opt.api import Model, handoff
from portfolio_opt.generate import generate_instance
from portfolio_opt.model import Formulation, build_model, prepare
from portfolio_opt.validate import validate_data

try:
    from tests.reference import reference_solve
    from tests.test_reference_agreement import _small_instance
except ImportError:  # tests/ itself on sys.path
    from reference import reference_solve  # type: ignore[no-redef]
    from test_reference_agreement import _small_instance  # type: ignore[no-redef]

FAMILIES = ("contract_single_site", "contract_halls_ready", "contract_first_hall_ready",
            "ai_first_hall_cumulative", "contract_site_room")
NONE = {"single_site_cuts": False, "site_hall_cuts": False, "first_hall_cuts": False}
ALONE = {
    "single_site_cuts": {**NONE, "single_site_cuts": True},
    "site_hall_cuts": {**NONE, "site_hall_cuts": True},
    "first_hall_cuts": {**NONE, "first_hall_cuts": True},
    "site_room_cuts": {**NONE, "site_room_cuts": True},
    "all": {"first_hall_cuts": True, "site_room_cuts": True},
    "default": {},
}
ALL = ALONE["all"]
TOL = 1e-5


def _generated(seed: int) -> dict[str, Any]:
    data = generate_instance(4 + seed % 5, 3 + seed % 3, 3 + seed % 4, seed)
    for c in data["contracts"]:  # more single-site leases with a floor: the cuts' case
        if seed % 2 == 0:
            c["max_sites"] = 1
        c["it_mw"]["min"] = max(c["it_mw"]["min"], 0.5 * c["it_mw"]["max"])
    return data


def _model(inst: Any, **form: Any) -> tuple[Any, pyo.ConcreteModel]:
    data = prepare(inst, formulation=Formulation(**form))
    return data, build_model(data)


def _load_plan(m: pyo.ConcreteModel, values: dict[str, float]) -> None:
    """Put the reference's plan into the product's variables (same names); ``uses`` is
    the plan's own: 1 where the site serves the contract in some period."""
    for var in m.component_data_objects(pyo.Var):
        name = var.name
        if name in values:
            var.set_value(values[name], skip_validation=True)
    if hasattr(m, "uses"):
        for (c, s) in m.uses:
            served = any(values.get(f"serve[{c},{s},{t}]", 0.0) > TOL for t in m.T)
            m.uses[c, s].set_value(1.0 if served else 0.0, skip_validation=True)


def _violations(m: pyo.ConcreteModel) -> list[str]:
    bad = []
    for fam in FAMILIES:
        comp = m.component(fam)
        if comp is None:
            continue
        for row in comp.values():
            body = pyo.value(row.body)
            lo = None if row.lower is None else pyo.value(row.lower)
            hi = None if row.upper is None else pyo.value(row.upper)
            scale = max(1.0, abs(body))
            if (lo is not None and body < lo - TOL * scale) or (
                    hi is not None and body > hi + TOL * scale):
                bad.append(f"{row.name}: {lo} <= {body} <= {hi}")
    return bad


def _rows(m: pyo.ConcreteModel) -> dict[str, int]:
    return {fam: len(m.component(fam)) if m.component(fam) is not None else 0
            for fam in FAMILIES}


def _check_reference_plan(raw: dict[str, Any], what: str) -> dict[str, int]:
    inst = validate_data(raw, what)
    ref = reference_solve(inst.model_dump(by_alias=True))
    _, m = _model(inst, **ALL)
    if ref.status != "optimal":
        return {}
    _load_plan(m, ref.values)
    assert _violations(m) == [], what
    return _rows(m)


def test_reference_plans_satisfy_every_cut_small() -> None:
    """The reference's optimal plan satisfies every row, on 60 small random instances."""
    rows = dict.fromkeys(FAMILIES, 0)
    for seed in range(60):
        for fam, n in _check_reference_plan(_small_instance(seed), f"small {seed}").items():
            rows[fam] += n
    assert all(n > 0 for n in rows.values()), rows  # every family was exercised


def test_reference_plans_satisfy_every_cut_generated() -> None:
    rows = dict.fromkeys(FAMILIES, 0)
    for seed in range(12):
        for fam, n in _check_reference_plan(_generated(seed), f"generated {seed}").items():
            rows[fam] += n
    assert all(n > 0 for n in rows.values()), rows


def _objective(inst: Any, **form: Any) -> float | None:
    data, m = _model(inst, **form)
    outcome = handoff(Model(inst, data, m, 0.0, None), "direct").solve(
        {"mip_rel_gap": 1e-9, "mip_abs_gap": 1e-9, "threads": 1})
    return None if outcome.objective is None else outcome.objective * 1e6


@pytest.mark.parametrize("choice", list(ALONE))
def test_each_family_keeps_the_reference_optimum(choice: str) -> None:
    """Each family alone, and all together, give the reference's optimum."""
    for seed in range(0, 40, 3):
        for raw, what in ((_small_instance(seed), f"small {seed}"),
                          (_generated(seed % 12), f"generated {seed % 12}")):
            inst = validate_data(raw, what)
            ref = reference_solve(inst.model_dump(by_alias=True))
            got = _objective(inst, **ALONE[choice])
            if ref.status != "optimal":
                assert got is None, what
                continue
            assert got is not None, what
            assert ref.npv_usd is not None
            assert abs(got - ref.npv_usd) <= 1e-6 * max(1.0, abs(ref.npv_usd)) + 1.0, (
                what, choice, got, ref.npv_usd)


def _hand_made() -> dict[str, Any]:
    """Two AI sites for one single-site lease from period 2 to 4: `new` has no AI yet
    (fixed capex, lead time 1, halls of 10 MW), `old` has 10 MW existing and halls of
    10 MW with lead time 2. The lease (min 15 MW) needs two halls at `new` started in
    period 1, or one hall at `old` by period 0, which does not exist: only `new` can
    take it, with its first hall and two halls in period 1."""
    return {
        "name": "cuts-hand-made",
        "horizon": {"periods": 4, "years_per_period": 1.0, "discount_rate": 0.08},
        "market": {"hashprice_usd_per_ph_day": 40.0},
        "sites": [
            {"id": "new", "capacity_mw": 60.0, "grid": {"capacity_mw": 60.0,
                                                       "price_usd_per_mwh": 30.0},
             "ai": {"max_it_mw": 40.0, "block_it_mw": 10.0, "capex_usd_per_it_mw": 1e6,
                    "fixed_capex_usd": 5e6, "lead_time_periods": 1, "pue": 1.2,
                    "opex_usd_per_it_mw_year": 50_000.0}},
            {"id": "old", "capacity_mw": 60.0, "grid": {"capacity_mw": 60.0,
                                                       "price_usd_per_mwh": 30.0},
             "ai": {"max_it_mw": 40.0, "existing_it_mw": 10.0, "block_it_mw": 10.0,
                    "capex_usd_per_it_mw": 1e6, "lead_time_periods": 2, "pue": 1.2,
                    "opex_usd_per_it_mw_year": 50_000.0}},
        ],
        "contracts": [
            {"id": "lease", "tenant": "t", "it_mw": {"min": 15.0, "max": 20.0},
             "rate_usd_per_kw_month": 150.0, "start_period": 2, "term_periods": 3,
             "max_sites": 1, "eligible": {"sites": ["new", "old"]}},
        ],
    }


def test_hand_made_known_optimum() -> None:
    inst = validate_data(_hand_made(), "hand-made")
    ref = reference_solve(inst.model_dump(by_alias=True))
    assert ref.status == "optimal"
    v = ref.values
    # The known optimal plan: the lease at `new`, 20 MW, two halls and the first hall in 1.
    assert v["accept[lease]"] > 0.5
    assert v["halls[new,1]"] == pytest.approx(2.0)
    assert v["first_hall[new,1]"] == pytest.approx(1.0)
    for t in (2, 3, 4):
        assert v[f"serve[lease,new,{t}]"] == pytest.approx(20.0)
        assert v[f"serve[lease,old,{t}]"] == pytest.approx(0.0, abs=1e-9)
    _, m = _model(inst, **ALL)
    rows = _rows(m)
    assert rows == {"contract_single_site": 4, "contract_halls_ready": 2,
                    "contract_first_hall_ready": 1, "ai_first_hall_cumulative": 4,
                    "contract_site_room": 6}
    # h_cs: 2 halls at `new` (15 MW of 10 MW halls), 1 at `old` (5 MW beyond 10 existing).
    assert m.p_halls_needed["lease", "new"] == 2
    assert m.p_halls_needed["lease", "old"] == 1
    # At `old` no hall can be ready by period 0: the row says uses[lease,old] <= 0.
    assert pyo.value(m.contract_halls_ready["lease", "old"].upper) == 0
    _load_plan(m, v)
    assert _violations(m) == []
    assert _objective(inst) == pytest.approx(ref.npv_usd, rel=1e-9, abs=1.0)


def test_hand_made_cuts_tighten_the_relaxation() -> None:
    """The LP relaxation with the cuts is never looser, and here strictly tighter."""
    import highspy

    inst = validate_data(_hand_made(), "hand-made")

    def lp(**form: Any) -> float:
        data, m = _model(inst, **form)
        h = handoff(Model(inst, data, m, 0.0, None), "direct").highs
        relaxed = h.getLp()
        relaxed.integrality_ = []
        r = highspy.Highs()
        r.setOptionValue("output_flag", False)
        r.passModel(relaxed)
        r.run()
        return float(r.getInfo().objective_function_value)

    without, with_cuts = lp(**NONE), lp(**ALL)
    assert with_cuts <= without + 1e-7
    assert with_cuts < without - 1e-3


def test_mutable_model_takes_the_new_coefficients() -> None:
    """h_cs is a parameter: a same-structure variant with another it_mw.min updates it."""
    from portfolio_opt.model.params import structure_signature, update_parameters

    raw = _hand_made()
    inst = validate_data(raw, "hand-made")
    data = prepare(inst, formulation=Formulation(**ALL))
    m = build_model(data, mutable=True)
    raw["contracts"][0]["it_mw"]["min"] = 5.0
    inst2 = validate_data(raw, "hand-made, min 5")
    data2 = prepare(inst2, formulation=Formulation(**ALL))
    assert structure_signature(data2) == structure_signature(data)
    update_parameters(m, data2)
    assert pyo.value(m.p_halls_needed["lease", "new"]) == 1
    assert pyo.value(m.p_halls_needed["lease", "old"]) == 0
