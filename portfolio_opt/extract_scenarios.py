"""The plan of an instance with scenarios (spec v2 B): one set of tables per scenario, E[NPV],
CVaR and the weighted objective.

Per-period tables gain a leading ``scenario`` column; ``contracts.csv`` stays one row per
contract (acceptance and IT MW are decided once), with its NPV and tail value the
probability-weighted means over the scenarios and its sites every site that serves it in
some scenario. ``scenarios.csv`` has each scenario's NPV and whether it is in the CVaR tail.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .constants import SCENARIO_COLUMNS, SUMMARY_TOTALS
from .extract import extract_plan, plan_npv
from .model.data import ModelData

__all__ = ["PER_SCENARIO_TABLES", "cvar", "extract_stochastic", "risk_summary"]

# Tables with one block of rows per scenario (a leading `scenario` column).
PER_SCENARIO_TABLES = ("site_periods", "site_period_blocks", "contract_site_periods", "flows",
                       "cashflows")
_PROB_TOL = 1e-12


def cvar(npv: dict[str, float], prob: dict[str, float], alpha: float) -> tuple[float, float]:
    """(CVaR_alpha, eta*) of the NPV distribution (spec v2 B):

    CVaR_a = eta* - 1/(1-a) sum_w p_w max(0, eta* - NPV_w), with eta* the smallest
    maximiser, the (1-a)-quantile: the smallest NPV_w whose cumulative probability, in
    increasing NPV, reaches 1 - a. With a = 0, eta* is the largest NPV and CVaR = E[NPV].
    """
    order = sorted(npv, key=lambda w: npv[w])
    target = 1.0 - alpha
    cum = 0.0
    eta = npv[order[-1]]
    for w in order:
        cum += prob[w]
        if cum >= target - _PROB_TOL:
            eta = npv[w]
            break
    tail = sum(prob[w] * max(0.0, eta - npv[w]) for w in npv)
    return eta - tail / (1.0 - alpha), eta


def risk_summary(npv: dict[str, float], prob: dict[str, float], alpha: float,
                 weight: float) -> tuple[dict[str, float], pd.DataFrame]:
    """summary.json's risk fields and scenarios.csv from each scenario's NPV (USD)."""
    expected = sum(prob[w] * npv[w] for w in npv)
    value, eta = cvar(npv, prob, alpha)
    fields = {
        "expected_npv_usd": expected,
        "cvar_usd": value,
        "cvar_alpha": alpha,
        "cvar_weight": weight,
        "objective_usd": (1.0 - weight) * expected + weight * value,
    }
    rows = [(w, prob[w], npv[w], bool(npv[w] <= eta)) for w in npv]
    return fields, pd.DataFrame(rows, columns=SCENARIO_COLUMNS)


def extract_stochastic(m: Any, d: ModelData
                       ) -> tuple[dict[str, pd.DataFrame], dict[str, float], dict[str, float],
                                  pd.DataFrame]:
    """(tables, expected totals, risk fields, scenarios table) of a solved model with
    scenarios."""
    u = d.instance.uncertainty
    assert u is not None
    per: dict[str, dict[str, pd.DataFrame]] = {}
    npv: dict[str, float] = {}
    totals = dict.fromkeys(SUMMARY_TOTALS, 0.0)
    for w in d.scenarios:
        tables, tot = extract_plan(m, d, w)
        per[w] = tables
        npv[w] = plan_npv(tables, tot)
        for key in SUMMARY_TOTALS:
            totals[key] += d.probability[w] * tot[key]
    first = per[d.scenarios[0]]
    out: dict[str, pd.DataFrame] = {}
    for name in PER_SCENARIO_TABLES:
        if name not in first:
            continue
        frames = [df.assign(scenario=w) for w, tabs in per.items() for df in [tabs[name]]]
        df = pd.concat(frames, ignore_index=True)
        out[name] = df[["scenario", *first[name].columns]]
    out["contracts"] = _expected_contracts(d, per)
    fields, scenarios = risk_summary(npv, d.probability, u.risk.cvar_alpha, u.risk.cvar_weight)
    return out, totals, fields, scenarios


def _expected_contracts(d: ModelData, per: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    base = per[d.scenarios[0]]["contracts"].copy()
    for col in ("npv_usd", "tail_value_usd"):
        base[col] = sum(d.probability[w] * per[w]["contracts"][col].to_numpy(float)
                        for w in d.scenarios)
    sites = []
    for i, c in enumerate(base["contract"]):
        used = {s for w in d.scenarios
                for s in str(per[w]["contracts"]["sites"].iat[i]).split(";") if s}
        sites.append(";".join(s for s in d.eligible[c] if s in used))
    base["sites"] = sites
    return base
