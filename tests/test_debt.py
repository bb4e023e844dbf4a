"""Spec v2, part D (project debt): hand-derived NPVs on one-hall instances.

One site, one 10 IT MW hall at 5 MUSD per IT MW (50 MUSD), built in period 1 with no
lead time, and a 10 IT MW lease at 100 USD/kW-month (12 MUSD a year), free power, no
opex. A loan of L drawn at the start of period t is repaid by `tenor` level payments
a*L, a = i / (1 - (1+i)^-n), at the ends of years (t-1)*ypp + k.
"""

from __future__ import annotations

from typing import Any

import pytest

import portfolio_opt


def annuity(i: float, n: int) -> float:
    return i / (1 - (1 + i) ** -n) if i else 1 / n


def case(*, periods: int = 3, r: float = 0.10, debt: dict | None = None,
         budget_per_period: float | None = None, committed: bool = True,
         ypp: float = 1.0) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "debt",
        "horizon": {"periods": periods, "discount_rate": r, "years_per_period": ypp},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [{"id": "a", "capacity_mw": 100,
                   "grid": {"capacity_mw": 100, "price_usd_per_mwh": 0},
                   "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 5e6,
                          "lead_time_periods": 0, "pue": 1.0}}],
        "contracts": [{"id": "lease", "tenant": "t", "it_mw": {"min": 10, "max": 10},
                       "rate_usd_per_kw_month": 100, "start_period": 1,
                       "term_periods": periods, "committed": committed}],
    }
    if debt is not None:
        d["finance"] = {"debt": debt}
    if budget_per_period is not None:
        d["limits"] = {"capex_budget_usd_per_period": budget_per_period}
    return d


def solve(d: dict) -> Any:
    res = portfolio_opt.solve(d, profile="exact")
    assert res.status == "optimal", res.message
    return res


def unlevered(r: float = 0.10, periods: int = 3) -> float:
    return sum(12e6 / (1 + r) ** t for t in range(1, periods + 1)) - 50e6


def test_interest_at_the_discount_rate_changes_no_npv():
    base = solve(case())
    levered = solve(case(debt={"max_loan_to_cost": 0.7, "interest_rate": 0.10,
                               "tenor_years": 5}))
    assert base.objective_npv_usd == pytest.approx(unlevered())
    assert levered.objective_npv_usd == pytest.approx(base.objective_npv_usd, abs=1.0)


def test_cheap_loan_adds_principal_minus_its_payments():
    # i = 5 % < r = 10 %: borrow 0.7 * 50 MUSD = 35 MUSD at the start of period 1, repaid by
    # two payments of 35e6 * a(5 %, 2) = 18,823,170.73 at the ends of years 1 and 2.
    res = solve(case(debt={"max_loan_to_cost": 0.7, "interest_rate": 0.05,
                           "tenor_years": 2}))
    pay = 35e6 * annuity(0.05, 2)
    assert pay == pytest.approx(18_823_170.73, abs=0.01)
    gain = 35e6 - pay / 1.1 - pay / 1.1**2
    assert res.objective_npv_usd == pytest.approx(unlevered() + gain, rel=1e-9)
    cf = res.cashflows
    assert cf["debt_drawn"].tolist() == pytest.approx([35e6, 0, 0])
    assert cf["debt_service"].tolist() == pytest.approx([pay, pay, 0])
    s = res.summary()
    assert s["debt_principal_usd"] == pytest.approx(35e6)
    assert s["debt_after_horizon_usd"] == 0.0
    assert s["objective_npv_usd"] == pytest.approx(
        cf["discounted"].sum() + s["terminal_value_usd"] - s["debt_after_horizon_usd"])


def test_a_hall_only_debt_can_fund():
    # Per-period budget 20 MUSD < the 50 MUSD hall: without debt nothing is built (the lease
    # is an offer, not committed); with 70 % loan-to-cost the equity is 15 MUSD and the
    # hall pays. Interest at r: the loan is worth nothing by itself.
    # Six periods: 12 MUSD * 4.3553 - 50 MUSD = 2.26 MUSD, worth building.
    no_debt = solve(case(periods=6, budget_per_period=20e6, committed=False))
    assert no_debt.objective_npv_usd == pytest.approx(0.0, abs=1e-3)
    debt = {"max_loan_to_cost": 0.7, "interest_rate": 0.10, "tenor_years": 5}
    res = solve(case(periods=6, budget_per_period=20e6, committed=False, debt=debt))
    assert unlevered(periods=6) == pytest.approx(2_263_128.39, abs=0.01)
    assert res.objective_npv_usd == pytest.approx(unlevered(periods=6), rel=1e-9)
    assert res.summary()["debt_principal_usd"] >= 30e6 - 1e-3  # equity <= 20 MUSD


def test_expensive_loan_with_slack_budget_is_not_drawn():
    res = solve(case(debt={"max_loan_to_cost": 0.8, "interest_rate": 0.12,
                           "tenor_years": 5}))
    assert res.summary()["debt_principal_usd"] == 0.0
    assert res.objective_npv_usd == pytest.approx(unlevered())


def test_max_total_caps_the_principal():
    res = solve(case(debt={"max_loan_to_cost": 0.7, "interest_rate": 0.05,
                           "tenor_years": 2, "max_total_usd": 10e6}))
    pay = 10e6 * annuity(0.05, 2)
    assert res.summary()["debt_principal_usd"] == pytest.approx(10e6)
    assert res.objective_npv_usd == pytest.approx(
        unlevered() + 10e6 - pay / 1.1 - pay / 1.1**2, rel=1e-9)


def test_two_year_periods_and_a_tenor_past_the_horizon():
    # ypp = 2, 2 periods (4 years), tenor 6 years at 5 %: payments at years 1..6; period 1
    # holds years 1-2, period 2 years 3-4, years 5 and 6 fall after the horizon.
    res = solve(case(periods=2, ypp=2.0, debt={"max_loan_to_cost": 0.7,
                                                "interest_rate": 0.05, "tenor_years": 6}))
    pay = 35e6 * annuity(0.05, 6)
    cf = res.cashflows
    assert cf["debt_service"].tolist() == pytest.approx([2 * pay, 2 * pay])
    after = pay / 1.1**5 + pay / 1.1**6
    assert res.summary()["debt_after_horizon_usd"] == pytest.approx(after, rel=1e-12)
    lease = 24e6 / 1.1**2 + 24e6 / 1.1**4
    loan = 35e6 - sum(pay / 1.1**k for k in range(1, 7))
    assert res.objective_npv_usd == pytest.approx(lease - 50e6 + loan, rel=1e-9)
    # NPV identity: discounted cash flows minus the payments after the horizon
    assert res.objective_npv_usd == pytest.approx(
        cf["discounted"].sum() - after, rel=1e-12)


@pytest.mark.parametrize(("finance", "field", "expected"), [
    ({}, "debt", "expected this key (it is required)"),
    ({"debt": {"max_loan_to_cost": 1.0, "interest_rate": 0.07, "tenor_years": 5}},
     "debt.max_loan_to_cost", "expected a number >= 0 and < 1"),
    ({"debt": {"max_loan_to_cost": 0.7, "interest_rate": 0.07, "tenor_years": 7.5}},
     "debt.tenor_years", "expected a whole number >= 1, not a fraction"),
    ({"debt": {"max_loan_to_cost": 0.7, "interest_rate": -0.01, "tenor_years": 5}},
     "debt.interest_rate", "expected a number >= 0"),
    ({"debt": {"max_loan_to_cost": 0.7, "interest_rate": 0.07, "tenor_years": 5,
               "coupon": 0.07}}, "debt.coupon", ""),
])
def test_bad_debt_blocks_are_input_errors(finance, field, expected):
    d = case()
    d["finance"] = finance
    with pytest.raises(portfolio_opt.InputError) as err:
        portfolio_opt.solve(d)
    text = str(err.value)
    assert f"finance, field '{field}'" in text
    assert expected in text
