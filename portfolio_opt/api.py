"""The library's entry points: load, build, solve, explain. The CLI calls these."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .constants import Status
from .instance import Instance
from .loader import read_document
from .results import Result, extract_plan, plan_npv
from .validate import check_instance, validate_data

if TYPE_CHECKING:
    from .monitor import SolveProgress

__all__ = ["Model", "build", "solve"]

log = logging.getLogger(__name__)


@dataclass
class Model:
    """A built model ready to solve: the validated instance, its data and the Pyomo model."""

    instance: Instance
    data: Any  # portfolio_opt.model.ModelData
    pyomo: Any  # pyomo ConcreteModel
    build_seconds: float
    instance_sha256: str | None
    # True once release_structure() dropped the constraints and the objective (HiGHS holds
    # them); restore_structure() rebuilds them.
    released: bool = False


def _coerce(source: str | Path | Instance | dict[str, Any]) -> tuple[Instance, str | None]:
    if isinstance(source, Instance):
        check_instance(source, f"<instance {source.name}>")
        text = source.model_dump_json(by_alias=True, exclude_none=True)
        return source, hashlib.sha256(text.encode()).hexdigest()
    if isinstance(source, dict):
        text = json.dumps(source, sort_keys=True, default=str)
        return validate_data(source, "<dict>"), hashlib.sha256(text.encode()).hexdigest()
    loaded = read_document(source)
    return validate_data(loaded.data, str(source)), loaded.sha256


def build(
    source: str | Path | Instance | dict[str, Any],
    *,
    mutable: bool = False,
    data: Any = None,
) -> Model:
    """Validate and build the Pyomo model (no solve).

    ``mutable=True`` builds with symbolic parameters for re-solving variants (see
    :class:`portfolio_opt.scenario.ScenarioEngine`); ``data`` passes already prepared data.
    """
    from .model import build_model, prepare

    instance, sha = _coerce(source)
    t0 = time.perf_counter()
    if data is None:
        data = prepare(instance)
    model = build_model(data, mutable=mutable)
    return Model(instance, data, model, time.perf_counter() - t0, sha)


def solve(
    source: str | Path | Instance | dict[str, Any],
    *,
    profile: str | Path = "default",
    time_limit: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    marginal_values: bool = True,
    mip_start: bool = True,
    progress: Callable[[SolveProgress], None] | None = None,
    value_of_information: bool = False,
) -> Result:
    """Solve an instance (a file path, an :class:`Instance` or a plain dict).

    Never silent about non-optimal outcomes: ``result.status``, ``result.mip_gap`` and
    ``result.message`` say what happened. Raises :class:`InputError` for invalid input.
    ``marginal_values=False`` skips ``result.marginal_values`` (docs/marginal_values.md).

    ``mip_start`` first solves the plan without new lease offers and hands it to HiGHS as
    a start (docs/usage.md#the-mip-start). Ctrl-C during the solve (in the main thread)
    stops HiGHS and returns the best plan found with status ``interrupted``. ``progress``
    is called with a :class:`~portfolio_opt.monitor.SolveProgress` about four times a
    second; the same events are logged at INFO on ``portfolio_opt.solver`` once a second.

    ``value_of_information=True`` (an instance with ``uncertainty``) adds ``evpi_usd`` and
    ``vss_usd`` to ``result.risk`` (spec v2 B; one more solve per scenario and two for the
    mean-value plan, each with the same options; docs/uncertainty.md).
    """
    from .model.build import gc_paused
    from .monitor import SolveMonitor
    from .solver import solver_options

    options = solver_options(profile, time_limit=time_limit, mip_gap=mip_gap, threads=threads)
    with gc_paused():
        built = build(source)
        engine = handoff(built, keep_lp=marginal_values)
        if not marginal_values and type(engine).__name__ == "DirectHighs":
            # HiGHS holds the model and the plan is read from the variables alone: the
            # constraint expressions would only sit in memory through the solve.
            release_structure(built)
        result = result_from_solve(built, engine, options, str(profile),
                                   marginals=marginal_values, monitor=SolveMonitor(progress),
                                   mip_start=mip_start)
    if value_of_information:
        _add_value_of_information(result, built, options, str(profile), mip_start)
    return result


def _add_value_of_information(result: Result, built: Model, options: dict[str, Any],
                              profile: str, mip_start: bool) -> None:
    """evpi_usd and vss_usd into result.risk (spec v2 B), details into result.extra."""
    from .value_of_information import fix_first_stage, value_of_information

    if result.risk is None:
        result.extra["value_of_information"] = "not computed: the instance has no uncertainty"
        return
    if not result.has_plan or result.status == Status.INTERRUPTED:
        result.extra["value_of_information"] = "not computed: no plan to compare"
        return

    def solve_one(instance: Instance, fix: Model | None = None) -> tuple[Result, Model]:
        from .model.build import gc_paused

        with gc_paused():
            one = build(instance)
            if fix is not None:
                fix_first_stage(one.pyomo, fix.pyomo, one.data.multi_stage)
            res = result_from_solve(one, handoff(one), options, profile, explain=False,
                                    mip_start=mip_start and fix is None)
        return res, one

    found = value_of_information(result, built.instance, solve_one)
    result.risk["evpi_usd"] = found["evpi_usd"]
    result.risk["vss_usd"] = found["vss_usd"]
    result.extra["value_of_information"] = found["details"]


# From this many variables the standard-form hand-off beats the persistent interface even
# counting its one-off import of scipy.sparse (about 0.3 s): at 2,400-3,700 variables the
# two are within 0.2 s either way, from 6,700 on the direct one is faster, with or without
# scenarios (benchmarks/probe_handoff.py, docs/performance.md).
DIRECT_HANDOFF_MIN_VARS = 4_000


def model_size(built: Model) -> int:
    """Number of variables of a built model (from its index sets, without walking it)."""
    m = built.pyomo
    per_block = len(m.S_btc) + len(m.S_grid) + len(m.R) + len(m.A) + len(m.S_dr)
    scenarios = len(m.W) if built.data.by_scenario else 1
    per_period = (len(m.S_exp) + len(m.S_hall) + len(m.S_fix)
                  + scenarios * len(m.B) * per_block)
    return (len(m.T) * per_period + len(m.CST) + len(m.CS_uses) + 2 * len(m.C)
            + len(m.T_loan))


def handoff(built: Model, how: str = "auto", keep_lp: bool = False) -> Any:
    """Hand the model to HiGHS: ``direct`` (standard-form compiler + passModel),
    ``persistent`` (Pyomo's persistent interface) or ``auto`` (direct for large models).
    ``keep_lp``: a direct hand-off keeps its compiled LP for marginal values."""
    from .solver import DirectHighs, PersistentHighs

    if how == "auto":
        how = "direct" if model_size(built) >= DIRECT_HANDOFF_MIN_VARS else "persistent"
    return DirectHighs(built.pyomo, keep_lp) if how == "direct" else PersistentHighs(built.pyomo)


def release_structure(built: Model) -> None:
    """Drop the Pyomo model's constraints and objective once HiGHS holds the model.

    Only for a model handed off directly (:class:`~portfolio_opt.solver.DirectHighs`: it
    keeps the variables and loads the solution into them; the persistent interface reads
    the constraints on every solve). The variables, sets and parameters stay, which is all
    the plan's tables read; :func:`restore_structure` rebuilds the rest for marginal values
    or the infeasibility diagnosis. At 5,000 sites this takes the process from about 680
    to 440 MB as HiGHS starts its search (docs/performance.md, memory).
    """
    from pyomo.core import Constraint, Expression, Objective

    m = built.pyomo
    for kind in (Constraint, Objective, Expression):
        for component in list(m.component_objects(kind, descend_into=True)):
            # Emptied first: a scalar component is its own data (a reference cycle the
            # paused collector would keep, with the expression it holds).
            component.clear()
            component.parent_block().del_component(component)
    built.released = True
    _return_free_memory()


def _return_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc only; elsewhere a no-op), so
    that what the release freed does not stay resident beside HiGHS's search."""
    import ctypes
    import sys
    from contextlib import suppress

    if not sys.platform.startswith("linux"):
        return
    with suppress(OSError, AttributeError):  # AttributeError: not glibc (e.g. musl)
        ctypes.CDLL(None).malloc_trim(0)  # the C library the interpreter runs on


def restore_structure(built: Model) -> Model:
    """``built`` with its constraints and objective: itself unless released, else a model
    rebuilt from ``built.data`` carrying the released model's variable values and fixings."""
    if not built.released:
        return built
    from pyomo.core import Var

    from .model import build_model

    old = built.pyomo
    new = build_model(built.data)
    for var in old.component_objects(Var, descend_into=True):
        target = new.find_component(var.name)
        for index, vdata in var.items():
            tdata = target[index]
            tdata.set_value(vdata.value, skip_validation=True)
            if vdata.fixed != tdata.fixed:
                tdata.fixed = vdata.fixed
    return Model(built.instance, built.data, new, built.build_seconds, built.instance_sha256)


def _feasibility_model(built: Model) -> Model:
    """The model whose infeasibility explains ``built``'s: itself, or for an instance with
    scenarios the deterministic instance at the mean hashprice (scenarios change prices
    only, never what is feasible, so every scenario is infeasible for the same reasons)."""
    instance = built.instance
    if instance.uncertainty is None:
        return restore_structure(built)
    from .instance import Market

    market = Market(hashprice_usd_per_ph_day=list(built.data.hashprice.values()),
                    blocks=instance.market.blocks)
    return build(instance.model_copy(update={"uncertainty": None, "market": market}))


def result_from_solve(built: Model, engine: Any, options: dict[str, Any], profile: str,
                      *, marginals: bool = False, explain: bool = True, monitor: Any = None,
                      mip_start: bool = False) -> Result:
    """Solve the held model once and turn the outcome into a :class:`Result`.

    ``marginals=True`` adds ``result.marginal_values`` (one more LP solve after the MILP).
    ``explain=False`` skips the infeasibility diagnosis (several re-solves) and says so.
    ``monitor`` (a :class:`~portfolio_opt.monitor.SolveMonitor`) reports progress and
    turns Ctrl-C into status ``interrupted``; ``mip_start`` hands HiGHS a start first.
    """
    from .model import MONEY_SCALE

    if monitor is None and not mip_start:
        outcome = engine.solve(options)  # batches: the engines' plain signature
    else:
        outcome = engine.solve(options, monitor=monitor, mip_start=mip_start)
    result = Result(
        status=outcome.status,
        objective_npv_usd=None,
        mip_gap=outcome.mip_gap,
        objective_bound_usd=None if outcome.bound is None else outcome.bound * MONEY_SCALE,
        solver="highs",
        solver_version=engine.version,
        solve_seconds=outcome.solve_seconds,
        build_seconds=built.build_seconds,
        instance_sha256=built.instance_sha256,
        instance_name=built.instance.name,
        termination=outcome.termination,
        extra={"handoff_seconds": round(outcome.handoff_seconds, 6),
               "solver_profile": profile, "solver_options": options},
    )
    if mip_start:
        result.extra["mip_start"] = None if outcome.start is None else outcome.start.summary()
    if outcome.status == Status.INTERRUPTED:
        gap = ("gap unknown" if outcome.mip_gap is None
               else f"relative gap {outcome.mip_gap:.3%}")
        result.message = (f"interrupted (Ctrl-C) after {outcome.solve_seconds:.1f} s; "
                          + (f"the best plan found so far, {gap}" if outcome.has_solution
                             else "no plan had been found"))
    interrupted_plan = outcome.status == Status.INTERRUPTED and outcome.has_solution
    if outcome.status.has_plan or interrupted_plan:
        if built.data.by_scenario:
            from .extract_scenarios import extract_stochastic

            tables, totals, risk, scenarios = extract_stochastic(built.pyomo, built.data)
            result.risk = dict(risk)
            result.scenarios = scenarios
            npv = risk["expected_npv_usd"]
        else:
            tables, totals = extract_plan(built.pyomo, built.data)
            npv = plan_npv(tables, totals)
        for key, df in tables.items():
            setattr(result, key, df)
        result.totals = dict(totals)
        result.objective_npv_usd = npv
        if outcome.status == Status.FEASIBLE:
            result.message = (
                f"stopped by a limit ({outcome.termination}) with a feasible plan; "
                + (f"relative gap {outcome.mip_gap:.3%}" if outcome.mip_gap is not None
                   else "gap unknown")
                + ("" if outcome.bound_source == "HiGHS" or outcome.mip_gap is None else
                   f" (bound from the {outcome.bound_source}: the limit came before HiGHS's "
                   "first bound)")
            )
            result.extra["bound_source"] = outcome.bound_source
        if marginals and not interrupted_plan and built.data.by_scenario:
            result.extra["marginal_values"] = (
                "not computed: marginal values are for instances without uncertainty "
                "(docs/uncertainty.md)")
        elif marginals and not interrupted_plan:
            from .marginal import marginal_values

            compiled = None if built.released else getattr(engine, "compiled", None)
            result.marginal_values = marginal_values(restore_structure(built), options,
                                                     compiled, outcome.solve_seconds)
    elif outcome.status == Status.INTERRUPTED:
        pass  # no plan: the message says so
    elif outcome.status == Status.INFEASIBLE:
        from .diagnose import diagnose

        if explain:
            # The diagnosis re-solves on its own persistent copy, whichever path this took.
            result.message, result.diagnosis = diagnose(_feasibility_model(built), options)
        else:
            committed = [c for c, con in built.data.contracts.items() if con.committed]
            result.message = (
                "infeasible: the committed contracts "
                + ", ".join(repr(c) for c in committed)
                + " cannot all be served (diagnosis skipped; solve this scenario alone "
                "for the reasons)"
            )
    elif outcome.status == Status.TIME_LIMIT_NO_SOLUTION:
        result.message = f"no feasible plan found within the limits ({outcome.termination})"
    else:
        result.message = f"HiGHS ended with status '{outcome.termination}'"
    return result
