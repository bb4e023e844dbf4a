"""Explaining infeasibility, which only committed contracts can cause.

Cheap checks on the data first (too many committed contracts; a contract needing more IT MW
than its eligible sites can ever have ready by its start), then a deletion filter over the
committed contracts: re-solve with one commitment released at a time and keep only those
whose release does not restore feasibility. What remains is a minimal clashing set.
"""

from __future__ import annotations

from typing import Any

from .constants import Status
from .model.data import ModelData

__all__ = ["data_checks", "explain_infeasible", "minimal_clashing_set"]


def data_checks(d: ModelData) -> list[str]:
    """Plain reasons visible in the data alone, in the instance's own names."""
    reasons = []
    committed = [c for c, con in d.contracts.items() if con.committed]
    cap = d.instance.limits.max_contracts
    if cap is not None and len(committed) > cap:
        reasons.append(
            f"{len(committed)} contracts are committed ({', '.join(map(repr, committed))}) "
            f"but limits.max_contracts is {cap}"
        )
    for c in committed:
        con = d.contracts[c]
        need = con.it_mw.min
        if need <= 0:
            continue
        start = con.start_period
        ready = []
        for s in d.eligible[c]:
            a = d.ai(s)
            by_start = a.existing_it_mw
            if start - a.lead_time_periods >= 1:
                by_start += a.block_it_mw * d.hall_max[s]
            ready.append((by_start, s, a))
        ready.sort(reverse=True)
        best = ready[: con.max_sites]
        most = sum(x[0] for x in best)
        if not d.eligible[c]:
            reasons.append(f"committed contract '{c}' needs {need:g} IT MW but no site is "
                           "eligible for it (no AI site matches its 'eligible')")
        elif most + 1e-9 < need:
            parts = ", ".join(
                f"'{s}' {v:g} (existing {a.existing_it_mw:g} + halls ready by period {start}, "
                f"lead time {a.lead_time_periods}, max_it_mw {a.max_it_mw:g})"
                for v, s, a in best
            )
            reasons.append(
                f"committed contract '{c}' needs {need:g} IT MW from period {start}; its best "
                f"{len(best)} eligible site(s) (max_sites {con.max_sites}) can have at most "
                f"{most:g} IT MW available by then: {parts}"
            )
    return reasons


def minimal_clashing_set(engine: Any, d: ModelData, options: dict[str, Any]) -> list[str]:
    """Deletion filter: a minimal set of committed contracts that cannot all be served."""
    m = engine.model
    committed = [c for c, con in d.contracts.items() if con.committed]
    probe = dict(options)
    probe["mip_max_improving_sols"] = 1  # any feasible plan answers the question
    keep = list(committed)
    try:
        for c in committed:
            m.accept[c].unfix()
            outcome = engine.solve(probe)
            if outcome.status == Status.INFEASIBLE:
                keep.remove(c)  # still infeasible without it: not needed for the clash
            else:
                m.accept[c].fix(1)
    finally:
        for c in committed:
            m.accept[c].fix(1)
    return keep


def explain_infeasible(built: Any, engine: Any, options: dict[str, Any]) -> str:
    d: ModelData = built.data
    committed = [c for c, con in d.contracts.items() if con.committed]
    lines = ["The instance is infeasible: its committed contracts cannot all be served."]
    for reason in data_checks(d):
        lines.append(f"- {reason}")
    if committed:
        clash = minimal_clashing_set(engine, d, options)
        if clash:
            names = ", ".join(repr(c) for c in clash)
            lines.append(
                f"- these committed contracts clash: {names} (with all of them committed no "
                "plan exists; releasing any one of them makes a plan possible). Check their "
                "eligible sites' capacity, lead times, power supply, budgets, "
                "max_tenant_share and max_contracts."
            )
    return "\n".join(lines)
