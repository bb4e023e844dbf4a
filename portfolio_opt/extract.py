"""The plan's tables from solved variable values, with the cash flows recomputed in USD.

The cash flows are recomputed from the plan (halls rounded to integers) with the spec's
formulas, so ``objective_npv_usd`` is exactly the discounted sum of ``cashflows.csv`` plus
the terminal value minus the debt payments after the horizon (:func:`plan_npv`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

from .constants import (
    ACCEPT_TOL,
    CASHFLOW_COLUMNS,
    CONTRACT_COLUMNS,
    CONTRACT_SITE_PERIOD_COLUMNS,
    FLOW_COLUMNS,
    SITE_PERIOD_BLOCK_COLUMNS,
    SITE_PERIOD_COLUMNS,
)
from .model.data import MONEY_SCALE, ModelData
from .model.finance import YEAR_TOL

__all__ = ["extract_plan", "extract_tables", "plan_npv", "scenario_values"]

_ZERO = 1e-9


def _clean(x: float | None) -> float:
    if x is None:
        return 0.0
    return 0.0 if abs(x) < _ZERO else float(x)


def plan_npv(tables: dict[str, pd.DataFrame], totals: dict[str, float]) -> float:
    """objective_npv_usd = sum of discounted + terminal_value_usd - debt_after_horizon_usd."""
    return (float(tables["cashflows"]["discounted"].sum()) + totals["terminal_value_usd"]
            - totals["debt_after_horizon_usd"])


def extract_tables(m: Any, d: ModelData) -> dict[str, pd.DataFrame]:
    """The plan's tables from solved variable values (USD, MW)."""
    return extract_plan(m, d)[0]


def scenario_values(m: Any, d: ModelData, w: str) -> dict[str, dict[Any, float]]:
    """Every variable's values in scenario w, keyed as in a deterministic model: (s, t, b)
    for the operational ones, (s, t) / (c, s, t) / t for the first-stage ones (spec v2 B:
    under multi_stage those of w's node in each period)."""

    def values(var: Any) -> dict[Any, float]:
        return {k: _clean(v) for k, v in var.extract_values().items()}

    def operational(var: Any) -> dict[Any, float]:
        vals = values(var)
        if not d.by_scenario:
            return vals
        return {(a, t, b): v for (a, t, ww, b), v in vals.items() if ww == w}

    def staged(var: Any) -> dict[Any, float]:
        vals = values(var)
        if not d.multi_stage:
            return vals
        out = {}
        for key, v in vals.items():
            *head, t, n = key
            if d.node[t, w] == n:
                out[(*head, t) if head else t] = v
        return out

    return {
        "btc_mw": operational(m.btc_mw), "grid_mw": operational(m.grid_mw),
        "gen_mw": operational(m.gen_mw), "dr_mw": operational(m.dr_mw),
        "flow_mw": operational(m.flow_mw), "buy_mw": staged(m.buy_mw),
        "halls": staged(m.halls), "serve": staged(m.serve), "loan": staged(m.loan),
        "it_mw": values(m.it_mw),
    }


def extract_plan(m: Any, d: ModelData, w: str | None = None
                 ) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """The plan's tables and the summary totals of :data:`SUMMARY_TOTALS` (USD), in
    scenario w (the first, or only, scenario by default)."""
    if w is None:
        w = d.scenarios[0]
    T = d.periods
    ypp = d.ypp
    start_year = d.instance.horizon.start_year
    year: dict[int, float] = {t: start_year + (t - 1) * ypp for t in T}
    if float(ypp).is_integer():
        year = {t: int(y) for t, y in year.items()}

    vals = scenario_values(m, d, w)
    share = d.share
    btc_b = vals["btc_mw"]  # (s, t, b)
    grid_b = vals["grid_mw"]
    gen_b = vals["gen_mw"]
    dr_b = vals["dr_mw"]
    buy = vals["buy_mw"]
    halls = {k: round(v) for k, v in vals["halls"].items()}
    serve = vals["serve"]
    # Per-period tables report share-weighted averages over the price blocks (spec v2 C).
    btc = _weighted(btc_b, share)
    grid = _weighted(grid_b, share)
    dr = _weighted(dr_b, share)
    flow = _weighted(vals["flow_mw"], share)

    served_at: dict[tuple[str, int], float] = defaultdict(float)
    for (_c, s, t), v in serve.items():
        served_at[s, t] += v

    rows = []
    cash: dict[int, dict[str, float]] = {t: defaultdict(float) for t in T}
    ai_capex: dict[int, float] = defaultdict(float)
    for s, site in d.sites.items():
        started = 0
        first_paid = False
        for t in T:
            h = halls.get((s, t), 0)
            b = btc.get((s, t), 0.0)
            reserved = available = 0.0
            load = 0.0
            if site.ai is not None:
                a = site.ai
                started += h
                reserved = a.existing_it_mw + a.block_it_mw * started
                ready = sum(halls.get((s, tau), 0) for tau in T if tau <= t - a.lead_time_periods)
                available = a.existing_it_mw + a.block_it_mw * ready
                load += a.pue * served_at[s, t]
                cash[t]["opex"] += ypp * a.opex_usd_per_it_mw_year * available
                ai_capex[t] += a.capex_usd_per_it_mw * a.block_it_mw * h
                if h > 0 and not first_paid and a.existing_it_mw == 0:
                    ai_capex[t] += a.fixed_capex_usd
                    first_paid = True
            if site.btc is not None:
                bt = site.btc
                load += bt.pue * b
                cash[t]["btc_revenue"] += d.btc_revenue[d.opt(s, t, w)] * b
                cash[t]["opex"] += ypp * bt.opex_usd_per_mw_year * b
                if bt.expansion is not None:
                    cash[t]["capex"] += bt.expansion.capex_usd_per_mw * buy.get((s, t), 0.0)
                if bt.demand_response is not None:
                    credit = ypp * bt.demand_response.credit_usd_per_mw_year
                    cash[t]["dr_credit"] += credit * dr.get((s, t), 0.0)
            g = grid.get((s, t), 0.0)
            if site.grid is not None:
                cash[t]["energy_cost"] += d.hours * d.energy_scale[t, w] * sum(
                    share[k] * d.grid_price[s][t, k] * grid_b.get((s, t, k), 0.0)
                    for k in d.blocks)
            rows.append((s, t, year[t], b, buy.get((s, t), 0.0), h, reserved, available,
                         served_at[s, t], g, load, dr.get((s, t), 0.0)))
    for t in T:
        cash[t]["capex"] += ai_capex[t]
    site_periods = pd.DataFrame(rows, columns=SITE_PERIOD_COLUMNS)
    site_periods["halls_started"] = site_periods["halls_started"].astype(int)

    for r in d.sources:
        for t in T:
            cash[t]["energy_cost"] += d.hours * d.energy_scale[t, w] * sum(
                share[k] * d.source_price[r][t, k] * gen_b.get((r, t, k), 0.0)
                for k in d.blocks)

    csp_rows = []
    contract_npv: dict[str, float] = defaultdict(float)
    contract_tail: dict[str, float] = defaultdict(float)
    contract_sites: dict[str, list[str]] = defaultdict(list)
    last = T[-1]
    for (c, s, t), v in serve.items():
        revenue = d.ai_revenue[c, t] * v
        cash[t]["ai_revenue"] += revenue
        cash[t]["energy_recovery"] += d.energy_recovery[c, t] * d.ai(s).pue * d.hours * v
        contract_npv[c] += revenue * d.disc_op[t]
        if t == last:
            contract_tail[c] += d.tail_value.get((c, s), 0.0) * v
        if v > ACCEPT_TOL:
            csp_rows.append((c, s, t, v))
            if s not in contract_sites[c]:
                contract_sites[c].append(s)
    contract_site_periods = pd.DataFrame(csp_rows, columns=CONTRACT_SITE_PERIOD_COLUMNS)

    it_mw = vals["it_mw"]
    crow = []
    for c, con in d.contracts.items():
        mw = it_mw.get(c, 0.0)
        accepted = mw > ACCEPT_TOL or con.committed
        order = [s for s in d.eligible[c] if s in contract_sites[c]]
        crow.append((c, con.tenant, accepted, mw if accepted else 0.0, ";".join(order),
                     contract_npv[c], con.committed, contract_tail[c]))
        cash[con.tenant_capex_at]["tenant_capex"] += con.tenant_capex_usd_per_it_mw * mw
    contracts = pd.DataFrame(crow, columns=CONTRACT_COLUMNS)

    frow = [(arc.link, arc.tail, arc.head, t, flow.get((a, t), 0.0))
            for a, arc in enumerate(d.arcs) for t in T]
    flows = pd.DataFrame(frow, columns=FLOW_COLUMNS)

    debt_discounted, after_horizon, principal = _debt_cash(vals["loan"], d, cash)
    crows = []
    for t in T:
        c_ = cash[t]
        operating = (c_["btc_revenue"] + c_["ai_revenue"] + c_["energy_recovery"]
                     + c_["dr_credit"] - c_["energy_cost"] - c_["opex"])
        investing = c_["capex"] - c_["tenant_capex"]
        net = operating - investing + c_["debt_drawn"] - c_["debt_service"]
        disc = operating * d.disc_op[t] - investing * d.disc_cap[t] + debt_discounted[t]
        crows.append((t, year[t], c_["btc_revenue"], c_["ai_revenue"], c_["energy_cost"],
                      c_["opex"], c_["capex"], net, disc, c_["energy_recovery"],
                      c_["dr_credit"], c_["tenant_capex"], c_["debt_drawn"],
                      c_["debt_service"]))
    cashflows = pd.DataFrame(crows, columns=CASHFLOW_COLUMNS)
    tables = {
        "site_periods": site_periods,
        "contracts": contracts,
        "contract_site_periods": contract_site_periods,
        "flows": flows,
        "cashflows": cashflows,
    }
    if d.instance.market.blocks:
        tables["site_period_blocks"] = _block_rows(d, btc_b, grid_b, dr_b)
    totals = {
        "terminal_value_usd": float(sum(contract_tail.values())),
        "debt_principal_usd": principal,
        "debt_after_horizon_usd": after_horizon,
    }
    return tables, totals


def _weighted(values: dict[Any, float], share: dict[str, float]) -> dict[Any, float]:
    """(key..., block) -> value, as key -> share-weighted average over the blocks."""
    out: dict[Any, float] = defaultdict(float)
    for (*key, b), v in values.items():
        out[tuple(key)] += share[b] * v
    return dict(out)


def _block_rows(d: ModelData, btc: dict[Any, float], grid: dict[Any, float],
                dr: dict[Any, float]) -> pd.DataFrame:
    """site_period_blocks.csv: BTC MW, grid import and DR MW per site, period and block."""
    rows = [
        (s, t, b, btc.get((s, t, b), 0.0), grid.get((s, t, b), 0.0), dr.get((s, t, b), 0.0))
        for s in d.sites for t in d.periods for b in d.blocks
    ]
    return pd.DataFrame(rows, columns=SITE_PERIOD_BLOCK_COLUMNS)


def _debt_cash(loan: dict[Any, float], d: ModelData, cash: dict[int, dict[str, float]]
               ) -> tuple[dict[int, float], float, float]:
    """Fill debt_drawn and debt_service per period (spec v2 D); return each period's
    discounted debt cash, the discounted payments after the horizon and the principal."""
    T = d.periods
    r = d.instance.horizon.discount_rate
    discounted = dict.fromkeys(T, 0.0)
    after = principal = 0.0
    if not d.loans:
        return discounted, after, principal
    loans = {t: v * MONEY_SCALE for t, v in loan.items()}
    end = T[-1] * d.ypp
    for t, schedule in d.loans.items():
        amount = loans.get(t, 0.0)
        if amount == 0.0:
            continue
        principal += amount
        cash[t]["debt_drawn"] += amount
        discounted[t] += amount * d.disc_cap[t]
        for y, factor in schedule.payments:
            payment = factor * amount
            pv = payment * (1.0 + r) ** -y
            if y > end + YEAR_TOL:
                after += pv
                continue
            # the period whose years ((t-1) ypp, t ypp] hold y
            tau = next(p for p in T if y <= p * d.ypp + YEAR_TOL)
            cash[tau]["debt_service"] += payment
            discounted[tau] += -pv
    return discounted, after, principal
