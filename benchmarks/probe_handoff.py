"""Where the standard-form hand-off starts to beat the persistent one (the threshold
``api.DIRECT_HANDOFF_MIN_VARS``).

    python benchmarks/probe_handoff.py [OUT.json]      # about 3 minutes on 2 cores

Each case is a fresh process (``child``) that imports the package, builds the model as
``portfolio_opt.solve`` does (collector paused), hands it to HiGHS by one path
(``api.handoff(built, "direct" | "persistent")``) and solves it (one thread, gap 1e-4,
the MIP start on, no marginal values). The hand-off seconds include the path's one-off
imports (scipy.sparse and Pyomo's standard-form compiler for ``direct``, Pyomo's
persistent interface for ``persistent``), which is what a single solve pays. Every case
runs twice, the two paths alternating. Instances: the realistic portfolio, the same with 3
and 5 scenarios (``portfolio-opt scenarios --paths 200 --reduce K --seed 7``), generated
``generate_instance(N, 8, 3N/10, 1)`` for N = 50, 100, 200, 400, and the held-out seed
101 of the hard-portfolio comparison (``generate_instance(200, 8, 60, 101)``).
HiGHS's own time differs between the paths (the column order differs), so the table shows
it but the break-even is read from the hand-off and the work after HiGHS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = Path(os.environ.get("PORTFOLIO_OPT_BENCH_DIR", "/tmp/portfolio_opt_bench")) / "handoff"
DEFAULT_OUT = BENCH / "results" / "handoff.json"


def instances() -> list[Path]:
    """The instance files, written once into WORK."""
    from portfolio_opt.generate import generate_instance, write_instance
    from portfolio_opt.scenario_gen import model_from_options, run_scenarios

    WORK.mkdir(parents=True, exist_ok=True)
    realistic = REPO / "instances" / "us_portfolio.yaml"
    out = [realistic]
    for k in (3, 5):
        path = WORK / f"us_portfolio-sc{k}.yaml"
        if not path.exists():
            run_scenarios(realistic, path, paths=200, seed=7, reduce=k,
                          model=model_from_options())
        out.append(path)
    for sites, seed, contracts in ((50, 1, 15), (100, 1, 30), (200, 1, 60), (400, 1, 120),
                                   (200, 101, 60)):
        path = WORK / f"gen-s{sites}-t8-c{contracts}-seed{seed}.json"
        if not path.exists():
            write_instance(generate_instance(sites, 8, contracts, seed), path)
        out.append(path)
    return out


def child(how: str, path: str) -> dict[str, Any]:
    """One case in this (fresh) process."""
    from portfolio_opt import api
    from portfolio_opt.model.build import gc_paused
    from portfolio_opt.solver import solver_options

    options = solver_options("default", threads=1, mip_gap=1e-4)
    with gc_paused():
        built = api.build(path)
        t0, c0 = time.perf_counter(), time.process_time()
        engine = api.handoff(built, how)
        t1, c1 = time.perf_counter(), time.process_time()
        result = api.result_from_solve(built, engine, options, "default", mip_start=True)
        t2 = time.perf_counter()
    return {"how": how, "instance": Path(path).name, "variables": api.model_size(built),
            "handoff_s": t1 - t0, "handoff_cpu_s": c1 - c0, "highs_s": result.solve_seconds,
            "after_highs_s": (t2 - t1) - result.solve_seconds, "status": str(result.status),
            "npv_usd": result.objective_npv_usd}


def main(out: Path) -> None:
    runs: list[dict[str, Any]] = []
    paths = instances()
    for rnd in (1, 2):
        for i, path in enumerate(paths):
            order = ("persistent", "direct") if (i + rnd) % 2 else ("direct", "persistent")
            for how in order:
                proc = subprocess.run([sys.executable, __file__, "child", how, str(path)],
                                      capture_output=True, text=True, check=True, cwd=REPO)
                run = json.loads(proc.stdout.strip().splitlines()[-1])
                run["round"] = rnd
                runs.append(run)
                print(f"{run['instance']:36s} {how:10s} {run['variables']:7,d} variables  "
                      f"hand-off {run['handoff_s']:.3f} s  after HiGHS "
                      f"{run['after_highs_s']:.3f} s  HiGHS {run['highs_s']:.2f} s", flush=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "load_average": os.getloadavg(),
            "command": sys.argv}
    out.write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    print(render(runs))


def render(runs: list[dict[str, Any]]) -> str:
    """Median-free summary: mean over the rounds of each path, by instance."""
    rows = ["| instance | variables | hand-off persistent s | hand-off direct s | after HiGHS "
            "persistent / direct s | faster |", "|---|---:|---:|---:|---|---|"]
    names = dict.fromkeys(r["instance"] for r in runs)
    for name in names:
        of = {how: [r for r in runs if r["instance"] == name and r["how"] == how]
              for how in ("persistent", "direct")}

        def mean(how: str, key: str, of: dict[str, list[dict[str, Any]]] = of) -> float:
            return sum(r[key] for r in of[how]) / len(of[how])

        p = mean("persistent", "handoff_s") + mean("persistent", "after_highs_s")
        d = mean("direct", "handoff_s") + mean("direct", "after_highs_s")
        rows.append(f"| {name} | {of['direct'][0]['variables']:,} | "
                    f"{mean('persistent', 'handoff_s'):.3f} | {mean('direct', 'handoff_s'):.3f} | "
                    f"{mean('persistent', 'after_highs_s'):.3f} / "
                    f"{mean('direct', 'after_highs_s'):.3f} | "
                    f"{'direct' if d < p else 'persistent'} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
    elif len(sys.argv) > 1 and sys.argv[1] == "render":
        print(render(json.loads(Path(sys.argv[2]).read_text())["runs"]))
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
