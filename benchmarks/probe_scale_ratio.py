"""The first scale target, (prepare + build + hand-off) / HiGHS's MPS read, in alternating
fresh processes with the collector paused and on.

    python benchmarks/probe_scale_ratio.py [--sites 5000] [--rounds 3] [--against OLD_TREE]
        [OUT.json]

The instance is the stage table's: ``generate_instance(sites, 10, sites // 4, seed=1)``,
the same JSON file (``_scale.generated_instance``). One fresh process builds it as
``portfolio_opt.solve`` does and writes the MPS file of the very model handed to HiGHS;
then each round times, each in its own fresh process, prepare + build + direct hand-off
with the garbage collector paused (as ``solve`` runs), HiGHS reading the MPS file, the
same build with the collector on, and the read again. A round's ratio is over the mean of
its two reads: HiGHS's read moves by up to a third run to run on a shared machine, more
than the build does. ``--against OLD_TREE`` (another checkout, ``git worktree add /tmp/old
COMMIT``) also times that tree's paused build in every round, next to this one's and in
alternating order, for a before/after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _scale import generated_instance, machine_info, work_dir

BENCH = Path(__file__).resolve().parent
CHILD = r"""
import gc, sys, time
from portfolio_opt.api import Model, handoff
from portfolio_opt.loader import read_document
from portfolio_opt.lp_copy import standard_form_compiler
from portfolio_opt.model import build_model, prepare
from portfolio_opt.validate import validate_data
standard_form_compiler()  # imports paid up front, as in the stage table
path, mode, mps = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "paused":
    gc.disable()
doc = read_document(path)
inst = validate_data(doc.data, path)
t = time.perf_counter()
d = prepare(inst)
m = build_model(d)
e = handoff(Model(inst, d, m, 0.0, doc.sha256), "direct")
print(time.perf_counter() - t)
if mps != "-":
    e.highs.writeModel(mps)
"""

def _run(code: str, *args: str, tree: str | None = None) -> float:
    env = None if tree is None else {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                         text=True, check=True, env=env).stdout
    return float(out.split()[-1])


def _read(mps: str) -> float:
    """HiGHS alone reading the MPS file, in a fresh process (``_floor.py ... read``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "read.json"
        subprocess.run([sys.executable, str(BENCH / "_floor.py"), mps, "{}", str(out), "read"],
                       check=True, stdout=subprocess.DEVNULL)
        return float(json.loads(out.read_text(encoding="utf-8"))["read_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", default="", help="another checkout to time beside this one")
    ap.add_argument("out", nargs="?", default="")
    args = ap.parse_args()
    inst = generated_instance(args.sites, 10, args.sites // 4, 1)
    mps = str(work_dir() / f"ratio-s{args.sites}.mps")
    _run(CHILD, str(inst), "paused", mps)
    rounds: list[dict[str, Any]] = []
    for i in range(args.rounds):
        old = None
        if args.against and i % 2 == 1:
            old = _run(CHILD, str(inst), "paused", "-", tree=args.against)
        paused = _run(CHILD, str(inst), "paused", "-")
        if args.against and i % 2 == 0:
            old = _run(CHILD, str(inst), "paused", "-", tree=args.against)
        read1 = _read(mps)
        on = _run(CHILD, str(inst), "on", "-")
        read2 = _read(mps)
        read = (read1 + read2) / 2
        row = {"build_handoff_paused_s": paused, "build_handoff_gc_on_s": on,
               "mps_read_s": [read1, read2], "ratio_paused": paused / read,
               "ratio_gc_on": on / read}
        if old is not None:
            row |= {"against": args.against, "against_build_handoff_paused_s": old,
                    "against_ratio_paused": old / read}
        rounds.append(row)
        print(f"round {i + 1}: build + hand-off {paused:.2f} s (collector paused), "
              f"{on:.2f} s (on); MPS read {read1:.2f} / {read2:.2f} s; ratio "
              f"{paused / read:.2f} paused, {on / read:.2f} on"
              + ("" if old is None else f"; {args.against}: {old:.2f} s, {old / read:.2f}"),
              flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(
            {"machine": machine_info(), "sites": args.sites, "rounds": rounds}, indent=1)
            + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
