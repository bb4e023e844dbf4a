"""Build and standard-form compile of the stage table's generated instance, two source trees
side by side: what a change to the model's expressions does to the hand-off.

    python benchmarks/probe_compile.py OLD_TREE [--sites 5000] [--rounds 3] [OUT.json]

OLD_TREE is another checkout of this repository (``git worktree add /tmp/old COMMIT``); the
working tree this file lives in is "new". Each round runs one fresh process per tree, the
order alternating, with the garbage collector paused as ``solve`` runs. A process builds
the model (``build_model``), builds the objective once more alone (``define_objective``)
and compiles the whole model (``compile_lp``, what the direct hand-off passes to HiGHS);
it reports wall and CPU seconds of each. The instance is
``generate_instance(sites, 10, sites // 4, seed=1)`` (``_scale.generated_instance``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _scale import generated_instance, machine_info

REPO = Path(__file__).resolve().parent.parent
CHILD = r"""
import gc, json, sys, time
from portfolio_opt.loader import read_document
from portfolio_opt.lp_copy import compile_lp, standard_form_compiler
from portfolio_opt.model import build_model, prepare
from portfolio_opt.model.objective import define_objective
from portfolio_opt.validate import validate_data
standard_form_compiler()
gc.disable()
path = sys.argv[1]
inst = validate_data(read_document(path).data, path)
d = prepare(inst)
out = {}
def timed(key, f):
    w, c = time.perf_counter(), time.process_time()
    r = f()
    out[key + "_s"] = time.perf_counter() - w
    out[key + "_cpu_s"] = time.process_time() - c
    return r
m = timed("build", lambda: build_model(d))
m.del_component(m.npv)
timed("objective", lambda: define_objective(m, d))
lp, _ = timed("compile", lambda: compile_lp(m, names=False))
out["columns"], out["rows"] = lp.num_col_, lp.num_row_
print(json.dumps(out))
"""


def _run(tree: Path, instance: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(instance)], capture_output=True,
                         text=True, check=True, env=env, cwd=str(tree)).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("--sites", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("out", nargs="?", default="")
    args = ap.parse_intermixed_args()
    inst = generated_instance(args.sites, 10, args.sites // 4, 1)
    trees = {"new": REPO, "old": args.old.resolve()}
    runs: list[dict[str, Any]] = []
    for i in range(args.rounds):
        order = ["new", "old"] if i % 2 == 0 else ["old", "new"]
        for tag in order:
            r = {"round": i + 1, "tree": tag, **_run(trees[tag], inst)}
            runs.append(r)
            print(f"round {i + 1} {tag}: build {r['build_s']:.2f} s, objective "
                  f"{r['objective_s']:.2f} s, compile {r['compile_s']:.2f} s "
                  f"(CPU {r['build_cpu_s']:.2f} / {r['objective_cpu_s']:.2f} / "
                  f"{r['compile_cpu_s']:.2f})", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine_info(), "sites": args.sites,
                                              "old": str(args.old), "runs": runs}, indent=2),
                                  encoding="utf-8")


if __name__ == "__main__":
    main()
