"""One hard-portfolio measurement in a fresh process (used by bench_hard.py).

    python benchmarks/_hard.py INSTANCE VARIANT TIME_LIMIT OUT.json [--no-start]

Loads INSTANCE, prepares it under the ``Formulation`` of VARIANT (``VARIANTS``), builds
the model, hands it to HiGHS as ``portfolio_opt.solve`` does (``api.handoff(built,
"auto")``), measures the LP relaxation of that model, and solves it as the product does
(the MIP start first unless ``--no-start``; one thread; relative gap 1e-4; TIME_LIMIT
seconds in all, the start's time included). HiGHS writes its log to a file next to OUT;
the root dual bound is read from it: the best bound of the last log line before the first
node was processed (after presolve, root cuts and root heuristics).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from _scale import lp_relaxation_bound

# name -> (Formulation keyword arguments, extra HiGHS options). "base" is the formulation
# as it was before the hard-portfolio work (main at ad2ee37): no single-site cuts.
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "base": ({"single_site_cuts": False, "site_hall_cuts": False, "first_hall_cuts": False},
             {}),
    "strong": ({}, {}),  # the package's default
    "all_cuts": ({"first_hall_cuts": True}, {}),
    "single_site": ({"site_hall_cuts": False, "first_hall_cuts": False}, {}),
    "site_halls": ({"single_site_cuts": False, "first_hall_cuts": False}, {}),
    "first_hall": ({"single_site_cuts": False, "site_hall_cuts": False}, {}),
    "power": ({"power_bounds": True}, {}),  # U_cs also from the power that can reach s
    "room": ({"site_room_cuts": True}, {}),  # contract_site_room
    # HiGHS options on top of a formulation. The options above are HiGHS's own defaults with
    # the gap and one thread; the default profile (solvers/default.yaml) is strong_heur2's.
    "strong_heur": ({}, {"mip_heuristic_effort": 0.3}),
    "all_cuts_heur": ({"first_hall_cuts": True}, {"mip_heuristic_effort": 0.3}),
    "strong_heur1": ({}, {"mip_heuristic_effort": 0.1}),
    "strong_heur2": ({}, {"mip_heuristic_effort": 0.2}),
    "strong_heur6": ({}, {"mip_heuristic_effort": 0.6}),
    "strong_heur10": ({}, {"mip_heuristic_effort": 1.0}),
    "strong_pscost2": ({}, {"mip_pscost_minreliable": 2}),  # less strong branching (8)
    "strong_pscost4": ({}, {"mip_pscost_minreliable": 4}),
    # HiGHS's parallel tree search on both cores (HiGHS >= 1.12: parallel "on", threads 2)
    "strong_parallel": ({}, {"parallel": "on", "threads": 2}),
}

_ROW = re.compile(
    r"^\s*([A-Z]?)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+%)\s+(\S+)\s+(\S+)\s+(\S+)")


def root_bound_from_log(text: str) -> float | None:
    """The BestBound of the last B&B log row with no node processed yet (the root).

    Only the main solve's log is read: the part after the last "Solving MIP model with"."""
    part = text.rsplit("Solving MIP model with", 1)[-1]
    bound = None
    for line in part.splitlines():
        m = _ROW.match(line)
        if m is None:
            continue
        if int(m.group(2)) > 0:  # Proc.: nodes processed
            break
        try:
            bound = float(m.group(6))
        except ValueError:
            continue
    return bound


def measure(instance: Path, variant: str, time_limit: float, out: Path,
            mip_start: bool = True) -> dict[str, Any]:
    from portfolio_opt.api import Model, handoff
    from portfolio_opt.loader import load_instance
    from portfolio_opt.model import Formulation, build_model, prepare
    from portfolio_opt.model.build import gc_paused

    form_kw, extra = VARIANTS[variant]
    log_file = out.with_suffix(".log")
    log_file.unlink(missing_ok=True)
    with gc_paused():
        inst = load_instance(instance)
        t0 = time.perf_counter()
        data = prepare(inst, formulation=Formulation(**form_kw))
        model = build_model(data)
        built = Model(inst, data, model, time.perf_counter() - t0, None)
        engine = handoff(built)
        build_s = time.perf_counter() - t0
        h = engine.highs
        cols, rows, nnz = h.getNumCol(), h.getNumRow(), h.getNumNz()
        lp = lp_relaxation_bound(h)
        options = {"mip_rel_gap": 1e-4, "threads": 1, "time_limit": time_limit,
                   "output_flag": True, "log_to_console": False, "log_file": str(log_file),
                   **extra}
        outcome = engine.solve(options, mip_start=mip_start)
    info = h.getInfo()
    text = log_file.read_text() if log_file.exists() else ""
    root = root_bound_from_log(text)
    obj = outcome.objective
    best_known = obj

    def gap(bound: float | None) -> float | None:
        if bound is None or best_known is None:
            return None
        return (bound - best_known) / abs(best_known)

    start = outcome.start
    return {
        "instance": instance.stem, "variant": variant, "mip_start": mip_start,
        "time_limit": time_limit, "cols": cols, "rows": rows, "nnz": nnz,
        "build_s": build_s, "status": str(outcome.status),
        "solve_s": outcome.solve_seconds,  # HiGHS run time, the start's included
        "start_s": None if start is None else start.seconds,
        "objective": obj, "bound": outcome.bound, "mip_gap": outcome.mip_gap,
        "nodes": int(info.mip_node_count), "lp_bound": lp, "root_bound": root,
        "lp_gap": gap(lp), "root_gap": gap(root),
    }


def main(argv: list[str]) -> None:
    instance, variant, limit, out = Path(argv[0]), argv[1], float(argv[2]), Path(argv[3])
    res = measure(instance, variant, limit, out, mip_start="--no-start" not in argv)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1:])
