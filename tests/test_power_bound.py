"""The power bound on serve (docs/formulation.md, U_cs; ``Formulation(power_bounds=True)``):
a site serves at most the power that its grid connection and power links can bring it,
divided by its AI PUE.

- hand-derived P^in_s on a small network (one hop, a source's capacity, a second hop);
- no optimal plan of the independent formulation in tests/reference (which has no such
  bound) serves more than it, and the product's optimum is the reference's on instances
  where the bound is tighter than the halls.
"""

from __future__ import annotations

from typing import Any

import pytest

from portfolio_opt.model import Formulation, prepare
from portfolio_opt.validate import validate_data

try:
    from tests.reference import reference_solve
    from tests.test_formulation_cuts import _generated, _objective
    from tests.test_reference_agreement import _small_instance
except ImportError:  # tests/ itself on sys.path
    from reference import reference_solve  # type: ignore[no-redef]
    from test_formulation_cuts import _generated, _objective  # type: ignore[no-redef]
    from test_reference_agreement import _small_instance  # type: ignore[no-redef]


ON = Formulation(power_bounds=True)


def _site(sid: str, grid: float | None, max_it: float = 200) -> dict[str, Any]:
    s: dict[str, Any] = {"id": sid, "capacity_mw": 1000,
                         "ai": {"max_it_mw": max_it, "block_it_mw": 50, "pue": 1.25,
                                "existing_it_mw": 100, "capex_usd_per_it_mw": 8e6}}
    if grid is not None:
        s["grid"] = {"capacity_mw": grid, "price_usd_per_mwh": 30}
    return s


def _network(plant_mw: float) -> dict[str, Any]:
    return {
        "name": "power-bound", "horizon": {"periods": 2},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [_site("dc", 50), _site("hub", 30), _site("island", None)],
        "sources": [{"id": "plant", "capacity_mw": [plant_mw, plant_mw / 2],
                     "price_usd_per_mwh": 20}],
        "links": [
            {"id": "feeder", "from": "plant", "to": "dc", "kind": "power",
             "capacity_mw": 40, "loss": 0.25, "directed": True},
            {"id": "tie", "from": "hub", "to": "dc", "kind": "power", "capacity_mw": 100},
        ],
        "contracts": [{"id": "x", "tenant": "t", "it_mw": {"min": 0, "max": 300},
                       "rate_usd_per_kw_month": 150, "start_period": 2, "term_periods": 1}],
    }


def test_power_in_by_hand() -> None:
    d = prepare(validate_data(_network(100), "net"), formulation=ON)
    # dc: grid 50 + feeder 0.75 * min(40, plant 100) + tie min(100, hub's grid 30 + the
    # tie back from dc 100) = 50 + 30 + 100.
    assert d.power_in["dc"] == pytest.approx(180)
    assert d.serve_site_upper("dc") == pytest.approx(180 / 1.25)  # halls allow 100 + 2 * 50
    # hub: grid 30 + tie from dc, at most dc's own supply 50 + what reaches dc (30 + 100).
    assert d.power_in["hub"] == pytest.approx(130)
    assert d.serve_site_upper("hub") == pytest.approx(104)
    # island has neither grid nor power links: it can serve nothing.
    assert d.power_in["island"] == 0 and d.serve_site_upper("island") == 0
    # The source's largest capacity (not its first period's) limits the feeder:
    # 0.75 * min(40, 20) = 15.
    small = prepare(validate_data(_network(20), "net"), formulation=ON)
    assert small.power_in["dc"] == pytest.approx(50 + 15 + 100)
    # Off (the default), U_cs is the halls' bound alone.
    off = prepare(validate_data(_network(100), "net"))
    assert off.serve_site_upper("dc") == off.available_upper("dc") == 200


def test_hand_made_optimum_uses_the_power() -> None:
    # Each site has 100 IT MW of existing halls. In period 2 at most 50 (dc's grid) + 30
    # (hub's grid) + 0.75 * min(40, plant 50) = 110 MW reach dc and hub together, and none
    # reaches island: the lease (1.8 MUSD per IT MW-year against ~0.33 MUSD of energy; a
    # new hall costs 8 MUSD per IT MW) is served with 110 / 1.25 = 88 IT MW.
    raw = _network(100)
    inst = validate_data(raw, "net")
    ref = reference_solve(inst.model_dump(by_alias=True))
    assert ref.status == "optimal" and ref.npv_usd is not None
    got = _objective(inst, power_bounds=True)
    assert got == pytest.approx(ref.npv_usd, rel=1e-6, abs=1.0)
    served = {s: ref.values.get(f"serve[x,{s},2]", 0.0) for s in ("dc", "hub", "island")}
    assert served["island"] == pytest.approx(0, abs=1e-6)
    assert served["dc"] + served["hub"] == pytest.approx(88, abs=1e-5)
    assert served["dc"] <= 144 + 1e-6 and served["hub"] <= 104 + 1e-6


def _tighter_pairs(inst: Any) -> int:
    d = prepare(inst, formulation=ON)
    return sum(1 for c in d.contracts for s in d.eligible[c]
               if d.serve_site_upper(s) < min(d.contracts[c].it_mw.max,
                                              d.available_upper(s)) - 1e-9)


def test_reference_plans_within_the_power_bound() -> None:
    """No reference optimum serves more at a site than the bound; the product's optimum is
    the reference's where the bound is tighter than the halls."""
    tighter = 0
    for seed in range(0, 40, 2):
        for raw, what in ((_small_instance(seed), f"small {seed}"),
                          (_generated(seed % 12), f"generated {seed % 12}")):
            inst = validate_data(raw, what)
            d = prepare(inst, formulation=ON)
            n = _tighter_pairs(inst)
            ref = reference_solve(inst.model_dump(by_alias=True))
            if ref.status != "optimal":
                continue
            for c in d.contracts:
                for s in d.eligible[c]:
                    for t in d.active[c]:
                        served = ref.values.get(f"serve[{c},{s},{t}]", 0.0)
                        assert served <= d.serve_site_upper(s) + 1e-6, (what, c, s, t)
            if n:
                tighter += n
                got = _objective(inst, power_bounds=True)
                assert ref.npv_usd is not None and got is not None
                assert abs(got - ref.npv_usd) <= 1e-6 * max(1.0, abs(ref.npv_usd)) + 1.0
    assert tighter > 0  # the bound was tighter than the halls somewhere
