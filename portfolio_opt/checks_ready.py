"""What the data allow a site to have ready, for the data checks of :mod:`portfolio_opt.checks`.

The most IT MW a site can have available by a period (existing halls, halls that fit its
max_it_mw and capacity, lead times, and the halls the capex budgets can pay for with
tenant contributions and debt), with the words that say why no more; and the failed-check
record :class:`Cause` with the small helpers its messages use. Every number is an upper
bound, so a check that fails against it proves infeasibility.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .model.data import HALL_FLOOR_EPS, ModelData

__all__ = ["Cause"]

_TOL = 1e-6


@dataclass
class Cause:
    """One failed data check: what kind, plain words, the entities and numbers it names."""

    kind: str
    text: str
    entities: list[dict[str, str]] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)


def _e(kind: str, ident: str) -> dict[str, str]:
    return {"type": kind, "id": ident}


def _names(ids: Any) -> str:
    ids = [f"'{i}'" for i in ids]
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]


def _committed(d: ModelData) -> list[str]:
    return [c for c, con in d.contracts.items() if con.committed]


# ------------------------------------------------------------------ IT MW ready in time


@dataclass
class _Ready:
    site: str
    it_mw: float
    detail: str


def _floor(x: float) -> float:
    return x if math.isinf(x) else float(math.floor(x + HALL_FLOOR_EPS))


def _tenant_capex_most(d: ModelData, t: int | None = None) -> float:
    """Most tenant contributions paid in period t (every period: None), USD: every contract
    with a contribution taken at its it_mw.max (an upper bound)."""
    return sum(d.contracts[c].tenant_capex_usd_per_it_mw * d.contracts[c].it_mw.max
               for c in d.tenant_capex_contracts
               if t is None or d.contracts[c].tenant_capex_at == t)


def _gross(d: ModelData, equity: float, contributions: float) -> float:
    """Most gross AI capex an equity budget pays with tenant contributions and debt:
    capex - contributions - loan <= equity with loan <= min(LTC * capex, max_total_usd)."""
    money = equity + contributions
    debt = d.debt if d.loans else None
    if debt is None or math.isinf(money):
        return money
    most = money / (1.0 - debt.max_loan_to_cost)
    if debt.max_total_usd is not None:
        most = min(most, money + debt.max_total_usd)
    return most


def _budget_money(d: ModelData) -> tuple[list[float], float]:
    """Most capex (gross) the per-period budgets and the total budget can pay, USD."""
    lim = d.instance.limits
    per = d.instance.series(lim.capex_budget_usd_per_period) \
        if lim.capex_budget_usd_per_period is not None else [math.inf] * len(d.periods)
    total = math.inf if lim.capex_budget_usd is None else lim.capex_budget_usd
    return ([_gross(d, b, _tenant_capex_most(d, t)) for t, b in zip(d.periods, per,
                                                                   strict=True)],
            _gross(d, total, _tenant_capex_most(d)))


def _budget_halls(d: ModelData, s: str, last: int) -> float:
    """Most halls site s alone can pay for when started in periods 1..last (inf: no limit).

    A hall's capex falls whole in its start period; the site's first hall also pays
    fixed_capex_usd in that period. The budgets bound equity: tenant contributions (all
    of them, at it_mw.max) and the most debt that could be borrowed add to what can be
    paid. Other capex (other sites, ASICs) is left out, so this is an upper bound.
    """
    per, total = _budget_money(d)
    a = d.ai(s)
    hall = a.capex_usd_per_it_mw * a.block_it_mw
    fixed = a.fixed_capex_usd if s in d.fixed_capex_sites else 0.0

    def fit(money: float) -> float:
        return math.inf if hall == 0 else _floor(money / hall)

    best = 0.0
    for first in range(1, last + 1):
        if per[first - 1] < fixed + hall or total < fixed + hall:
            continue
        halls = fit(per[first - 1] - fixed) + sum(fit(per[t - 1]) for t in range(first + 1,
                                                                                 last + 1))
        best = max(best, min(halls, fit(total - fixed)))
    return best


def _costs(d: ModelData, s: str) -> str:
    a = d.ai(s)
    lim = d.instance.limits
    text = f"a hall costs {a.capex_usd_per_it_mw * a.block_it_mw:,.0f} USD"
    if s in d.fixed_capex_sites:
        text += f" + fixed_capex_usd {a.fixed_capex_usd:,.0f} with the first"
    if lim.capex_budget_usd is not None:
        text += f", capex_budget_usd {lim.capex_budget_usd:,.0f}"
    if lim.capex_budget_usd_per_period is not None:
        per = d.instance.series(lim.capex_budget_usd_per_period)
        text += ", capex_budget_usd_per_period " + (
            f"{per[0]:,.0f}" if len(set(per)) == 1 else "[" + ", ".join(f"{b:,.0f}" for b in per)
            + "]")
    if d.tenant_capex_contracts:
        text += (f", tenant contributions at most {_tenant_capex_most(d):,.0f} in all (each "
                 "in its tenant_capex_period)")
    if d.loans and d.debt is not None:
        text += (f", debt at most max_loan_to_cost {d.debt.max_loan_to_cost:g} of the AI "
                 "capex" + (f" and max_total_usd {d.debt.max_total_usd:,.0f}"
                            if d.debt.max_total_usd is not None else ""))
    return text


def _ready(d: ModelData, s: str, t: int, lead: bool = True, budget: bool = True) -> _Ready:
    """IT MW site s can have available in period t, and why no more (an upper bound)."""
    a = d.ai(s)
    site = d.sites[s]
    by_max = max(0.0, _floor((a.max_it_mw - a.existing_it_mw) / a.block_it_mw))
    by_room = max(0.0, _floor((site.capacity_mw - a.existing_it_mw * a.pue)
                              / (a.block_it_mw * a.pue)))
    last = t - a.lead_time_periods if lead else t
    if last < 1:
        return _Ready(s, a.existing_it_mw, f"existing {a.existing_it_mw:g}; no hall can be "
                      f"ready by period {t}: lead time {a.lead_time_periods}")
    by_budget = _budget_halls(d, s, last) if budget else math.inf
    halls = int(min(by_max, by_room, by_budget))
    why = []
    if halls == by_max:
        why.append(f"max_it_mw {a.max_it_mw:g}")
    if halls == by_room:
        why.append(f"capacity_mw {site.capacity_mw:g} at ai.pue {a.pue:g} fits {int(by_room)}")
    if halls == by_budget:
        why.append(f"the capex budgets pay for {int(by_budget)}: {_costs(d, s)}")
    detail = (f"existing {a.existing_it_mw:g} + {halls} hall(s) of {a.block_it_mw:g} started by "
              f"period {last}, lead time {a.lead_time_periods}; {', '.join(why)}")
    return _Ready(s, a.existing_it_mw + a.block_it_mw * halls, detail)


def _funding(d: ModelData, c: str, need: float, start: int) -> tuple[str, dict[str, Any]]:
    """The money side of a budget cause: what the cheapest eligible site's halls cost and
    what equity, tenant contributions and debt can pay by the period they must start."""
    lim = d.instance.limits
    options = []
    for s in d.eligible[c]:
        a = d.ai(s)
        last = start - a.lead_time_periods
        halls = max(0, math.ceil((need - a.existing_it_mw) / a.block_it_mw - HALL_FLOOR_EPS))
        if last < 1 or halls > d.hall_max.get(s, 0):
            continue
        fixed = a.fixed_capex_usd if s in d.fixed_capex_sites and halls else 0.0
        options.append((halls * a.capex_usd_per_it_mw * a.block_it_mw + fixed, s, halls, last))
    if not options:
        return "", {}
    cost, s, halls, last = min(options)
    gross_per, gross_total = _budget_money(d)
    per = d.instance.series(lim.capex_budget_usd_per_period) \
        if lim.capex_budget_usd_per_period is not None else [math.inf] * len(d.periods)
    total = math.inf if lim.capex_budget_usd is None else lim.capex_budget_usd
    equity = min(sum(per[:last]), total)
    tenants = sum(_tenant_capex_most(d, t) for t in range(1, last + 1))
    most = min(sum(gross_per[:last]), gross_total)
    debt = max(0.0, most - equity - tenants)
    text = (f"; its {halls} hall(s) at '{s}' cost {cost:,.0f} USD by period {last}, the "
            f"equity budget by then is {equity:,.0f} USD, tenant contributions add at most "
            f"{tenants:,.0f} USD and debt could cover at most {debt:,.0f} USD: at most "
            f"{most:,.0f} USD of capex")
    return text, {"capex_needed_usd": cost, "equity_budget_usd": equity,
                  "tenant_capex_most_usd": tenants, "debt_most_usd": debt,
                  "capex_payable_usd": most, "by_period": last}


def _best(ready: list[_Ready], k: int) -> list[_Ready]:
    return sorted(ready, key=lambda r: -r.it_mw)[:k]
