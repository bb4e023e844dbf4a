"""The efficient frontier of an instance with scenarios: E[NPV] against CVaR (spec v2 B).

The objective of an uncertain instance is ``(1 - w) E[NPV] + w CVaR_a``. Sweeping the CVaR
weight w from 0 (risk-neutral) to 1 (only the worst (1 - a) of the probability mass
counts) traces how much expected NPV each plan gives up for a better bad case.

The model is built once, with mutable parameters, and held in one persistent HiGHS
instance (:class:`~portfolio_opt.scenario.ScenarioEngine`): each further weight changes the
parameter ``p_cvar_weight`` (and nothing else) and re-solves. ``frame.attrs`` records how
many builds and updates that took.

Ties: with w > 0 two optimal plans may differ in E[NPV] (at w = 1 every scenario outside
the CVaR tail is free). The solves therefore use the weight ``w (1 - tie_break)``, which
gives E[NPV] a share ``w * tie_break`` (1e-6 by default) more: among plans of the same
weighted objective the one with the higher E[NPV] wins, and a plan's weighted objective at
w moves by at most ``w * tie_break * (E[NPV] - CVaR)``. Every reported number
(``objective_usd`` included) is computed from the plan at the nominal weight.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd

from .errors import MISSING, InputError, InputIssue
from .instance import Instance
from .results import Result

__all__ = ["FRONTIER_COLUMNS", "TIE_BREAK", "FrontierPoint", "Plan", "describe_change",
           "efficient_frontier", "plan_of"]

TIE_BREAK = 1e-6
FRONTIER_COLUMNS = ["weight", "alpha", "status", "mip_gap", "expected_npv_usd", "cvar_usd",
                    "objective_usd", "new_it_mw", "contracted_it_mw", "contracts_accepted",
                    "change", "solve_seconds"]
_MW_TOL = 1e-6
MINUS = "\u2212"


@dataclass(frozen=True)
class FrontierPoint:
    """What the ``progress`` callback receives after each weight's solve."""

    index: int  # 1-based
    total: int
    weight: float
    status: str
    expected_npv_usd: float | None
    cvar_usd: float | None
    seconds: float
    change: str

    def text(self) -> str:
        def musd(x: float | None) -> str:
            return "-" if x is None else f"{x / 1e6:,.2f} MUSD"

        return (f"frontier {self.index}/{self.total}: weight {self.weight:g}  {self.status}  "
                f"E[NPV] {musd(self.expected_npv_usd)}  CVaR {musd(self.cvar_usd)}  "
                f"({self.seconds:.1f} s)  {self.change}")


@dataclass
class Plan:
    """The first-stage decisions of a plan, as expectations over its scenarios."""

    contracts: dict[str, float]  # accepted contract -> IT MW
    halls: dict[str, dict[int, float]] = field(default_factory=dict)  # site -> period -> IT MW
    asics: dict[str, float] = field(default_factory=dict)  # site -> MW of ASICs bought

    @property
    def new_it_mw(self) -> float:
        return sum(sum(by_t.values()) for by_t in self.halls.values())

    @property
    def contracted_it_mw(self) -> float:
        return sum(self.contracts.values())


def _issue(source: str, fld: str, value: Any, expected: str) -> InputError:
    return InputError([InputIssue(source, "frontier", fld, value, expected)])


def _check(instance: Instance, source: str, weights: Sequence[float],
           alpha: float | None) -> list[float]:
    if instance.uncertainty is None:
        raise InputError([InputIssue(
            source, "instance", "uncertainty", MISSING,
            "the efficient frontier trades E[NPV] against CVaR over scenarios, so the "
            "instance needs an 'uncertainty' block with scenarios (spec v2 B; "
            "docs/uncertainty.md); 'portfolio-opt scenarios' writes one")])
    bad = [w for w in weights if not (isinstance(w, (int, float)) and 0.0 <= w <= 1.0)]
    if not weights or bad:
        raise _issue(source, "weights", bad or list(weights),
                     "expected one or more CVaR weights between 0 and 1, e.g. "
                     "0,0.25,0.5,0.75,1")
    if alpha is not None and not (isinstance(alpha, (int, float)) and 0.0 <= alpha < 1.0):
        raise _issue(source, "alpha", alpha, "expected a CVaR level in [0, 1), e.g. 0.95")
    return sorted(set(float(w) for w in weights))


def _variant(base: Instance, weight: float, alpha: float | None) -> Instance:
    """The base with risk.cvar_weight (and cvar_alpha) set; the values checked by _check."""
    u = base.uncertainty
    assert u is not None
    update: dict[str, float] = {"cvar_weight": weight}
    if alpha is not None:
        update["cvar_alpha"] = alpha
    risk = u.risk.model_copy(update=update)
    return base.model_copy(update={"uncertainty": u.model_copy(update={"risk": risk})})


def plan_of(result: Result, instance: Instance) -> Plan | None:
    """The plan's contracts, halls (IT MW by site and start period) and ASIC purchases,
    probability-weighted over the scenarios (None without a plan)."""
    if not result.has_plan or result.site_periods is None or result.scenarios is None:
        return None
    prob = dict(zip(result.scenarios["scenario"], result.scenarios["probability"],
                    strict=True))
    sp = result.site_periods
    p = sp["scenario"].map(prob).astype(float)
    block = {s.id: s.ai.block_it_mw for s in instance.sites if s.ai is not None}
    it_mw = sp["halls_started"] * sp["site"].map(block).fillna(0.0) * p
    halls: dict[str, dict[int, float]] = {}
    for key, mw in it_mw.groupby([sp["site"], sp["period"]]).sum().items():
        site, period = cast(tuple[Any, Any], key)
        if abs(mw) > _MW_TOL:
            halls.setdefault(str(site), {})[int(period)] = float(mw)
    bought = (sp["btc_bought_mw"] * p).groupby(sp["site"]).sum()
    asics = {str(s): float(mw) for s, mw in bought.items() if abs(mw) > _MW_TOL}
    con = result.contracts
    contracts = ({} if con is None else
                 {str(c): float(mw) for c, ok, mw in zip(con["contract"], con["accepted"],
                                                         con["it_mw"], strict=True) if ok})
    return Plan(contracts, halls, asics)


def _mw(x: float) -> str:
    return f"{round(abs(x), 1):,.10g}"


def _signed(x: float) -> str:
    return ("+" if x > 0 else MINUS) + _mw(x)


def describe_change(prev: Plan | None, cur: Plan | None) -> str:
    """What ``cur`` does differently from ``prev``: contracts taken or dropped (or resized),
    IT MW of halls per site, MW of ASIC purchases per site."""
    if cur is None:
        return "no plan"
    if prev is None:
        return "first plan"
    items = []
    for c in dict.fromkeys([*prev.contracts, *cur.contracts]):
        a, b = prev.contracts.get(c), cur.contracts.get(c)
        if a is None and b is not None:
            items.append(f"+ contract {c} ({_mw(b)} IT MW)")
        elif a is not None and b is None:
            items.append(f"{MINUS} contract {c}")
        elif a is not None and b is not None and abs(a - b) > _MW_TOL:
            items.append(f"contract {c} {_mw(a)} \u2192 {_mw(b)} IT MW")
    for s in dict.fromkeys([*prev.halls, *cur.halls]):
        a_t, b_t = prev.halls.get(s, {}), cur.halls.get(s, {})
        delta = sum(b_t.values()) - sum(a_t.values())
        if abs(delta) > _MW_TOL:
            items.append(f"{_signed(delta)} IT MW halls at {s}")
        elif any(abs(a_t.get(t, 0.0) - b_t.get(t, 0.0)) > _MW_TOL for t in {*a_t, *b_t}):
            items.append(f"halls at {s} started in other periods")
    for s in dict.fromkeys([*prev.asics, *cur.asics]):
        delta = cur.asics.get(s, 0.0) - prev.asics.get(s, 0.0)
        if abs(delta) > _MW_TOL:
            items.append(f"{_signed(delta)} MW ASIC purchases at {s}")
    return "; ".join(items) if items else "same investments"


def _money(result: Result, key: str) -> float:
    value = (result.risk or {}).get(key)
    return math.nan if value is None else float(value)


def efficient_frontier(
    source: str | Path | Instance | dict[str, Any],
    weights: Sequence[float],
    *,
    alpha: float | None = None,
    profile: str | Path = "default",
    time_limit: float | None = None,
    mip_gap: float | None = None,
    threads: int | None = None,
    tie_break: float = TIE_BREAK,
    progress: Callable[[FrontierPoint], None] | None = None,
) -> pd.DataFrame:
    """Solve an instance with ``uncertainty`` at each CVaR weight (sorted, each once).

    Returns one row per weight (:data:`FRONTIER_COLUMNS`); ``frame.attrs`` holds the
    instance's name and sha256, the solver options and the engine's counts
    (``model_builds`` is 1: every later weight is a parameter update). ``alpha`` replaces
    the instance's ``risk.cvar_alpha`` for every point. ``time_limit`` is per point.
    Raises :class:`InputError` for an instance without ``uncertainty`` or a bad weight.
    """
    from .api import _coerce
    from .scenario import ScenarioEngine

    base, sha = _coerce(source)
    where = str(source) if isinstance(source, (str, Path)) else f"<instance {base.name}>"
    ws = _check(base, where, weights, alpha)
    assert base.uncertainty is not None
    a = base.uncertainty.risk.cvar_alpha if alpha is None else float(alpha)
    engine = ScenarioEngine(base, profile=profile, time_limit=time_limit, mip_gap=mip_gap,
                            threads=threads, source=where)
    rows: list[dict[str, Any]] = []
    prev: Plan | None = None
    for k, w in enumerate(ws, start=1):
        t0 = time.perf_counter()
        result = engine.solve(_variant(base, w * (1.0 - tie_break), alpha))
        plan = plan_of(result, base)
        e, c = _money(result, "expected_npv_usd"), _money(result, "cvar_usd")
        change = describe_change(prev, plan) if k > 1 or plan is None else "first point"
        rows.append({
            "weight": w, "alpha": a, "status": str(result.status), "mip_gap": result.mip_gap,
            "expected_npv_usd": e, "cvar_usd": c, "objective_usd": (1.0 - w) * e + w * c,
            "new_it_mw": math.nan if plan is None else plan.new_it_mw,
            "contracted_it_mw": math.nan if plan is None else plan.contracted_it_mw,
            "contracts_accepted": "" if plan is None else ";".join(plan.contracts),
            "change": change, "solve_seconds": result.solve_seconds,
        })
        if plan is not None:
            prev = plan
        if progress is not None:
            progress(FrontierPoint(k, len(ws), w, str(result.status),
                                   None if plan is None else e, None if plan is None else c,
                                   time.perf_counter() - t0, change))
    frame = pd.DataFrame(rows, columns=FRONTIER_COLUMNS)
    s = engine.stats
    frame.attrs.update(
        instance_name=base.name, instance_sha256=sha, source=where,
        structure=base.uncertainty.structure, scenarios=len(base.uncertainty.scenarios),
        cvar_alpha=a, tie_break=tie_break, solver_profile=str(profile),
        solver_options=engine.options, model_builds=s.rebuilds, model_updates=s.updates,
        build_seconds=s.build_seconds, solve_seconds=s.solve_seconds)
    return frame
