"""Which integer decisions carry a hard portfolio's gap (docs/performance.md, "Hard portfolios").

    python benchmarks/probe_hard_structure.py INSTANCE OUT.json [--limit S] [--plan-limit S]

Builds INSTANCE's model, hands it to HiGHS through the standard-form (direct) hand-off and
measures, each on a fresh HiGHS copy of the same LP (one thread, relative gap 1e-4, S
seconds each, default 120):

- ``lp``: the LP relaxation's optimum (no integer variable);
- ``only:<family>``: the model with only that family of variables integer (the others
  relaxed) -- how much of the gap its integrality alone closes;
- ``relax:<family>``: every family integer except that one;
- ``fixed:<family>``: that family fixed at a plan found by the product within --plan-limit
  seconds (default 240) -- is the rest easy once those decisions are made?

Each row reports status, best objective, dual bound and nodes. Families are the model's
integer variables: ``accept``, ``uses``, ``halls``, ``first_hall``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

FAMILIES = ("accept", "uses", "halls", "first_hall")


def _run(lp: Any, limit: float) -> dict[str, Any]:
    import highspy

    h = highspy.Highs()
    for key, value in {"output_flag": False, "threads": 1, "time_limit": limit,
                       "mip_rel_gap": 1e-4}.items():
        h.setOptionValue(key, value)
    h.passModel(lp)
    t0 = time.perf_counter()
    h.run()
    info = h.getInfo()
    mip = bool(lp.integrality_) and any(int(k) != 0 for k in lp.integrality_)
    return {
        "status": h.modelStatusToString(h.getModelStatus()),
        "objective": float(info.objective_function_value),
        "bound": float(info.mip_dual_bound) if mip else float(info.objective_function_value),
        "nodes": int(info.mip_node_count) if mip else 0,
        "seconds": time.perf_counter() - t0,
    }


def probe(instance: Path, limit: float, plan_limit: float) -> dict[str, Any]:
    import highspy

    from portfolio_opt.api import Model, handoff
    from portfolio_opt.loader import load_instance
    from portfolio_opt.model import build_model, prepare
    from portfolio_opt.model.build import gc_paused

    with gc_paused():
        inst = load_instance(instance)
        data = prepare(inst)
        model = build_model(data)
        engine = handoff(Model(inst, data, model, 0.0, None), "direct")
    h = engine.highs
    family = [v.parent_component().name for v in engine.columns]
    integ = list(h.getLp().integrality_)
    cont = highspy.HighsVarType.kContinuous
    rows: dict[str, Any] = {}

    def with_integer(keep: set[str]) -> Any:
        lp = h.getLp()
        lp.integrality_ = [k if family[j] in keep else cont for j, k in enumerate(integ)]
        return lp

    rows["lp"] = _run(with_integer(set()), limit)
    for fam in FAMILIES:
        rows[f"only:{fam}"] = _run(with_integer({fam}), limit)
        print(fam, rows[f"only:{fam}"], flush=True)
    for fam in FAMILIES:
        rows[f"relax:{fam}"] = _run(with_integer(set(FAMILIES) - {fam}), limit)
        print(fam, rows[f"relax:{fam}"], flush=True)

    out = engine.solve({"mip_rel_gap": 1e-4, "threads": 1, "time_limit": plan_limit},
                       mip_start=True)
    plan = list(h.getSolution().col_value)
    rows["plan"] = {"status": str(out.status), "objective": out.objective,
                    "bound": out.bound, "seconds": out.solve_seconds}
    for fam in FAMILIES:
        lp = h.getLp()
        lo, up = list(lp.col_lower_), list(lp.col_upper_)
        for j, name in enumerate(family):
            if name == fam:
                lo[j] = up[j] = float(round(plan[j]))
        lp.col_lower_, lp.col_upper_ = lo, up
        rows[f"fixed:{fam}"] = _run(lp, limit)
        print(fam, rows[f"fixed:{fam}"], flush=True)
    counts = {fam: sum(1 for j, k in enumerate(integ) if k != cont and family[j] == fam)
              for fam in FAMILIES}
    return {"instance": instance.stem, "limit": limit, "integer_columns": counts,
            "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instance", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--limit", type=float, default=120.0)
    ap.add_argument("--plan-limit", type=float, default=240.0)
    args = ap.parse_args()
    res = probe(args.instance, args.limit, args.plan_limit)
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res["rows"], indent=1))


if __name__ == "__main__":
    main()
