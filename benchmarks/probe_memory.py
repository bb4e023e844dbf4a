"""What a single solve holds in memory before HiGHS's search, at one size.

    python benchmarks/probe_memory.py INSTANCE.json OUT.json              # as solve runs
    python benchmarks/probe_memory.py INSTANCE.json OUT.json --attribute  # what holds what

No solve: the process builds the model and hands it off as ``portfolio_opt.solve`` does
(collector paused, ``api.handoff(built, "auto")``), then releases the constraints
(``api.release_structure``), reading its resident memory (VmRSS) and high-water mark (VmHWM)
after each step. ``--attribute`` instead keeps the collector on and deletes one part after
another (constraints, objective, parameters, HiGHS's copy, the rest of the model, the data,
the instance), collecting and trimming the C heap after each, so that each step's drop is
what that part held. The generated instances are those of the scale benchmark
(``_scale.generated_instance(5000, 10, 1250, 1)``).
"""

from __future__ import annotations

import ctypes
import gc
import json
import sys
import time
from typing import Any

from _rss import peak_rss_mb


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(instance: str, out: str, attribute: bool) -> None:
    res: dict[str, Any] = {"instance": instance, "mb": {}}

    def note(step: str) -> None:
        res["mb"][step] = {"rss": round(rss_mb(), 1), "hwm": round(peak_rss_mb(), 1)}

    import scipy.sparse  # type: ignore[import-untyped]  # noqa: F401
    from pyomo.core import Constraint, Objective, Param
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler  # noqa: F401

    from portfolio_opt.api import build, handoff, release_structure
    from portfolio_opt.model.build import gc_paused

    note("imports")
    if not attribute:
        with gc_paused():
            built = build(instance)
            note("build")
            engine = handoff(built)
            note("handoff")
            t0 = time.perf_counter()
            release_structure(built)
            res["release_s"] = time.perf_counter() - t0
            note("release")
            h = engine.highs
            res["handoff"] = type(engine).__name__
            res["size"] = {"cols": h.getNumCol(), "rows": h.getNumRow(), "nnz": h.getNumNz()}
    else:
        libc = ctypes.CDLL(None)

        def settle(step: str) -> None:
            gc.collect()
            libc.malloc_trim(0)
            note(step)

        built = build(instance)
        note("build")
        engine = handoff(built, "direct")
        note("handoff")
        settle("collected_and_trimmed")
        m = built.pyomo
        for step, kind in (("constraints", Constraint), ("objective", Objective),
                           ("parameters", Param)):
            for comp in list(m.component_objects(kind)):
                comp.clear()
                m.del_component(comp)
            settle(f"without_{step}")
        del engine
        settle("without_highs")
        data, inst = built.data, built.instance
        del built, m
        settle("without_model")
        del data
        settle("without_data")
        del inst
        settle("without_instance")
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(res, fh, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--attribute" in sys.argv[3:])
