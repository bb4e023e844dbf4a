"""Measure, then regenerate docs/performance.md's tables and docs/images/scaling.png.

    python benchmarks/report.py                       # everything (about 12 minutes)
    python benchmarks/report.py --only cli,peer       # some parts; the others' numbers stay
    python benchmarks/report.py --render-only         # page and plot from the stored JSON

Parts: scale (bench_scale.py), peer (bench_peer.py), cli (bench_cli.py), formulation
(bench_formulation.py), profile (profile_build.py, needs ``pip install pyinstrument``);
``--only blocks`` (bench_blocks.py, about 10 minutes more) is not part of a run without
``--only``: it writes benchmarks/results/blocks.json and its own section of the page, which
``--render-only`` also rebuilds. ``--only imports`` (bench_imports.py, about 2 minutes)
likewise writes benchmarks/results/imports.json and the start-up section.
The benchmarks run under pytest-benchmark; their ``extra_info`` is stored in
benchmarks/results/performance.json, from which every table and ratio is computed. The
page's hand-written text lies outside the ``<!-- BEGIN measured -->`` markers and the batch
section (benchmarks/bench_batch.py) is left as it is.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _render_other import cli_lines, formulation_lines, peer_lines, profile_lines
from _render_scale import (
    cpu_lines,
    derived,
    exponent_lines,
    machine_lines,
    memory_lines,
    plot_scaling,
    scale_lines,
    targets_lines,
)
from _scale import BENCH_DIR, PYTHON, REPO, machine_info

RESULTS = BENCH_DIR / "results" / "performance.json"
BLOCKS_RESULTS = BENCH_DIR / "results" / "blocks.json"
PAGE = REPO / "docs" / "performance.md"
PLOT = REPO / "docs" / "images" / "scaling.png"
BEGIN, END = "<!-- BEGIN measured -->", "<!-- END measured -->"
BENCH_FILES = {"scale": "bench_scale.py", "peer": "bench_peer.py", "cli": "bench_cli.py",
               "formulation": "bench_formulation.py"}
PARTS = (*BENCH_FILES, "profile")
# Parts that store their numbers and write their page section themselves; only on request.
SELF_RENDERING = {"blocks": "bench_blocks.py", "imports": "bench_imports.py"}


def run_benchmarks(parts: list[str], perf: dict[str, Any]) -> int:
    """Run the parts' benchmark files in one pytest run; store their numbers in ``perf``."""
    files = [str(BENCH_DIR / BENCH_FILES[p]) for p in parts if p in BENCH_FILES]
    if not files:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "benchmark.json"
        rc = subprocess.call([PYTHON, "-m", "pytest", *files, "-p", "no:cacheprovider",
                              "--benchmark-only", f"--benchmark-json={raw}", "-q"], cwd=REPO)
        if raw.exists():
            ingest(json.loads(raw.read_text()), perf)
    return rc


def run_self_rendering(parts: list[str]) -> int:
    """Run the benchmark files that write their own results and page section."""
    files = [str(BENCH_DIR / SELF_RENDERING[p]) for p in parts if p in SELF_RENDERING]
    if not files:
        return 0
    return subprocess.call([PYTHON, "-m", "pytest", *files, "-p", "no:cacheprovider",
                            "--benchmark-only", "-q"], cwd=REPO)


def ingest(bench: dict[str, Any], perf: dict[str, Any]) -> None:
    """pytest-benchmark's JSON -> performance.json's sections."""
    for b in bench["benchmarks"]:
        extra = b["extra_info"]
        name = b["name"]
        if name.startswith("test_scale"):
            perf.setdefault("scale", {})[extra["size"]["key"]] = extra
        elif name.startswith("test_peer"):
            perf.setdefault("peer", {})[extra["size"]] = extra
        elif name.startswith("test_cli"):
            perf["cli"] = extra
        elif name.startswith("test_formulation"):
            perf.setdefault("formulation", {})[str(extra["seed"])] = extra


def run_profile(perf: dict[str, Any]) -> None:
    if importlib.util.find_spec("pyinstrument") is None:
        print("pyinstrument is not installed: the profile keeps its stored numbers",
              file=sys.stderr)
        return
    from profile_build import run

    perf["profile"] = run([1000, 5000], BENCH_DIR / "results")


def measured_section(perf: dict[str, Any]) -> str:
    d = derived(perf)
    lines: list[str] = [BEGIN, ""]
    if "machine" in perf:
        lines += ["### The machine", "", *machine_lines(perf["machine"]), ""]
    lines += ["### Targets", "", *targets_lines(perf, d), "",
              "### Stage by stage", "",
              "Generated instances: `generate_instance(sites, 10, sites // 4, seed=1)`; each "
              "size in a fresh process, HiGHS with the default profile (relative gap 1e-4), "
              "one thread, a 60 s time limit, the garbage collector paused from load to "
              "writing as `portfolio_opt.solve` (and so the CLI) pauses it. The floor runs "
              "in another fresh process on the MPS file of the very model handed to HiGHS, "
              "with the same options.", "",
              *scale_lines(perf, d), "",
              "The same stages in CPU seconds of the measuring process (the steadier "
              "number on a shared machine):", "", *cpu_lines(perf), "",
              "### Peak memory", "", *memory_lines(perf), "",
              "### Scaling", "", "![stage time against sites](images/scaling.png)", "",
              "Fitted exponent of stage time against sites (least squares on log-log; the CPU "
              "fit is the steadier one on a shared machine):", "",
              *exponent_lines(d), "",
              "### The peer: parameter update against rebuild", "",
              "The same variants solved by `ScenarioEngine` (parameter update, one persistent "
              "HiGHS model) and by `portfolio_opt.solve` on each variant (what a user "
              "without the engine does), alternately. Overhead = wall time less HiGHS's own "
              "run time of that solve.", "", *peer_lines(perf), "",
              "### The CLI against a floor process", "", *cli_lines(perf), "",
              "### Formulation choices (200 sites, 8 periods, 60 contracts)", "",
              "Root LP gap = (LP relaxation of the model as handed to HiGHS - best plan) / "
              "best plan, before HiGHS's presolve and cuts.", "",
              *formulation_lines(perf), "",
              "### Profile of build + hand-off", "", *profile_lines(perf), END]
    return "\n".join(lines)


def render(perf: dict[str, Any]) -> None:
    """Replace the lines from the BEGIN marker line to the END marker line."""
    lines = PAGE.read_text(encoding="utf-8").split("\n")
    if BEGIN not in lines or END not in lines:
        raise SystemExit(f"{PAGE} has no {BEGIN} ... {END} marker lines")
    i, j = lines.index(BEGIN), lines.index(END)
    new = [*lines[:i], measured_section(perf), *lines[j + 1:]]
    PAGE.write_text("\n".join(new), encoding="utf-8")
    if perf.get("scale"):
        plot_scaling(perf, PLOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated parts of "
                    f"{', '.join((*PARTS, *SELF_RENDERING))}")
    ap.add_argument("--render-only", action="store_true", help="do not measure")
    args = ap.parse_args()
    perf: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rc = 0
    if not args.render_only:
        parts = args.only.split(",") if args.only else list(PARTS)
        unknown = sorted(set(parts) - set(PARTS) - set(SELF_RENDERING))
        if unknown:
            ap.error(f"unknown parts {unknown}; choose from "
                     f"{', '.join((*PARTS, *SELF_RENDERING))}")
        rc = run_self_rendering(parts)
        parts = [p for p in parts if p not in SELF_RENDERING]
        if not parts:
            return rc
        perf["machine"] = machine_info()
        rc = run_benchmarks(parts, perf) or rc
        if "profile" in parts:
            run_profile(perf)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(perf, indent=1) + "\n", encoding="utf-8")
    elif BLOCKS_RESULTS.exists():
        from bench_blocks import render as render_blocks

        render_blocks(json.loads(BLOCKS_RESULTS.read_text(encoding="utf-8")))
    render(perf)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
