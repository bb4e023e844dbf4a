"""Where build + hand-off spend their time at 1,000 and 5,000 sites (pyinstrument).

``python benchmarks/profile_build.py [SITES ...] [--out DIR]`` profiles, for each size in a
fresh process, ``prepare`` + ``build_model`` + the direct hand-off (the path ``solve`` takes
at these sizes), and writes ``profile-s<N>.txt`` (the call tree, percent of total) and
``profile-s<N>.json`` (self time grouped by library, constraint families, the top functions
by self time) to DIR (default benchmarks/results). pyinstrument is a profiling tool, not a
dependency of the package: ``pip install pyinstrument`` first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scale import BENCH_DIR, PYTHON, SCALE_SIZES, instance_path

# Self time is grouped by where the code lives: the first matching fragment of the path.
LIBRARIES = (
    ("pyomo/repn", "Pyomo standard-form compiler (pyomo.repn)"),
    ("pyomo/core/expr", "Pyomo expression system (pyomo.core.expr)"),
    ("pyomo/core/base/constraint", "Pyomo Constraint components"),
    ("pyomo/core/base/param", "Pyomo Param components"),
    ("pyomo/core/base/var", "Pyomo Var components"),
    ("pyomo/core/base/set", "Pyomo Set components"),
    ("pyomo/", "Pyomo, other"),
    ("portfolio_opt/model", "portfolio_opt.model (rules, data)"),
    ("portfolio_opt/", "portfolio_opt, other"),
    ("scipy/", "scipy.sparse"),
    ("numpy/", "numpy"),
    ("highspy/", "highspy"),
    ("networkx/", "networkx"),
)


def _library(path: str) -> str:
    p = path.replace("\\", "/")
    for fragment, name in LIBRARIES:
        if fragment in p:
            return name
    return "Python runtime and other"


def _walk(frame: Any, acc: dict[str, Any], parent: str = "", parent_path: str = "",
          inside_family: bool = False) -> None:
    """Self time (a frame's time less its children's) by library and by function; the
    total time of each outermost ``define_*`` call of the model code."""
    own = frame.time - sum(child.time for child in frame.children)
    name = frame.function or ""
    if frame.is_synthetic or name == "[self]":
        key, path = parent, parent_path  # time spent in the parent's own code
    else:
        key = f"{name} ({frame.file_path_short}:{frame.line_no})"
        path = frame.file_path or ""
    acc["libraries"][_library(path)] += own
    acc["functions"][key] += own
    family = (not inside_family and name.startswith("define_")
              and "portfolio_opt" in path)
    if family:
        acc["families"][name] += frame.time
    for child in frame.children:
        _walk(child, acc, key, path, inside_family or family)


def profile_one(sites: int, out_dir: Path) -> dict[str, Any]:
    """Profile one size in this process; returns the summary written as JSON."""
    from pyinstrument import Profiler

    import portfolio_opt.solver  # noqa: F401  (imports paid before the profile)
    from portfolio_opt.api import Model, handoff
    from portfolio_opt.loader import load_instance
    from portfolio_opt.model import build_model, prepare

    size = next(s for s in SCALE_SIZES if s.sites == sites)
    inst = load_instance(instance_path(size))
    import pyomo.repn.plugins.standard_form  # noqa: F401
    import scipy.sparse  # type: ignore[import-untyped]  # noqa: F401

    profiler = Profiler(interval=0.002)
    t0 = time.perf_counter()
    profiler.start()
    data = prepare(inst)
    built = Model(inst, data, build_model(data), 0.0, None)
    handoff(built, "direct")
    profiler.stop()
    wall = time.perf_counter() - t0
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    assert root is not None
    acc: dict[str, Any] = {"libraries": defaultdict(float), "functions": defaultdict(float),
                           "families": defaultdict(float)}
    _walk(root, acc)
    total = root.time

    def top(d: dict[str, float], n: int) -> list[tuple[str, float, float]]:
        items = sorted(d.items(), key=lambda kv: -kv[1])[:n]
        return [(k, round(v, 3), round(100 * v / total, 1)) for k, v in items]

    summary = {
        "sites": sites, "wall_s": wall, "profiled_s": total,
        "libraries": top(acc["libraries"], 20),
        "families": top(acc["families"], 20),
        "functions": top(acc["functions"], 15),
    }
    tree = profiler.output_text(unicode=True, color=False, time="percent_of_total",
                                processor_options={"filter_threshold": 0.01})
    (out_dir / f"profile-s{sites}.txt").write_text(tree, encoding="utf-8")
    (out_dir / f"profile-s{sites}.json").write_text(json.dumps(summary, indent=1),
                                                    encoding="utf-8")
    return summary


def run(sizes: list[int], out_dir: Path) -> dict[str, Any]:
    """Each size in a fresh process; returns {sites: summary}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for n in sizes:
        subprocess.run([PYTHON, str(BENCH_DIR / "profile_build.py"), "--one", str(n),
                        "--out", str(out_dir)], check=True)
        results[str(n)] = json.loads((out_dir / f"profile-s{n}.json").read_text())
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sites", nargs="*", type=int, default=[1000, 5000])
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        profile_one(args.one, args.out)
    else:
        run(args.sites, args.out)


if __name__ == "__main__":
    main()
