"""Metamorphic relations: changes to an instance whose effect on the optimal NPV is known
without solving it by hand (scaling money, relaxing limits, reordering lists, ...).

All solves use the ``exact`` profile (relative gap 1e-9), so optimal NPVs can be compared
tightly: equal within 1e-6 relative + 1 USD, or ordered with that slack.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import portfolio_opt
from portfolio_opt.loader import read_document

ROOT = Path(__file__).resolve().parent.parent


def _tight() -> dict[str, Any]:
    """A small instance where the per-period budget and the tenant share bind."""
    return {
        "name": "tight",
        "horizon": {"periods": 3, "years_per_period": 1, "discount_rate": 0.05},
        "market": {"hashprice_usd_per_ph_day": [50, 42, 30]},
        "sites": [
            {"id": "mine", "capacity_mw": 80,
             "grid": {"capacity_mw": 80, "price_usd_per_mwh": [40, 42, 44]},
             "btc": {"fleet_mw": 40, "efficiency_j_per_th": 20, "pue": 1.1, "uptime": 0.97,
                     "opex_usd_per_mw_year": 50_000,
                     "expansion": {"max_mw": 30, "capex_usd_per_mw": 400_000}},
             "ai": {"max_it_mw": 40, "block_it_mw": 10, "capex_usd_per_it_mw": 2_000_000,
                    "fixed_capex_usd": 3_000_000, "lead_time_periods": 1, "pue": 1.3,
                    "opex_usd_per_it_mw_year": 80_000}},
            {"id": "campus", "capacity_mw": 40,
             "ai": {"max_it_mw": 30, "existing_it_mw": 10, "block_it_mw": 10,
                    "capex_usd_per_it_mw": 2_500_000, "lead_time_periods": 0, "pue": 1.2,
                    "opex_usd_per_it_mw_year": 90_000}},
        ],
        "sources": [{"id": "wind", "capacity_mw": [30, 40, 40], "price_usd_per_mwh": 25}],
        "links": [
            {"from": "wind", "to": "campus", "kind": "power", "capacity_mw": 40, "loss": 0.04,
             "directed": True},
            {"from": "mine", "to": "campus", "kind": "power", "capacity_mw": 10, "loss": 0.02},
            {"from": "mine", "to": "campus", "kind": "fiber", "latency_ms": 1.0,
             "id": "mine-campus-fiber"},
        ],
        "contracts": [
            {"id": "anchor", "tenant": "neo", "it_mw": {"min": 8, "max": 8},
             "rate_usd_per_kw_month": 130, "start_period": 1, "term_periods": 3,
             "eligible": {"sites": ["campus"]}, "committed": True},
            {"id": "hyper", "tenant": "hyper", "it_mw": {"min": 10, "max": 30},
             "rate_usd_per_kw_month": 160, "escalator": 0.03, "start_period": 2,
             "term_periods": 5, "max_sites": 2},
            {"id": "lab", "tenant": "lab", "it_mw": {"min": 5, "max": 15},
             "rate_usd_per_kw_month": 140, "start_period": 1, "term_periods": 2,
             "eligible": {"near": {"site": "mine", "max_latency_ms": 1}}},
            {"id": "hyper-2", "tenant": "hyper", "it_mw": {"min": 0, "max": 10},
             "rate_usd_per_kw_month": 150, "start_period": 2, "term_periods": 2},
        ],
        "limits": {"capex_budget_usd": 40_000_000,
                   "capex_budget_usd_per_period": [30_000_000, 15_000_000, 10_000_000],
                   "max_tenant_share": 0.7, "max_contracts": 2},
    }


def _cases() -> list[Any]:
    cases: list[Any] = [pytest.param(_tight(), id="tight")]
    path = ROOT / "instances" / "tutorial.yaml"
    if path.exists():
        cases.append(pytest.param(read_document(path).data, id="tutorial"))
    try:
        from portfolio_opt.generate import generate_instance
    except ImportError:
        return cases
    cases.append(pytest.param(generate_instance(5, 5, 4, 2), id="gen-5-5-4-2"))
    cases.append(pytest.param(generate_instance(8, 6, 6, 3), id="gen-8-6-6-3"))
    return cases


def solve(d: dict[str, Any]) -> float:
    res = portfolio_opt.solve(d, profile="exact")
    assert res.status == "optimal", res.message
    assert res.objective_npv_usd is not None
    return res.objective_npv_usd


def tol(x: float) -> float:
    return 1e-6 * abs(x) + 1.0


@pytest.fixture(scope="module", params=_cases())
def case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], float]:
    data = copy.deepcopy(request.param)
    return data, solve(data)


# --------------------------------------------------------------------------- transforms


def _times(value: Any, k: float) -> Any:
    if isinstance(value, list):
        return [v * k for v in value]
    return value * k


def scale_money(d: dict[str, Any], k: float) -> dict[str, Any]:
    """Every USD amount times k: hashprice, energy prices, capex, opex, lease rates, budgets."""
    d = copy.deepcopy(d)
    m = d["market"]
    m["hashprice_usd_per_ph_day"] = _times(m["hashprice_usd_per_ph_day"], k)
    for s in d["sites"]:
        if s.get("grid"):
            s["grid"]["price_usd_per_mwh"] = _times(s["grid"]["price_usd_per_mwh"], k)
        b = s.get("btc")
        if b:
            if "opex_usd_per_mw_year" in b:
                b["opex_usd_per_mw_year"] *= k
            if b.get("expansion"):
                b["expansion"]["capex_usd_per_mw"] *= k
        a = s.get("ai")
        if a:
            for key in ("capex_usd_per_it_mw", "fixed_capex_usd", "opex_usd_per_it_mw_year"):
                if key in a:
                    a[key] *= k
    for src in d.get("sources") or []:
        src["price_usd_per_mwh"] = _times(src["price_usd_per_mwh"], k)
    for c in d.get("contracts") or []:
        c["rate_usd_per_kw_month"] *= k
    lim = d.get("limits") or {}
    if lim.get("capex_budget_usd") is not None:
        lim["capex_budget_usd"] *= k
    if lim.get("capex_budget_usd_per_period") is not None:
        lim["capex_budget_usd_per_period"] = _times(lim["capex_budget_usd_per_period"], k)
    return d


# --------------------------------------------------------------------------- relations


@pytest.mark.parametrize("k", [2.0, 0.5])
def test_scaling_all_money_scales_the_npv(case, k):
    data, npv = case
    scaled = solve(scale_money(data, k))
    assert scaled == pytest.approx(k * npv, rel=1e-6, abs=1.0)


@pytest.mark.parametrize("key", ["capex_budget_usd", "capex_budget_usd_per_period", "both"])
def test_removing_a_budget_never_lowers_the_npv(case, key):
    data, npv = case
    d = copy.deepcopy(data)
    lim = d.setdefault("limits", {})
    for k in (["capex_budget_usd", "capex_budget_usd_per_period"] if key == "both" else [key]):
        lim.pop(k, None)
    assert solve(d) >= npv - tol(npv)


def test_tight_budget_binds():
    # guard for the relation above: in the hand-made instance the budgets matter.
    data = _tight()
    d = copy.deepcopy(data)
    del d["limits"]["capex_budget_usd"], d["limits"]["capex_budget_usd_per_period"]
    assert solve(d) > solve(data) + 1000.0


@pytest.mark.parametrize("extra", [1, None])
def test_raising_max_contracts_never_lowers_the_npv(case, extra):
    data, npv = case
    d = copy.deepcopy(data)
    lim = d.setdefault("limits", {})
    if extra is None:
        lim.pop("max_contracts", None)
    else:
        lim["max_contracts"] = (lim.get("max_contracts") or 0) + extra
    assert solve(d) >= npv - tol(npv)


def test_reordering_lists_changes_nothing(case):
    data, npv = case
    d = copy.deepcopy(data)
    for key in ("sites", "sources", "links", "contracts"):
        if d.get(key):
            d[key] = list(reversed(d[key]))
    for c in d.get("contracts") or []:
        el = c.get("eligible")
        if el and el.get("sites"):
            el["sites"] = list(reversed(el["sites"]))
    assert solve(d) == pytest.approx(npv, rel=1e-6, abs=1.0)


def test_rotating_lists_changes_nothing(case):
    data, npv = case
    d = copy.deepcopy(data)
    for key in ("sites", "links", "contracts"):
        items = d.get(key) or []
        if len(items) > 1:
            d[key] = items[1:] + items[:1]
    assert solve(d) == pytest.approx(npv, rel=1e-6, abs=1.0)


@pytest.mark.parametrize("factor", [1.1, 2.0])
def test_raising_hashprice_never_lowers_the_npv(case, factor):
    data, npv = case
    d = copy.deepcopy(data)
    m = d["market"]
    m["hashprice_usd_per_ph_day"] = _times(m["hashprice_usd_per_ph_day"], factor)
    assert solve(d) >= npv - tol(npv)


def test_raising_energy_prices_never_raises_the_npv(case):
    data, npv = case
    d = copy.deepcopy(data)
    for s in d["sites"]:
        if s.get("grid"):
            s["grid"]["price_usd_per_mwh"] = _times(s["grid"]["price_usd_per_mwh"], 1.5)
    for src in d.get("sources") or []:
        src["price_usd_per_mwh"] = _times(src["price_usd_per_mwh"], 1.5)
    assert solve(d) <= npv + tol(npv)


def test_raising_lease_rates_never_lowers_the_npv(case):
    data, npv = case
    d = copy.deepcopy(data)
    for c in d.get("contracts") or []:
        c["rate_usd_per_kw_month"] *= 1.25
    assert solve(d) >= npv - tol(npv)


def test_adding_a_contract_offer_never_lowers_the_npv(case):
    data, npv = case
    d = copy.deepcopy(data)
    periods = int(d["horizon"]["periods"])
    offer = {"id": "extra-offer", "tenant": "newcomer", "it_mw": {"min": 5, "max": 25},
             "rate_usd_per_kw_month": 175, "escalator": 0.02, "start_period": min(2, periods),
             "term_periods": 10, "max_sites": 2}
    d.setdefault("contracts", []).append(offer)
    assert solve(d) >= npv - tol(npv)


def test_adding_an_attractive_offer_raises_the_npv_in_the_tight_instance():
    # guard for the relation above: an offer that fits existing halls is worth taking.
    data = _tight()
    npv = solve(data)
    d = copy.deepcopy(data)
    d["limits"]["max_contracts"] = 3
    d["contracts"].append({"id": "extra-offer", "tenant": "newcomer",
                           "it_mw": {"min": 1, "max": 2}, "rate_usd_per_kw_month": 300,
                           "start_period": 1, "term_periods": 3,
                           "eligible": {"sites": ["campus"]}})
    d_base = copy.deepcopy(data)
    d_base["limits"]["max_contracts"] = 3
    assert solve(d) > solve(d_base) + 1000.0
    assert solve(d) >= npv - tol(npv)
