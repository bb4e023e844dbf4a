"""Explaining infeasibility, which only committed contracts can cause (docs/infeasibility.md).

Three layers, each in the instance's own names:

1. checks on the data alone (:mod:`portfolio_opt.checks`), each a necessary condition for
   a plan, so a failed check proves infeasibility;
2. a deletion filter over the committed contracts: re-solve with one commitment released
   at a time and keep those whose release does not restore feasibility (a minimal
   clashing set);
3. an irreducible infeasible subsystem of the LP relaxation (:mod:`portfolio_opt.iis`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .checks import Cause, data_checks
from .constants import Status
from .model.data import ModelData

__all__ = ["Cause", "data_checks", "diagnose", "explain_infeasible", "minimal_clashing_set"]

_IIS_LINES = 12  # IIS rules printed in the message; all of them are in diagnosis.json


def _committed(d: ModelData) -> list[str]:
    return [c for c, con in d.contracts.items() if con.committed]


# ------------------------------------------------------------------ solver-based layers


def minimal_clashing_set(built: Any, options: dict[str, Any]) -> list[str]:
    """Deletion filter: a minimal set of committed contracts that cannot all be served.

    Runs on its own persistent HiGHS copy of ``built.pyomo``; every ``accept`` it releases
    is fixed back to 1, so the model is left as it was.
    """
    from .solver import PersistentHighs

    d: ModelData = built.data
    m = built.pyomo
    committed = _committed(d)
    engine = PersistentHighs(m)
    probe = dict(options)
    probe["mip_max_improving_sols"] = 1  # any feasible plan answers the question
    keep = list(committed)
    try:
        for c in committed:
            m.accept[c].unfix()
            if engine.solve(probe).status == Status.INFEASIBLE:
                keep.remove(c)  # still infeasible without it: not needed for the clash
            else:
                m.accept[c].fix(1)
    finally:
        for c in committed:
            m.accept[c].fix(1)
    return keep


def diagnose(built: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The explanation printed for an infeasible instance, and diagnosis.json's content."""
    from .iis import compute_iis

    d: ModelData = built.data
    causes = data_checks(d)
    clash = minimal_clashing_set(built, options) if _committed(d) else []
    iis = compute_iis(built, options)
    lines = ["The instance is infeasible: its committed contracts cannot all be served."]
    lines += [f"- {c.text}" for c in causes]
    if clash:
        lines.append(
            f"- these committed contracts clash: {', '.join(repr(c) for c in clash)} (with all "
            "of them committed no plan exists; releasing any one of them makes a plan "
            "possible). Check their eligible sites' capacity, lead times, power supply, "
            "budgets, max_tenant_share and max_contracts."
        )
    # Non-negativity (">= 0") is part of the subsystem but tells a reader nothing: counted.
    signs = sum(1 for c in iis["columns"] if c["bound"] == "lower")
    rules = [r["text"] + f" [{r['name']}]" for r in iis["rows"]]
    rules += [c["text"] + f" [{c['name']} {c['bound']} bound]" for c in iis["columns"]
              if c["bound"] != "lower"]
    if iis["relaxation"] == "infeasible" and rules:
        these = "this rule cannot hold" if len(rules) == 1 else \
            f"these {len(rules)} rules cannot all hold"
        if signs:
            these += f" with {signs} quantities that cannot be negative"
        lines.append(f"- even with fractional halls and yes/no choices {these} (HiGHS "
                     "irreducible infeasible subsystem):")
        lines += [f"    {r}" for r in rules[:_IIS_LINES]]
        if len(rules) > _IIS_LINES:
            lines.append(f"    ... and {len(rules) - _IIS_LINES} more in diagnosis.json")
    elif iis["relaxation"] == "feasible":
        lines.append("- with fractional halls and yes/no choices a plan would exist: the "
                     "conflict lies in whole halls, a first hall's fixed capex or max_sites")
    message = "\n".join(lines)
    return message, {
        "instance": d.instance.name,
        "status": str(Status.INFEASIBLE),
        "message": message,
        "causes": [asdict(c) for c in causes],
        "clashing_contracts": clash,
        "iis": iis,
    }


def explain_infeasible(built: Any, engine: Any, options: dict[str, Any]) -> str:
    """The explanation text only (``engine`` is not used: the probes run on their own copy)."""
    return diagnose(built, options)[0]
