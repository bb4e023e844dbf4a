"""One function builds the model, in a fixed order: sets, variables, constraints, objective."""

from __future__ import annotations

from collections.abc import Callable

import pyomo.core as pyo

from ..gcpause import gc_paused
from .constraints import (
    define_ai_first_hall_constraints,
    define_ai_first_hall_cumulative_constraints,
    define_ai_hall_limit_constraints,
    define_btc_demand_response_constraints,
    define_btc_expansion_constraints,
    define_btc_fleet_constraints,
    define_capex_budget_constraints,
    define_contract_fixed_allocation_constraints,
    define_contract_group_constraints,
    define_contract_halls_ready_constraints,
    define_contract_serve_constraints,
    define_contract_single_site_constraints,
    define_contract_site_room_constraints,
    define_contract_sites_constraints,
    define_contract_size_constraints,
    define_debt_constraints,
    define_hall_block_constraints,
    define_max_contracts_constraints,
    define_power_balance_constraints,
    define_site_ai_capacity_constraints,
    define_site_envelope_constraints,
    define_tenant_share_constraints,
)
from .data import ModelData
from .objective import define_objective
from .params import define_parameters
from .variables import define_sets, define_variables

__all__ = ["CONSTRAINT_FAMILIES", "build_model", "gc_paused"]

Family = Callable[[pyo.ConcreteModel, ModelData], None]

# The order is fixed; each family reads only sets, variables and the data.
CONSTRAINT_FAMILIES: tuple[Family, ...] = (
    define_btc_fleet_constraints,
    define_btc_expansion_constraints,
    define_btc_demand_response_constraints,
    define_ai_hall_limit_constraints,
    define_ai_first_hall_constraints,
    define_ai_first_hall_cumulative_constraints,
    define_hall_block_constraints,
    define_contract_size_constraints,
    define_contract_serve_constraints,
    define_contract_sites_constraints,
    define_contract_single_site_constraints,
    define_contract_halls_ready_constraints,
    define_contract_site_room_constraints,
    define_contract_group_constraints,
    define_contract_fixed_allocation_constraints,
    define_site_ai_capacity_constraints,
    define_site_envelope_constraints,
    define_power_balance_constraints,
    define_debt_constraints,
    define_capex_budget_constraints,
    define_tenant_share_constraints,
    define_max_contracts_constraints,
)


def build_model(
    data: ModelData, extra: Family | None = None, *, mutable: bool = False
) -> pyo.ConcreteModel:
    """Build the Pyomo MILP for prepared data, in the fixed order: sets, parameters,
    variables, constraints, objective. ``extra`` may add user constraints last.

    ``mutable=True`` keeps every parameter symbolic so that a same-structure variant can be
    solved with :func:`~portfolio_opt.model.params.update_parameters` and a re-solve.
    """
    with gc_paused():
        m = pyo.ConcreteModel(name=data.instance.name)
        define_sets(m, data)
        define_parameters(m, data, mutable=mutable)
        define_variables(m, data)
        for family in CONSTRAINT_FAMILIES:
            family(m, data)
        if extra is not None:
            extra(m, data)
        define_objective(m, data)
    return m
