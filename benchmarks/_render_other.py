"""Tables of docs/performance.md for the peer, the CLI, the formulations and the profile."""

from __future__ import annotations

import math
from typing import Any

from _render_scale import _f, _pct, _table


def peer_lines(perf: dict[str, Any]) -> list[str]:
    peer = perf.get("peer", {})
    if not peer:
        return ["(not measured)"]
    rows = []
    for key in ("realistic", "s1000"):
        p = peer.get(key)
        if not p:
            continue
        limit = "none" if p["time_limit"] is None else f"{p['time_limit']:.0f} s"
        statuses = sorted({r["update_status"] for r in p["rows"]}
                          | {r["rebuild_status"] for r in p["rows"]})
        both = [r for r in p["rows"]
                if r["update_status"] == r["rebuild_status"] == "optimal"]
        same = sum(1 for r in both if abs(r["update_npv_usd"] - r["rebuild_npv_usd"])
                   <= 2 * p["mip_rel_gap"] * abs(r["rebuild_npv_usd"]))
        rows.append([
            "realistic" if key == "realistic" else "1,000 sites",
            f"{len(p['rows'])} (hashprice x {', '.join(str(f) for f in p['factors'])})",
            f"{limit}, gap {p['mip_rel_gap']:g}",
            _f(p["median_update_wall_s"]), _f(p["median_rebuild_wall_s"]),
            f"**{p['median_rebuild_wall_s'] / p['median_update_wall_s']:.2f}**",
            _f(p["median_update_overhead_s"]), _f(p["median_rebuild_overhead_s"]),
            f"**{p['median_rebuild_overhead_s'] / max(p['median_update_overhead_s'], 1e-9):.1f}**",
            f"{', '.join(statuses)}; same optimum in {same} of the {len(both)} re-solves "
            "that both proved optimal",
        ])
    return _table(["instance", "re-solves", "limits", "update s", "rebuild s",
                   "rebuild / update", "update overhead s", "rebuild overhead s",
                   "overhead ratio", "status"], rows)


def cli_lines(perf: dict[str, Any]) -> list[str]:
    cli = perf.get("cli")
    if not cli:
        return ["(not measured)"]
    out = _table(["", "CLI solve", "floor process", "ratio"], [
        ["median wall s (process start to exit)", _f(cli["cli_median_s"]),
         _f(cli["floor_median_s"]), f"**{cli['ratio']:.2f}**"],
        ["median CPU s (user + system)", _f(cli["cli_median_cpu_s"]),
         _f(cli["floor_median_cpu_s"]), f"{cli['cpu_ratio']:.2f}"],
        ["all rounds, wall s", " ".join(f"{x:.2f}" for x in cli["cli_s"]),
         " ".join(f"{x:.2f}" for x in cli["floor_s"]), ""],
        ["HiGHS solve inside, s", _f(cli["cli_solve_s"]), "", ""],
    ])
    rows = []
    for key, label in (("verbose", "without `--quiet` (the tables printed)"),
                       ("baseline", "the source tree before (`PORTFOLIO_OPT_BENCH_BASELINE`)"),
                       ("baseline_verbose", "the tree before, without `--quiet`")):
        if f"{key}_median_s" in cli:
            rows.append([f"CLI solve {label}: median wall s / CPU s",
                         f"{_f(cli[f'{key}_median_s'])} / {_f(cli[f'{key}_median_cpu_s'])}",
                         "", f"**{cli[f'{key}_ratio']:.2f}** / {cli[f'{key}_cpu_ratio']:.2f}"])
    if rows:
        out += ["", "Timed in the same alternation (ratios against the same floor, wall / "
                "CPU):", ""]
        out += _table(["", "CLI solve", "", "ratio"], rows)
    if "date" in cli:
        out += ["", f"Measured {cli['date']} (1-minute load average "
                f"{cli['load_average_1min_at_end']:.1f} at the end, on 2 shared cores)."]
    out += ["", f"{cli['rounds']} rounds each, alternating, after one warm-up of each; "
            f"`python -c pass` takes {_f(cli['python_start_s'])} s. The floor process is "
            f"`{cli['floor_command']}`. Both reach the same optimum "
            f"({cli['cli_npv_usd'] / 1e6:,.3f} MUSD).", ""]
    imp = cli["importtime"]
    out += [f"`python -X importtime` of the CLI solve (median of runs): "
            f"{_f(imp['total_s'])} s of imports in all. By package (sum of its modules' "
            "own import time):", ""]
    out += _table(["package", "import s"], [[f"`{k}`", _f(v)] for k, v in imp["by_package"]])
    out += ["", "The package's own modules (cumulative, i.e. with what they import):", ""]
    out += _table(["module", "cumulative import s"],
                  [[f"`{k}`", _f(v)] for k, v in imp["own_modules"]])
    return out


def formulation_lines(perf: dict[str, Any]) -> list[str]:
    form = perf.get("formulation", {})
    if not form:
        return ["(not measured)"]
    rows = []
    times: dict[str, list[float]] = {}
    for seed in sorted(form, key=int):
        runs = form[seed]["runs"]
        best = next((r["objective"] for r in runs if r["status"] == "optimal"), None)
        for r in runs:
            times.setdefault(r["choice"], []).append(r["solve_s"])
            same = ("–" if best is None or r["objective"] is None else
                    "yes" if abs(r["objective"] - best) <= 2e-4 * abs(best) else "NO")
            rows.append([str(seed), r["choice"], f"{r['integer_vars']:,}", f"{r['rows']:,}",
                         _pct(r["root_lp_gap"]), _f(r["solve_s"]), r["status"],
                         _pct(r["mip_gap"]), same])
    limit = next(iter(form.values()))["time_limit"]
    out = _table(["seed", "choice", "integer vars", "rows", "root LP gap", "HiGHS s",
                  "status", "final gap", "same optimum"], rows)
    strong = times.get("strong")
    if strong:
        out += ["", f"Time limit {limit:.0f} s per solve. Geometric mean of HiGHS time over "
                "the seeds, relative to the strong formulation:", ""]
        geo = {k: math.exp(sum(math.log(max(x, 1e-3)) for x in v) / len(v))
               for k, v in times.items()}
        out += _table(["choice", "geometric mean s", "/ strong"],
                      [[k, _f(g), f"{g / geo['strong']:.2f}"] for k, g in geo.items()])
    return out


def profile_lines(perf: dict[str, Any]) -> list[str]:
    prof = perf.get("profile", {})
    if not prof:
        return ["(not profiled: `pip install pyinstrument`, then rerun)"]
    out: list[str] = []
    for sites in sorted(prof, key=int):
        p = prof[sites]
        out += [f"**{int(sites):,} sites**: prepare + build + direct hand-off, "
                f"{_f(p['profiled_s'])} s profiled (wall, sampled by pyinstrument). "
                "Self time by where the code lives:", ""]
        out += _table(["library", "s", "%"], [[k, _f(s), f"{pc:.1f}"]
                                             for k, s, pc in p["libraries"] if pc >= 0.5])
        out += ["", "Model-building functions (total time, with what they call):", ""]
        out += _table(["family", "s", "%"], [[f"`{k}`", _f(s), f"{pc:.1f}"]
                                            for k, s, pc in p["families"][:10]])
        out += ["", "Top functions by self time:", ""]
        out += _table(["function", "s", "%"], [[f"`{k}`", _f(s), f"{pc:.1f}"]
                                              for k, s, pc in p["functions"][:12]])
        out += [""]
    return out
