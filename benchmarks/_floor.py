"""The floor: HiGHS alone, in a fresh process, reading a model as MPS and solving it.

``python benchmarks/_floor.py MODEL.mps OPTIONS_JSON OUT.json`` writes the import, read and
run times, the status, objective, gap and the process's peak memory to OUT.json. With a
fourth argument ``read`` it only reads the file (import, read time, size; no solve).
"""

from __future__ import annotations

import json
import sys
import time

from _rss import peak_rss_mb


def main(mps: str, options_json: str, out: str, mode: str = "solve") -> None:
    t0 = time.perf_counter()
    import highspy

    t_import = time.perf_counter() - t0
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for key, value in json.loads(options_json).items():
        h.setOptionValue(key, value)
    t1, c1 = time.perf_counter(), time.process_time()
    h.readModel(mps)
    t_read, c_read = time.perf_counter() - t1, time.process_time() - c1
    if mode == "read":
        read_only = {"import_s": t_import, "read_s": t_read, "read_cpu_s": c_read,
                     "cols": h.getNumCol(), "rows": h.getNumRow(), "nnz": h.getNumNz(),
                     "maxrss_mb": peak_rss_mb()}
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(read_only, fh)
        return
    t2 = time.perf_counter()
    h.run()
    t_run = time.perf_counter() - t2
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2
    result = {
        "import_s": t_import,
        "read_s": t_read,
        "read_cpu_s": c_read,
        "run_wall_s": t_run,
        "solve_s": float(h.getRunTime()),
        "status": h.modelStatusToString(h.getModelStatus()),
        "objective": float(info.objective_function_value) if has_solution else None,
        "mip_gap": float(info.mip_gap) if has_solution else None,
        "cols": h.getNumCol(),
        "rows": h.getNumRow(),
        "nnz": h.getNumNz(),
        "maxrss_mb": peak_rss_mb(),
    }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main(*sys.argv[1:5])
