"""What the uncertainty is worth (spec v2 B): EVPI and VSS of a stochastic plan.

EVPI = sum_w p_w z*_w - z          (z*_w: scenario w solved alone, risk-neutral)
VSS  = z - z(x_EV)                  (x_EV: the mean-value problem's first-stage plan)

z is the stochastic objective ``objective_usd``; the mean-value problem is the instance with
the probability-weighted hashprice and energy-price scale; z(x_EV) is the stochastic
objective with halls, first halls, ASIC purchases, acceptance, it_mw, the sites used and
serve fixed, in every period (and every node), at x_EV, and the rest optimised per scenario.
Every solve uses the caller's solver options, so both values hold up to the MIP gap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .instance import Instance, Risk, Scenario, Uncertainty

if TYPE_CHECKING:
    from .results import Result

__all__ = ["FIXED_BY_MEAN_VALUE", "fix_first_stage", "mean_value_instance",
           "single_scenario_instance", "value_of_information"]

log = logging.getLogger(__name__)

# The decisions spec v2 B lists under two_stage: what VSS fixes at the mean-value plan.
FIXED_BY_MEAN_VALUE = ("halls", "first_hall", "buy_mw", "accept", "it_mw", "uses", "serve")


def single_scenario_instance(instance: Instance, scenario: Scenario) -> Instance:
    """The instance with only ``scenario`` (probability 1, risk-neutral, two-stage)."""
    u = instance.uncertainty
    assert u is not None
    alone = scenario.model_copy(update={"probability": 1.0})
    return instance.model_copy(update={"uncertainty": Uncertainty(
        scenarios=[alone], structure="two_stage",
        risk=Risk(cvar_alpha=u.risk.cvar_alpha, cvar_weight=0.0))})


def mean_value_instance(instance: Instance) -> Instance:
    """The mean-value problem: one scenario with the probability-weighted hashprice and
    energy-price scale of every period."""
    u = instance.uncertainty
    assert u is not None
    T = instance.horizon.periods
    hp = [0.0] * T
    scale = [0.0] * T
    for sc in u.scenarios:
        for i, (h, s) in enumerate(zip(instance.series(sc.hashprice_usd_per_ph_day),
                                       instance.series(sc.energy_price_scale), strict=True)):
            hp[i] += sc.probability * h
            scale[i] += sc.probability * s
    mean = Scenario(id="mean_value", probability=1.0, hashprice_usd_per_ph_day=hp,
                    energy_price_scale=scale)
    return single_scenario_instance(instance, mean)


def fix_first_stage(model: Any, plan: Any, multi_stage: bool) -> int:
    """Fix ``model``'s first-stage variables at ``plan``'s values (a one-scenario model of
    the same instance); under multi_stage every node's copy takes the one value."""
    fixed = 0
    for name in FIXED_BY_MEAN_VALUE:
        var, source = model.component(name), plan.component(name)
        if var is None or source is None:
            continue
        staged = multi_stage and name in ("halls", "first_hall", "buy_mw", "serve")
        for key, v in var.items():
            k = (key[:-1] if len(key) > 2 else key[0]) if staged else key
            value = source[k].value or 0.0
            if v.is_integer() or v.is_binary():
                value = round(value)
            lb, ub = v.lb, v.ub
            value = max(value, lb) if lb is not None else value
            value = min(value, ub) if ub is not None else value
            v.fix(value)
            fixed += 1
    return fixed


def value_of_information(result: Result, instance: Instance, solve_one: Any) -> dict[str, Any]:
    """EVPI and VSS for a solved stochastic ``result`` of ``instance``.

    ``solve_one(instance, fix=None)`` solves an instance and returns (Result, built model);
    with ``fix`` (a built model) it first fixes the first-stage decisions at that model's
    values. Returns the summary fields and the details (each solve's objective and status).
    """
    u = instance.uncertainty
    assert u is not None and result.risk is not None
    z = result.risk["objective_usd"]
    assert z is not None
    details: dict[str, Any] = {"wait_and_see": {}}
    ws = 0.0
    ok = True
    for sc in u.scenarios:
        alone, _ = solve_one(single_scenario_instance(instance, sc))
        log.info("scenario %s alone: %s, NPV %s", sc.id, alone.status, alone.objective_npv_usd)
        details["wait_and_see"][sc.id] = {"status": str(alone.status),
                                          "npv_usd": alone.objective_npv_usd,
                                          "mip_gap": alone.mip_gap}
        ok = ok and alone.objective_npv_usd is not None
        ws += sc.probability * (alone.objective_npv_usd or 0.0)
    mean, mean_model = solve_one(mean_value_instance(instance))
    details["mean_value"] = {"status": str(mean.status), "npv_usd": mean.objective_npv_usd,
                             "mip_gap": mean.mip_gap}
    eev = None
    if mean.objective_npv_usd is not None:
        fixed, _ = solve_one(instance, fix=mean_model)
        eev = None if fixed.risk is None else fixed.risk["objective_usd"]
        details["mean_value_plan"] = {"status": str(fixed.status), "objective_usd": eev,
                                      "mip_gap": fixed.mip_gap}
    details["wait_and_see_usd"] = ws if ok else None
    return {
        "evpi_usd": ws - z if ok else None,
        "vss_usd": None if eev is None else z - eev,
        "details": details,
    }
