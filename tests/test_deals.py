"""Spec v2, part A (deal structures and the contract tail): one tiny instance per rule,
the NPV derived by hand in the comment, and the output identities of the spec
(cashflows.csv columns, summary.json terminal_value_usd, contracts.csv tail_value_usd).

Shared numbers: a lease at 100 USD/kW-month is 1,200,000 USD per IT MW-year; AI PUE 1;
8,760 hours a year; discount rate 0 unless a test says otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest

import portfolio_opt

LEASE100 = 1_200_000.0


def site(sid: str, *, price: float = 0.0, existing: float = 0.0, max_it: float = 10.0,
         capex: float = 0.0, lead: int = 0, opex: float = 0.0, pue: float = 1.0) -> dict:
    return {
        "id": sid, "capacity_mw": 100,
        "grid": {"capacity_mw": 100, "price_usd_per_mwh": price},
        "ai": {"max_it_mw": max_it, "existing_it_mw": existing, "block_it_mw": 10,
               "capex_usd_per_it_mw": capex, "lead_time_periods": lead, "pue": pue,
               "opex_usd_per_it_mw_year": opex},
    }


def lease(cid: str, *, rate: float = 100.0, start: int = 1, term: int = 1, mw: float = 10.0,
          **extra: Any) -> dict:
    return {"id": cid, "tenant": "t", "it_mw": {"min": mw, "max": mw},
            "rate_usd_per_kw_month": rate, "start_period": start, "term_periods": term,
            **extra}


def doc(sites: list[dict], contracts: list[dict], *, periods: int, rate: float = 0.0,
        horizon: dict | None = None, limits: dict | None = None) -> dict:
    d: dict[str, Any] = {
        "name": "deals",
        "horizon": {"periods": periods, "discount_rate": rate, **(horizon or {})},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": sites,
        "contracts": contracts,
    }
    if limits:
        d["limits"] = limits
    return d


def solve(d: dict) -> Any:
    res = portfolio_opt.solve(d, profile="exact")
    assert res.status == "optimal", res.message
    return res


def accepted(res: Any) -> set[str]:
    return set(res.contracts.loc[res.contracts["accepted"], "contract"])


def test_tail_value_by_hand_on_one_site():
    # One site with 10 IT MW existing (PUE 1.25, hall opex 100,000 USD per IT MW-year), grid
    # at 20 USD/MWh; a committed 10 IT MW lease at 100 USD/kW-month, 3 %/year escalator,
    # 5-year term from period 1, energy recovered at 20 USD/MWh (a pass-through); 2 yearly
    # periods, r = 10 %, contract_tail with the tail's energy at 40 USD/MWh.
    # Inside the horizon: lease 12.0 MUSD, 12.36 MUSD; recovery = energy cost; opex 1 MUSD.
    # Tail: R = floor((1 - 1 + 5 - 2) * 1) = 3 years; per IT MW
    #   v_k = 1.2e6 * 1.03^(2 + k - 1) + (20 - 40) * 1.25 * 8760 - 100,000,
    #   discounted by 1.1^-(2 + k), k = 1..3, times 10 IT MW.
    d = doc([site("a", price=20, existing=10, pue=1.25, opex=100_000)],
            [lease("c", term=5, escalator=0.03, committed=True,
                   energy_recovery_usd_per_mwh=20)],
            periods=2, rate=0.10,
            horizon={"terminal_value": "contract_tail", "tail_energy_price_usd_per_mwh": 40})
    res = solve(d)
    inside = (12e6 - 1e6) / 1.1 + (12.36e6 - 1e6) / 1.1**2
    tail = 10 * sum((1.2e6 * 1.03 ** (k + 1) - 20 * 1.25 * 8760 - 100_000) / 1.1 ** (2 + k)
                    for k in (1, 2, 3))
    assert res.totals["terminal_value_usd"] == pytest.approx(tail, rel=1e-9)
    assert tail == pytest.approx(20_350_988.27, abs=0.01)  # 954,080/1.1^3 + ... (x10)
    assert res.objective_npv_usd == pytest.approx(inside + tail, rel=1e-9)
    row = res.contracts.set_index("contract").loc["c"]
    assert row["tail_value_usd"] == pytest.approx(tail, rel=1e-9)
    # NPV identity of the spec: sum of discounted + terminal value
    assert res.objective_npv_usd == pytest.approx(
        res.cashflows["discounted"].sum() + res.summary()["terminal_value_usd"], rel=1e-12)
    # energy recovery = tariff * PUE * H * served: 20 * 1.25 * 8760 * 10 per period
    assert list(res.cashflows["energy_recovery"]) == pytest.approx([2_190_000.0] * 2)
    assert list(res.cashflows["energy_cost"]) == pytest.approx([2_190_000.0] * 2)


def test_no_tail_without_contract_tail_and_past_short_leases():
    # The same lease without terminal_value: v1's NPV, no tail; a lease ending in the
    # horizon has no tail even with contract_tail.
    base = doc([site("a", price=20, existing=10)], [lease("c", term=5, committed=True)],
               periods=2)
    assert solve(base).totals["terminal_value_usd"] == 0.0
    assert solve(base).objective_npv_usd == pytest.approx(2 * 12e6 - 2 * 20 * 8760 * 10)
    short = doc([site("a", existing=10)], [lease("c", term=2, committed=True)], periods=2,
                horizon={"terminal_value": "contract_tail", "tail_energy_price_usd_per_mwh": 0})
    assert solve(short).totals["terminal_value_usd"] == 0.0


def test_tail_with_half_year_periods():
    # ypp = 0.5: 2 periods (1 year); a 6-period (3-year) lease from period 1:
    # R = floor((0 + 6 - 2) * 0.5) = 2 years; escalator exponent (2 - 1 + 1) * 0.5 + k - 1.
    d = doc([site("a", existing=10)], [lease("c", term=6, escalator=0.1, committed=True)],
            periods=2, horizon={"years_per_period": 0.5, "terminal_value": "contract_tail",
                                "tail_energy_price_usd_per_mwh": 0})
    res = solve(d)
    tail = 10 * sum(1.2e6 * 1.1 ** (1 + k - 1) for k in (1, 2))
    assert res.totals["terminal_value_usd"] == pytest.approx(tail, rel=1e-12)


def test_group_takes_the_better_structure_only():
    # One 10 IT MW offer in two structures, 5 yearly periods, a hall costs 5 MUSD/IT MW:
    # op-funded at 150 USD/kW-month: 150 * 12000 * 10 * 5 - 50e6 = 40 MUSD;
    # tenant-funded at 120 with 4 MUSD/IT MW from the tenant: 72e6 - 50e6 + 40e6 = 62 MUSD.
    # Room for both (20 IT MW): without a group both are taken (102 MUSD); in a group only
    # the tenant-funded one.
    offers = [lease("op-funded", rate=150, term=5, group="offer"),
              lease("tenant-funded", rate=120, term=5, group="offer",
                    tenant_capex_usd_per_it_mw=4e6)]
    d = doc([site("a", max_it=20, capex=5e6)], offers, periods=5)
    res = solve(d)
    assert accepted(res) == {"tenant-funded"}
    assert res.objective_npv_usd == pytest.approx(62e6)
    assert res.cashflows["tenant_capex"].tolist() == pytest.approx([40e6, 0, 0, 0, 0])
    for c in offers:
        del c["group"]
    both = solve(d)
    assert accepted(both) == {"op-funded", "tenant-funded"}
    assert both.objective_npv_usd == pytest.approx(102e6)


def test_committed_contract_excludes_its_group_partner():
    offers = [lease("op-funded", rate=150, term=5, group="offer", committed=True),
              lease("tenant-funded", rate=120, term=5, group="offer",
                    tenant_capex_usd_per_it_mw=4e6)]
    res = solve(doc([site("a", max_it=20, capex=5e6)], offers, periods=5))
    assert accepted(res) == {"op-funded"}
    assert res.objective_npv_usd == pytest.approx(40e6)


def _fixed_case(allocation: str, recovery: float = 0.0) -> dict:
    # Site a: free power; site b: 100 USD/MWh; 10 IT MW existing at each. Lease X (10 IT MW,
    # periods 1-2, a or b, up to 2 sites) and lease Y (10 IT MW at a in period 2), both
    # committed. Flexible: X at a then b (8.76 MUSD of energy); fixed: X at b in both
    # periods (17.52 MUSD). Revenue 36 MUSD.
    x = lease("x", term=2, eligible={"sites": ["a", "b"]}, max_sites=2, committed=True,
              allocation=allocation, energy_recovery_usd_per_mwh=recovery)
    y = lease("y", start=2, eligible={"sites": ["a"]}, committed=True)
    return doc([site("a", existing=10), site("b", price=100, existing=10)], [x, y], periods=2)


def test_fixed_allocation_changes_the_plan():
    flexible = solve(_fixed_case("flexible"))
    fixed = solve(_fixed_case("fixed"))
    assert flexible.objective_npv_usd == pytest.approx(36e6 - 8.76e6)
    assert fixed.objective_npv_usd == pytest.approx(36e6 - 17.52e6)
    rows = fixed.contract_site_periods
    x = rows[rows["contract"] == "x"]
    assert set(x["site"]) == {"b"} and x["it_mw"].tolist() == pytest.approx([10, 10])


def test_energy_recovery_passes_the_power_through():
    # X fixed at b with its energy recovered at b's price: 2 * 100 * 8760 * 10 = 17.52 MUSD
    # back, so the NPV is the lease revenue alone.
    res = solve(_fixed_case("fixed", recovery=100))
    assert res.objective_npv_usd == pytest.approx(36e6)
    assert res.cashflows["energy_recovery"].sum() == pytest.approx(17.52e6)
    cf = res.cashflows
    want = (cf["btc_revenue"] + cf["ai_revenue"] + cf["energy_recovery"] + cf["dr_credit"]
            - cf["energy_cost"] - cf["opex"] - cf["capex"] + cf["tenant_capex"]
            + cf["debt_drawn"] - cf["debt_service"])
    assert cf["net"].tolist() == pytest.approx(want.tolist())


@pytest.mark.parametrize(("period", "npv"), [(1, 62e6), (2, 0.0)])
def test_tenant_capex_nets_the_budget_of_its_period(period, npv):
    # The tenant-funded offer alone, per-period budget 10 MUSD: the 50 MUSD hall nets to
    # 10 MUSD when the tenant pays 40 MUSD in period 1 (accepted, 62 MUSD); paid in
    # period 2, period 1's capex is 50 MUSD: over budget, nothing is built.
    offer = lease("tenant-funded", rate=120, term=5, tenant_capex_usd_per_it_mw=4e6,
                  tenant_capex_period=period)
    res = solve(doc([site("a", capex=5e6)], [offer], periods=5,
                    limits={"capex_budget_usd_per_period": 10e6}))
    assert res.objective_npv_usd == pytest.approx(npv, abs=1e-3)


def test_tenant_capex_is_discounted_like_capex():
    # r = 10 %, the 40 MUSD contribution in period 2 is discounted by 1.1^-1 (start of 2).
    offer = lease("tf", rate=120, term=5, tenant_capex_usd_per_it_mw=4e6,
                  tenant_capex_period=2)
    res = solve(doc([site("a", capex=5e6)], [offer], periods=5, rate=0.1))
    lease_pv = sum(14.4e6 / 1.1**t for t in range(1, 6))
    assert res.objective_npv_usd == pytest.approx(lease_pv - 50e6 + 40e6 / 1.1)


def test_invalid_deal_fields_are_input_errors(tmp_path):
    """Each rule of part A a user could get wrong: exit 2 naming entity, field and value."""
    import subprocess
    import sys

    bad = doc([site("a", existing=10)],
              [lease("x", term=3, committed=True, group="g", tenant_capex_period=5,
                     energy_recovery_usd_per_mwh=[1, 2]),
               lease("y", term=3, committed=True, group="g",
                     energy_recovery_usd_per_mwh={"a": 1})],
              periods=3, horizon={"tail_energy_price_usd_per_mwh": 30})
    bad["contracts"].append(lease("z", allocation="sticky"))
    path = tmp_path / "bad.json"
    import json

    path.write_text(json.dumps(bad))
    proc = subprocess.run([sys.executable, "-m", "portfolio_opt", "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    err = proc.stderr
    assert "Traceback" not in err
    assert ("contract 'y', field 'energy_recovery_usd_per_mwh': got {'a': 1}; expected a "
            "number or a list of one number per period, not a mapping") in err
    assert "contract 'z', field 'allocation': got 'sticky'; expected 'flexible' or 'fixed'" in err
    assert ("horizon, field 'tail_energy_price_usd_per_mwh': got 30.0; expected no "
            "tail_energy_price_usd_per_mwh unless terminal_value is contract_tail") in err
    assert "field 'energy_recovery_usd_per_mwh': got [1.0, 2.0]; expected one number" in err
    assert "field 'tenant_capex_period': got 5; expected a period from 1 to 3" in err
    # the committed pair in one group is reported once y is otherwise valid
    bad["contracts"][1]["energy_recovery_usd_per_mwh"] = 1
    path.write_text(json.dumps(bad))
    proc = subprocess.run([sys.executable, "-m", "portfolio_opt", "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert "contract 'y', field 'group': got 'g'; expected at most one committed contract" in (
        proc.stderr)
    # contract_tail without its price
    good = doc([site("a", existing=10)], [lease("x", committed=True)], periods=1,
               horizon={"terminal_value": "contract_tail"})
    path.write_text(json.dumps(good))
    proc = subprocess.run([sys.executable, "-m", "portfolio_opt", "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "horizon, field 'tail_energy_price_usd_per_mwh': got nothing" in proc.stderr
