"""Start-up cost of each command: ``python -X importtime`` in a fresh process per run.

    python -m pytest benchmarks/bench_imports.py -p no:cacheprovider --benchmark-only
    python benchmarks/bench_imports.py --render-only     # the page section from the JSON

For every command of ``COMMANDS`` (``--help``, ``validate``, ``solve`` with and without
``--quiet``) it runs ``python -X importtime -m portfolio_opt ...`` ``RUNS`` times and keeps
the medians of: the total import time (the sum of every module's own time), each top-level
package's cumulative time (its ``import`` line: the package with what it imports first)
and its own time (the sum over its modules). Numbers go to
``benchmarks/results/imports.json`` and to the start-up section of docs/performance.md
(between its ``BEGIN startup`` and ``END startup`` markers).

``PORTFOLIO_OPT_BENCH_BASELINE=DIR`` (a copy of an earlier source tree, e.g. ``git archive
REV | tar -x -C DIR``) also measures that tree's commands, alternating with this one's, so
that a before/after pair comes from one run on the same machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from _scale import BENCH_DIR, PYTHON, REPO, median

RUNS = 5
RESULTS = BENCH_DIR / "results" / "imports.json"
PAGE = REPO / "docs" / "performance.md"
BEGIN = "<!-- BEGIN startup (this section is written by benchmarks/bench_imports.py) -->"
END = "<!-- END startup -->"
# Packages shown in the table (the heavy ones and what every command pays); the total
# counts every module.
SHOWN = ("pandas", "pyarrow", "numpy", "pyomo", "highspy", "networkx", "scipy", "rich",
         "typer", "pydantic", "ruamel", "portfolio_opt")
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", re.M)


def commands(out: Path) -> dict[str, list[str]]:
    tutorial = str(REPO / "instances" / "tutorial.yaml")
    realistic = str(REPO / "instances" / "us_portfolio.yaml")
    return {
        "--help": ["--help"],
        "validate tutorial.yaml": ["validate", tutorial],
        "solve us_portfolio.yaml --quiet": ["solve", realistic, "--out", str(out / "q"),
                                            "--quiet"],
        "solve us_portfolio.yaml": ["solve", realistic, "--out", str(out / "v")],
    }


def parse(stderr: str) -> dict[str, Any]:
    """Total (sum of own times), per top-level package cumulative and own seconds.

    A package's cumulative time is the sum over its outermost imports (a module of it not
    imported from inside another of its modules) of their cumulative times: the package
    with whatever it imported first. ``-X importtime`` lists a module after the modules
    it imports, indented one level deeper; read backwards, each line's ancestors are on
    a stack.
    """
    entries = [(len(m[3]), m[4], int(m[1]) / 1e6, int(m[2]) / 1e6)
               for m in LINE.finditer(stderr)]
    total = 0.0
    own: dict[str, float] = defaultdict(float)
    cumulative: dict[str, float] = defaultdict(float)
    stack: list[tuple[int, str]] = []  # (depth, top-level package) of the ancestors
    for depth, name, self_s, cum_s in reversed(entries):
        top = name.split(".")[0]
        total += self_s
        own[top] += self_s
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if all(t != top for _, t in stack):
            cumulative[top] += cum_s
        stack.append((depth, top))
    return {"total_s": total, "own_s": dict(own), "cumulative_s": dict(cumulative)}


def run_once(args: list[str], cwd: Path) -> tuple[float, dict[str, Any]]:
    """Wall seconds of ``python -X importtime -m portfolio_opt ARGS`` and its import times.

    Run from ``cwd``: ``-m`` puts the working directory first on ``sys.path``, so a
    baseline tree's package is the one imported there."""
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-X", "importtime", "-m", "portfolio_opt", *args],
                          capture_output=True, text=True, cwd=cwd, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, parse(proc.stderr)


def summarize(runs: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    packages = sorted({p for _, r in runs for p in r["own_s"]})

    def med(kind: str, p: str) -> float:
        return median([r[kind].get(p, 0.0) for _, r in runs])

    return {
        "runs": len(runs),
        "wall_s": median([w for w, _ in runs]),
        "total_s": median([r["total_s"] for _, r in runs]),
        "cumulative_s": {p: med("cumulative_s", p) for p in packages
                         if any(p in r["cumulative_s"] for _, r in runs)},
        "own_s": {p: med("own_s", p) for p in packages},
        "imported": sorted(p for p in packages if all(p in r["own_s"] for _, r in runs)),
    }


def measure() -> dict[str, Any]:
    baseline = os.environ.get("PORTFOLIO_OPT_BENCH_BASELINE")
    trees = {"current": REPO, **({"baseline": Path(baseline)} if baseline else {})}
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(Path(tmp))
        raw: dict[str, dict[str, list[tuple[float, dict[str, Any]]]]] = {
            t: {c: [] for c in cmds} for t in trees}
        for cwd in trees.values():  # warm-up: .pyc files, page cache
            for args in cmds.values():
                run_once(args, cwd)
        for _ in range(RUNS):
            for name, args in cmds.items():
                for tree, cwd in trees.items():
                    raw[tree][name].append(run_once(args, cwd))
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "date": date.today().isoformat(),
        "load_average_1min_at_end": load,
        "python": sys.version.split()[0],
        "runs": RUNS,
        "baseline": baseline,
        "commands": {tree: {c: summarize(r) for c, r in per.items()}
                     for tree, per in raw.items()},
    }


def _s(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _pkg(cmd: dict[str, Any], p: str) -> str:
    if p not in cmd["cumulative_s"]:
        return "–"
    return f"{_s(cmd['cumulative_s'][p])} ({_s(cmd['own_s'].get(p))})"


def section(res: dict[str, Any]) -> str:
    cur = res["commands"]["current"]
    base = res["commands"].get("baseline")
    names = list(cur)
    lines = [BEGIN, "",
             f"Measured {res['date']} (Python {res['python']}; 1-minute load average "
             f"{res['load_average_1min_at_end']:.1f} at the end: 2 shared cores, so absolute "
             "times are inflated); command `python -m pytest benchmarks/bench_imports.py "
             "-p no:cacheprovider --benchmark-only` (numbers in "
             "`benchmarks/results/imports.json`). Each command runs as `python -X importtime "
             f"-m portfolio_opt ...` in a fresh process, {res['runs']} times after a "
             "warm-up; medians. Per package: cumulative seconds (its outermost imports "
             "with whatever they import first: pandas imported after highspy does not count "
             "numpy again) and, in brackets, its own modules' time; \"-\" = not imported. "
             "`-X importtime` itself slows imports down, so these are larger than the same "
             "imports in an untraced process.", ""]
    header = ["seconds (median)", *(f"`{n}`" for n in names)]
    rows = [["process wall time (with -X importtime)", *(_s(cur[n]["wall_s"]) for n in names)],
            ["**all imports**", *(f"**{_s(cur[n]['total_s'])}**" for n in names)]]
    for p in SHOWN:
        rows.append([f"`{p}`", *(_pkg(cur[n], p) for n in names)])
    lines += ["| " + " | ".join(header) + " |", "|---" + "|---:" * len(names) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if base is not None:
        lines += ["", "The same commands from the source tree before the start-up work "
                  "(`PORTFOLIO_OPT_BENCH_BASELINE`), measured alternately with the rows above "
                  "in the same run:", "",
                  "| seconds (median) | " + " | ".join(f"`{n}`" for n in names) + " |",
                  "|---" + "|---:" * len(names) + "|",
                  "| all imports, before | " + " | ".join(_s(base[n]["total_s"]) for n in names)
                  + " |",
                  "| all imports, after | " + " | ".join(_s(cur[n]["total_s"]) for n in names)
                  + " |",
                  "| process wall, before | " + " | ".join(_s(base[n]["wall_s"]) for n in names)
                  + " |",
                  "| process wall, after | " + " | ".join(_s(cur[n]["wall_s"]) for n in names)
                  + " |"]
        for p in SHOWN:
            b = [base[n]["cumulative_s"].get(p) for n in names]
            a = [cur[n]["cumulative_s"].get(p) for n in names]
            if b != a and any(x is not None for x in b):
                lines.append(f"| `{p}`, before -> after | " + " | ".join(
                    f"{_s(x)} -> {_s(y)}" for x, y in zip(b, a, strict=True)) + " |")
    lines += ["", "Packages each command imports: " + "; ".join(
        f"`{n}`: " + ", ".join(p for p in cur[n]["imported"] if p in SHOWN)
        for n in names) + ".", "", END]
    return "\n".join(lines)


def render(res: dict[str, Any]) -> None:
    """Replace the section between the markers (after the measured section if absent)."""
    text = PAGE.read_text(encoding="utf-8")
    new = section(res)
    if BEGIN in text and END in text:
        i, j = text.index(BEGIN), text.index(END) + len(END)
        text = text[:i] + new + text[j:]
    else:
        anchor = "<!-- END measured -->"
        k = text.index(anchor) + len(anchor)
        text = (text[:k] + "\n\n## Start-up: what each command imports\n\n" + new
                + text[k:])
    PAGE.write_text(text, encoding="utf-8")


def test_imports(benchmark: Any) -> None:
    res = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    render(res)
    cur = res["commands"]["current"]
    assert not {"pandas", "pyomo", "highspy", "networkx"} & set(
        cur["validate tutorial.yaml"]["imported"])


if __name__ == "__main__":
    if sys.argv[1:] != ["--render-only"]:
        raise SystemExit(__doc__)
    render(json.loads(RESULTS.read_text(encoding="utf-8")))
