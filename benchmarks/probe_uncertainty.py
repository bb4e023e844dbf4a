"""The long scenario runs (spec v2 B) that bench_uncertainty.py leaves out: solve time against
N, the largest N HiGHS solves to 1e-3 within 10 minutes, and mpi-sppy on one case.

    nohup python benchmarks/probe_uncertainty.py > probe_uncertainty.log 2>&1 &
    python benchmarks/probe_uncertainty.py --parts table --ns 5,10,25 --limit 300
    python benchmarks/probe_uncertainty.py --parts largest --start 100 --limit 600
    python benchmarks/probe_uncertainty.py --parts mpisppy --ph-n 10   # pip install mpi-sppy

Parts (``--parts``, default ``table,largest,mpisppy``):

- ``table``: each structure and N of ``--ns`` (default 5,10,25,50,100) built, handed off
  and solved in a fresh process (benchmarks/_uncertainty.py: the MIP start first, one
  thread, gap 1e-3, ``--limit`` s, default 300); into the ``solve`` part of
  benchmarks/results/uncertainty.json. A case already stored with the same limit is
  skipped (``--redo`` measures it again), so an interrupted probe resumes.
- ``largest``: per structure, N from ``--start`` (100) doubled while HiGHS proves 1e-3
  within ``--largest-limit`` s (600), halved instead if the start fails, then the midpoint
  between the largest success and the smallest failure; at most ``--max-n`` (3,200).
  Into the ``largest`` part.
- ``mpisppy``: benchmarks/_ph_uncertainty.py on the two_stage set with ``--ph-n`` (10)
  scenarios, risk-neutral, against the extensive form of the same set (at most
  ``--ph-iterations`` (50) PH iterations or ``--ph-limit`` (600) s); a note instead when
  mpi-sppy is not installed. Into the ``mpisppy`` part.

Every case is stored as soon as it ends, with the 1-minute load average before and after
it, and the page section is re-rendered; Ctrl-C keeps what was stored.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

# The benchmark helpers, and this source tree before any installed copy of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scale import BENCH_DIR, machine_info, run_json, work_dir
from _uncertainty import (
    STRUCTURES,
    case_key,
    instance_file,
    measure_solve,
    update_results,
)
from bench_uncertainty import SOLVE_GAP, render, solved, store_solve


def _log(res: dict[str, Any]) -> None:
    print(json.dumps({k: res.get(k) for k in (
        "structure", "n", "status", "mip_gap", "solve_s", "solve_wall_s", "nodes", "cols",
        "load_before", "load_after")}), flush=True)


def _one(part: str, structure: str, n: int, limit: float) -> dict[str, Any]:
    instance_file(n, structure)
    res = measure_solve(n, structure, limit, SOLVE_GAP)
    _log(res)
    render(store_solve(part, res))
    return res


def table(structures: list[str], ns: list[int], limit: float, redo: bool) -> None:
    path = BENCH_DIR / "results" / "uncertainty.json"
    done = json.loads(path.read_text()).get("solve", {}).get("cases", {}) if path.exists() \
        else {}
    for structure in structures:
        for n in ns:
            old = done.get(case_key(structure, n))
            if not redo and old is not None and old["options"]["time_limit"] == limit:
                print(f"{case_key(structure, n)}: stored, skipped", flush=True)
                continue
            _one("solve", structure, n, limit)


def largest(structures: list[str], start: int, limit: float, max_n: int) -> None:
    for structure in structures:
        ok: dict[int, bool] = {}

        def attempt(n: int, structure: str = structure, ok: dict[int, bool] = ok) -> bool:
            ok[n] = solved(_one("largest", structure, n, limit), limit)
            return ok[n]

        n = start
        if attempt(n):
            while n * 2 <= max_n and attempt(n * 2):
                n *= 2
        else:
            while n > 1 and not attempt(n // 2):
                n //= 2
        good = max((k for k, v in ok.items() if v), default=None)
        bad = min((k for k, v in ok.items() if not v and (good is None or k > good)),
                  default=None)
        if good is not None and bad is not None and bad - good > 1:
            attempt((good + bad) // 2)


def mpisppy(n: int, iter_limit: int, limit: float) -> None:
    if importlib.util.find_spec("mpisppy") is None:
        result: dict[str, Any] = {"error": "mpi-sppy is not installed "
                                           "(`pip install mpi-sppy`)"}
    else:
        out = work_dir() / f"uncertainty-ph-n{n}.json"
        load0 = os.getloadavg()
        try:
            result = run_json([str(BENCH_DIR / "_ph_uncertainty.py"), str(n),
                               str(iter_limit), str(limit), str(out)], out,
                              timeout=6 * limit + 3600)
        except RuntimeError as exc:
            result = {"error": str(exc)[-600:]}
        result["load_before"] = [round(v, 2) for v in load0]
        result["load_after"] = [round(v, 2) for v in os.getloadavg()]
    result["machine"] = machine_info()
    print(json.dumps({k: v for k, v in result.items() if k != "machine"})[:2000], flush=True)

    def store(data: dict[str, Any]) -> None:
        data["mpisppy"] = result

    render(update_results(store))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="table,largest,mpisppy")
    ap.add_argument("--structures", default=",".join(STRUCTURES))
    ap.add_argument("--ns", default="5,10,25,50,100")
    ap.add_argument("--limit", type=float, default=300.0)
    ap.add_argument("--redo", action="store_true")
    ap.add_argument("--start", type=int, default=100)
    ap.add_argument("--largest-limit", type=float, default=600.0)
    ap.add_argument("--max-n", type=int, default=3200)
    ap.add_argument("--ph-n", type=int, default=10)
    ap.add_argument("--ph-iterations", type=int, default=50)
    ap.add_argument("--ph-limit", type=float, default=600.0)
    args = ap.parse_args()
    parts = args.parts.split(",")
    structures = args.structures.split(",")
    print(f"load {os.getloadavg()}", flush=True)
    if "table" in parts:
        table(structures, [int(n) for n in args.ns.split(",")], args.limit, args.redo)
    if "largest" in parts:
        largest(structures, args.start, args.largest_limit, args.max_n)
    if "mpisppy" in parts:
        mpisppy(args.ph_n, args.ph_iterations, args.ph_limit)
    print(f"done; load {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
