"""Money that reaches past one period's cash flow (spec v2): the contract tail (part A)
and project-debt schedules (part D). Plain Python, shared by the model's coefficients and
the result tables so that both use one formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..instance import Contract, Debt, Instance

__all__ = [
    "YEAR_TOL",
    "LoanSchedule",
    "annuity_factor",
    "loan_schedule",
    "tail_value_per_it_mw",
    "tail_years",
]

YEAR_TOL = 1e-9  # the spec's tolerance on year counts and payment years


def tail_years(contract: Contract, periods: int, ypp: float) -> int:
    """R_c = floor((start_c - 1 + term_c - P) * ypp + 1e-9): whole years past the horizon."""
    r = math.floor((contract.start_period - 1 + contract.term_periods - periods) * ypp
                   + YEAR_TOL)
    return max(0, r)


def tail_value_per_it_mw(instance: Instance, contract: Contract, er_last: float,
                         pue: float, opex: float) -> float:
    """sum_{k=1..R_c} v_csk (1+r)^-(P*ypp + k), USD per IT MW served at the site in P.

    v_csk = rate (1+g)^((P - start + 1) ypp + k - 1) 12000
            + (energy_recovery[P] - tail_energy_price) pue_s 8760 - ai.opex_s
    """
    h = instance.horizon
    if h.terminal_value != "contract_tail":
        return 0.0
    P, ypp, r = h.periods, h.years_per_period, h.discount_rate
    years = tail_years(contract, P, ypp)
    if years == 0 or contract.start_period + contract.term_periods - 1 < P:
        return 0.0
    tail_price = h.tail_energy_price_usd_per_mwh or 0.0
    energy = (er_last - tail_price) * pue * 8760.0 - opex
    rate, g = contract.rate_usd_per_kw_month, contract.escalator
    base = (P - contract.start_period + 1) * ypp
    total = 0.0
    for k in range(1, years + 1):
        v = rate * (1.0 + g) ** (base + k - 1) * 12000.0 + energy
        total += v * (1.0 + r) ** -(P * ypp + k)
    return total


def annuity_factor(rate: float, tenor: int) -> float:
    """a = i / (1 - (1+i)^-n), 1/n when i = 0: the level payment per USD borrowed."""
    if rate == 0:
        return 1.0 / tenor
    return rate / (1.0 - (1.0 + rate) ** -tenor)


@dataclass(frozen=True)
class LoanSchedule:
    """A loan of 1 USD drawn at the start of period t: its payments and its NPV term.

    ``payments`` lists (year from the start of the horizon, USD); ``npv`` is
    (1+r)^-((t-1) ypp) - a sum_k (1+r)^-((t-1) ypp + k).
    """

    period: int
    payments: tuple[tuple[float, float], ...]
    npv: float


def loan_schedule(debt: Debt, period: int, ypp: float, discount_rate: float) -> LoanSchedule:
    a = annuity_factor(debt.interest_rate, debt.tenor_years)
    start = (period - 1) * ypp
    payments = tuple((start + k, a) for k in range(1, debt.tenor_years + 1))
    pv = sum(amount * (1.0 + discount_rate) ** -year for year, amount in payments)
    return LoanSchedule(period, payments, (1.0 + discount_rate) ** -start - pv)
