"""Statuses, exit codes, output file names and columns: defined once, used everywhere."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ACCEPT_TOL",
    "CASHFLOW_COLUMNS",
    "CONTRACT_COLUMNS",
    "CONTRACT_SITE_PERIOD_COLUMNS",
    "EXIT_CODES",
    "FLOW_COLUMNS",
    "MARGINAL_COLUMNS",
    "OUTPUT_FILES",
    "RISK_FIELDS",
    "SCENARIO_COLUMNS",
    "SITE_PERIOD_BLOCK_COLUMNS",
    "SITE_PERIOD_COLUMNS",
    "SUMMARY_TOTALS",
    "Status",
]


class Status(StrEnum):
    """Outcome of a solve, as written to summary.json."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"  # a plan, stopped by a limit before proving the gap
    INFEASIBLE = "infeasible"  # only possible through committed contracts
    TIME_LIMIT_NO_SOLUTION = "time_limit_no_solution"
    INTERRUPTED = "interrupted"  # Ctrl-C: the best plan found so far, if any, with its gap
    ERROR = "error"

    @property
    def has_plan(self) -> bool:
        """Always a plan (an interrupted solve may or may not have one)."""
        return self in (Status.OPTIMAL, Status.FEASIBLE)


EXIT_CODES = {
    Status.OPTIMAL: 0,
    Status.FEASIBLE: 0,
    Status.INFEASIBLE: 3,
    Status.TIME_LIMIT_NO_SOLUTION: 4,
    Status.ERROR: 4,
    Status.INTERRUPTED: 130,  # as a shell reports a process ended by SIGINT
}
EXIT_INPUT_ERROR = 2

# A contract is reported accepted above this IT MW; a site serves above it too.
ACCEPT_TOL = 1e-6

SITE_PERIOD_COLUMNS = [
    "site", "period", "year", "btc_mw", "btc_bought_mw", "halls_started",
    "ai_reserved_it_mw", "ai_available_it_mw", "ai_served_it_mw", "grid_import_mw",
    "gross_load_mw",
    "dr_mw",  # spec v2 C: share-weighted gross MW standing ready to shed
]
# site_period_blocks.csv (spec v2 C; written only for an instance with market.blocks)
SITE_PERIOD_BLOCK_COLUMNS = ["site", "period", "block", "btc_mw", "grid_import_mw", "dr_mw"]
CONTRACT_COLUMNS = [
    "contract", "tenant", "accepted", "it_mw", "sites", "npv_usd", "committed",
    "tail_value_usd",  # spec v2 A
]
CONTRACT_SITE_PERIOD_COLUMNS = ["contract", "site", "period", "it_mw"]
FLOW_COLUMNS = ["link", "from", "to", "period", "flow_mw"]
CASHFLOW_COLUMNS = [
    "period", "year", "btc_revenue", "ai_revenue", "energy_cost", "opex", "capex", "net",
    "discounted",
    "energy_recovery", "dr_credit", "tenant_capex",  # spec v2 A (dr_credit: part C)
    "debt_drawn", "debt_service",  # spec v2 D
]
# summary.json totals that complete the NPV identity (spec v2 A and D):
# objective_npv_usd = sum(discounted) + terminal_value_usd - debt_after_horizon_usd
SUMMARY_TOTALS = ["terminal_value_usd", "debt_principal_usd", "debt_after_horizon_usd"]
# summary.json of an instance with `uncertainty` (spec v2 B), after objective_npv_usd
RISK_FIELDS = ["expected_npv_usd", "cvar_usd", "cvar_alpha", "cvar_weight", "objective_usd"]
# scenarios.csv (spec v2 B)
SCENARIO_COLUMNS = ["scenario", "probability", "npv_usd", "in_cvar_tail"]
# marginal_values.csv (docs/marginal_values.md)
MARGINAL_COLUMNS = [
    "kind", "entity", "direction", "period", "year", "value_usd_per_unit",
    "value_next_unit_usd", "unit", "binding", "limit", "note",
]

OUTPUT_FILES = {
    "summary": "summary.json",
    "site_periods": "site_periods.csv",
    "site_period_blocks": "site_period_blocks.csv",
    "scenarios": "scenarios.csv",
    "contracts": "contracts.csv",
    "contract_site_periods": "contract_site_periods.csv",
    "flows": "flows.csv",
    "cashflows": "cashflows.csv",
    "marginal_values": "marginal_values.csv",
    "diagnosis": "diagnosis.json",
}
