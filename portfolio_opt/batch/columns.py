"""Batch statuses and table columns: defined once, used by the runners, store and analyses."""

from __future__ import annotations

from ..constants import Status

__all__ = [
    "CRASHED",
    "HAS_NPV",
    "INVALID",
    "RESULT_COLUMNS",
    "RISK_COLUMNS",
    "SITE_PERIOD_COLUMNS",
    "STATUSES",
    "period_columns",
    "result_columns",
]

# A batch row's status: the engine's five, plus two that only a batch can produce.
CRASHED = "crashed"  # the worker died on this scenario on every attempt (1 + 2 retries)
INVALID = "invalid"  # the scenario's instance breaks a rule of the format
STATUSES = (*(str(s) for s in Status), CRASHED, INVALID)
HAS_NPV = (str(Status.OPTIMAL), str(Status.FEASIBLE))  # rows that carry a plan and an NPV

# results.parquet: these, then one column per varied parameter (named by its path) right
# after "scenario", then the per-period totals of period_columns().
RESULT_COLUMNS = [
    "scenario", "status", "objective_npv_usd", "mip_gap", "objective_bound_usd",
    "solve_seconds", "build_seconds", "wall_seconds", "model_built", "attempts", "message",
]
# Spec v2 B: a base instance with `uncertainty` adds these right after objective_npv_usd
# (which is then E[NPV]); see risk_columns().
RISK_COLUMNS = ["expected_npv_usd", "cvar_usd", "objective_usd"]
SITE_PERIOD_COLUMNS = ["scenario", "site", "period", "btc_mw", "ai_served_it_mw",
                       "halls_started"]


def period_columns(periods: int) -> list[str]:
    """Total BTC MW hashing and AI IT MW served, per period: btc_mw_p1.., ai_it_mw_p1.."""
    return ([f"btc_mw_p{t}" for t in range(1, periods + 1)]
            + [f"ai_it_mw_p{t}" for t in range(1, periods + 1)])


def result_columns(parameters: list[str], periods: int, uncertain: bool) -> list[str]:
    """results.parquet's columns: scenario, the parameters, RESULT_COLUMNS (with
    RISK_COLUMNS after objective_npv_usd when the base has ``uncertainty``), the periods."""
    fixed = RESULT_COLUMNS[1:]
    if uncertain:
        at = fixed.index("objective_npv_usd") + 1
        fixed = [*fixed[:at], *RISK_COLUMNS, *fixed[at:]]
    return [RESULT_COLUMNS[0], *parameters, *fixed, *period_columns(periods)]
