"""Tables for docs/performance.md and the scaling plot, from benchmarks/results/performance.json.

Only numbers measured in one run are put side by side; every ratio is computed here from
the stored seconds, so the page and the JSON never disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _scale import fit_exponent

SIZE_ORDER = ("s10", "s100", "s1000", "s5000", "realistic")
GENERATED = ("s10", "s100", "s1000", "s5000")
BUILD_RATIO_TARGET = 5.0
CLI_RATIO_TARGET = 4.0
LINEAR_EXPONENT_MAX = 1.1  # "about 1": within 10 %


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}" if abs(x) >= 0.01 or x == 0 else f"{x:.4f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f} %"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _label(key: str, res: dict[str, Any]) -> str:
    if key == "realistic":
        return "realistic (20 sites, 12 periods)"
    return f"{res['size']['sites']:,} sites"


def build_handoff(r: dict[str, Any]) -> float:
    """prepare + build + the hand-off ``solve`` takes (auto), wall seconds."""
    return float(r["prepare_s"] + r["build_s"] + r["handoff_s"])


def _fit(points: list[tuple[float, float | None]], min_sites: float) -> float | None:
    pts = [(x, y) for x, y in points if y and x >= min_sites]
    if len(pts) < 2:
        return None
    return fit_exponent([x for x, _ in pts], [y for _, y in pts])


# stage -> (wall field, CPU field); the floor's are read from its own entry.
EXPONENT_STAGES = {
    "load + validate (JSON)": ("load_validate_s", "load_validate_cpu_s"),
    "load + validate (YAML)": ("load_validate_yaml_s", "load_validate_yaml_cpu_s"),
    "prepare": ("prepare_s", "prepare_cpu_s"),
    "build": ("build_s", "build_cpu_s"),
    "prepare + build": ("prepare_s+build_s", "prepare_cpu_s+build_cpu_s"),
    "hand-off, direct": ("handoff_direct_s", "handoff_direct_cpu_s"),
    "hand-off, persistent": ("handoff_persistent_s", "handoff_persistent_cpu_s"),
    "extraction": ("extract_s", "extract_cpu_s"),
    "writing files": ("write_s", "write_cpu_s"),
    "floor: HiGHS MPS read": ("floor.read_s", "floor.read_cpu_s"),
}


def _get(r: dict[str, Any], field: str) -> float | None:
    if "+" in field:
        parts = [_get(r, f) for f in field.split("+")]
        return None if any(p is None for p in parts) else sum(p for p in parts if p)
    source = r["floor"] if field.startswith("floor.") else r
    value = source.get(field.removeprefix("floor."))
    return None if value is None else float(value)


def derived(perf: dict[str, Any]) -> dict[str, Any]:
    """Ratios and fitted exponents (wall over 10-5,000 and 100-5,000 sites, CPU over
    100-5,000) from the stored seconds."""
    scale = perf.get("scale", {})
    out: dict[str, Any] = {"floor_ratio": {}, "exponents": {}}
    for key, r in scale.items():
        out["floor_ratio"][key] = build_handoff(r) / r["floor"]["read_s"]
    sizes = [k for k in GENERATED if k in scale]
    for name, (wall, cpu) in EXPONENT_STAGES.items():
        w = [(scale[k]["size"]["sites"], _get(scale[k], wall)) for k in sizes]
        c = [(scale[k]["size"]["sites"], _get(scale[k], cpu)) for k in sizes]
        out["exponents"][name] = (_fit(w, 0), _fit(w, 100), _fit(c, 100))
    return out


def machine_lines(m: dict[str, Any]) -> list[str]:
    return _table(["", ""], [
        ["date", m["date"]], ["CPU", f"{m['cpu']}, {m['nproc']} cores (nproc)"],
        ["RAM", f"{m['ram_gb']} GB"], ["OS", m["os"]],
        ["Python / Pyomo / HiGHS (highspy)", f"{m['python']} / {m['pyomo']} / {m['highs']}"],
        ["1-minute load average when the run started",
         _f(m.get("load_average_1min_at_start"), 1)],
    ])


def _verdict(value: float | None, target: float, what: str) -> str:
    if value is None:
        return f"{what}: not measured"
    if value <= target:
        return f"{what}: met"
    return f"{what}: not met ({value / target:.2f}x the target)"


def targets_lines(perf: dict[str, Any], d: dict[str, Any]) -> list[str]:
    """One row per target, judged on wall time and on CPU time (the steadier one here)."""
    rows = []
    s5 = perf.get("scale", {}).get("s5000")
    if s5:
        ratio = d["floor_ratio"]["s5000"]
        ours_cpu = s5["prepare_cpu_s"] + s5["build_cpu_s"] + s5["handoff_cpu_s"]
        cpu = ours_cpu / s5["floor"]["read_cpu_s"]
        rows.append(["(prepare + build + hand-off) / HiGHS MPS read, 5,000 sites: <= 5",
                     f"{ratio:.2f} wall ({_f(build_handoff(s5))} s / "
                     f"{_f(s5['floor']['read_s'])} s); {cpu:.2f} CPU ({_f(ours_cpu)} s / "
                     f"{_f(s5['floor']['read_cpu_s'])} s)",
                     _verdict(ratio, BUILD_RATIO_TARGET, "wall") + "; "
                     + _verdict(cpu, BUILD_RATIO_TARGET, "CPU")])
    e = d["exponents"].get("prepare + build")
    if e and e[1] is not None:
        rows.append(["build (prepare + build) time linear in sites: fitted exponent ~1",
                     f"{e[1]:.2f} wall, {_f(e[2], 2)} CPU over 100-5,000 sites "
                     f"({e[0]:.2f} wall over 10-5,000)",
                     _verdict(e[1], LINEAR_EXPONENT_MAX, "wall") + "; "
                     + _verdict(e[2], LINEAR_EXPONENT_MAX, "CPU")])
    cli = perf.get("cli")
    if cli:
        rows.append(["CLI solve of the realistic instance / floor process: <= 4",
                     f"{cli['ratio']:.2f} wall (medians {_f(cli['cli_median_s'])} s / "
                     f"{_f(cli['floor_median_s'])} s); {cli['cpu_ratio']:.2f} CPU",
                     _verdict(cli["ratio"], CLI_RATIO_TARGET, "wall") + "; "
                     + _verdict(cli["cpu_ratio"], CLI_RATIO_TARGET, "CPU")])
    form = perf.get("formulation")
    if form:
        agree = all(_same_optimum(v["runs"]) for v in form.values())
        rows.append(["formulation strength: root LP gap reported, same optimum",
                     f"{len(form)} seeds x {len(next(iter(form.values()))['runs'])} choices",
                     "reported; optima agree" if agree else "optima DISAGREE"])
    return _table(["target", "measured", "verdict"], rows)


def _same_optimum(runs: list[dict[str, Any]]) -> bool:
    objs = [r["objective"] for r in runs if r["status"] == "optimal"]
    return all(abs(o - objs[0]) <= 2e-4 * abs(objs[0]) for o in objs)


def scale_lines(perf: dict[str, Any], d: dict[str, Any]) -> list[str]:
    scale = perf.get("scale", {})
    keys = [k for k in SIZE_ORDER if k in scale]
    if not keys:
        return ["(not measured)"]
    cols = [scale[k] for k in keys]

    def row(name: str, fn: Any) -> list[str]:
        return [name, *[fn(r) for r in cols]]

    def sec(field: str) -> Any:
        return lambda r: _f(r.get(field))

    rows = [
        row("variables / rows / nonzeros",
            lambda r: f"{r['cols']:,} / {r['rows']:,} / {r['nnz']:,}"),
        row("load + validate (JSON; realistic: YAML)", sec("load_validate_s")),
        row("load + validate, same instance as YAML", sec("load_validate_yaml_s")),
        row("prepare (data preparation)", sec("prepare_s")),
        row("build (Pyomo model)", sec("build_s")),
        row("hand-off, direct (standard form + passModel)", sec("handoff_direct_s")),
        row("hand-off, persistent (Pyomo persistent interface)", sec("handoff_persistent_s")),
        row("hand-off `solve` takes (auto)", lambda r: r["handoff_auto"]),
        row("HiGHS solve", sec("solve_s")),
        row("status, gap", lambda r: f"{r['status']}, {_pct(r['mip_gap'])}"),
        row("extraction (result tables)", sec("extract_s")),
        row("writing files", sec("write_s")),
        row("**whole single solve** (load ... write, auto hand-off)", lambda r: _f(
            sum(r.get(k) or 0.0 for k in ("load_validate_s", "prepare_s", "build_s",
                                          "handoff_s", "solve_wall_s", "extract_s",
                                          "write_s")))),
        row("floor: HiGHS reads the MPS file", lambda r: _f(r["floor"]["read_s"])),
        row("floor: HiGHS solves it (same options)", lambda r: _f(r["floor"]["solve_s"])),
        row("floor: status, gap", lambda r: f"{r['floor']['status']}, "
            f"{_pct(r['floor']['mip_gap'])}"),
        row("**(prepare + build + hand-off) / MPS read**",
            lambda r: f"**{build_handoff(r) / r['floor']['read_s']:.2f}**"),
        row("same, CPU seconds", lambda r: f"{(r['prepare_cpu_s'] + r['build_cpu_s'] + r['handoff_cpu_s']) / max(r['floor']['read_cpu_s'], 1e-9):.2f}"),  # noqa: E501
        row("imports paid once per process (not in the stages)", sec("imports_s")),
    ]
    return _table(["seconds (wall)", *[_label(k, scale[k]) for k in keys]], rows)


def memory_lines(perf: dict[str, Any]) -> list[str]:
    scale = perf.get("scale", {})
    keys = [k for k in SIZE_ORDER if k in scale]
    stages = [("imports", "after imports"), ("load_validate", "after load + validate"),
              ("build", "after build"), ("handoff", "after hand-off"),
              ("solve_wall", "after HiGHS solve"), ("extract", "after extraction"),
              ("write", "**peak of a single solve** (after writing)")]
    rows = [[label, *[_f(scale[k]["peak_rss_mb"].get(st)) for k in keys]]
            for st, label in stages]
    rows.append(["floor process (HiGHS alone: read + solve)",
                 *[_f(scale[k]["floor"]["maxrss_mb"]) for k in keys]])
    return _table(["peak resident memory, MB", *[_label(k, scale[k]) for k in keys]], rows)


def exponent_lines(d: dict[str, Any]) -> list[str]:
    rows = [[name, _f(a, 2), _f(b, 2), _f(c, 2)] for name, (a, b, c) in d["exponents"].items()]
    return _table(["stage", "wall, 10-5,000 sites", "wall, 100-5,000 sites",
                   "CPU, 100-5,000 sites"], rows)


def cpu_lines(perf: dict[str, Any]) -> list[str]:
    """The same stages in CPU seconds of the measuring process (steadier when shared)."""
    scale = perf.get("scale", {})
    keys = [k for k in SIZE_ORDER if k in scale]
    stages = [("load + validate", "load_validate_cpu_s"), ("prepare", "prepare_cpu_s"),
              ("build", "build_cpu_s"), ("hand-off, direct", "handoff_direct_cpu_s"),
              ("hand-off, persistent", "handoff_persistent_cpu_s"),
              ("extraction", "extract_cpu_s"), ("writing files", "write_cpu_s"),
              ("floor: HiGHS reads the MPS file", "floor.read_cpu_s")]
    rows = [[name, *[_f(_get(scale[k], field)) for k in keys]] for name, field in stages]
    return _table(["seconds (CPU)", *[_label(k, scale[k]) for k in keys]], rows)


def plot_scaling(perf: dict[str, Any], path: Path) -> None:
    """Log-log stage time against sites, wall and CPU side by side, with a slope-1 guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = perf.get("scale", {})
    keys = [k for k in GENERATED if k in scale]
    xs = [scale[k]["size"]["sites"] for k in keys]
    series = [
        ("load + validate (JSON)", "load_validate", "o-"),
        ("load + validate (YAML)", "load_validate_yaml", "o:"),
        ("prepare", "prepare", "s-"),
        ("build", "build", "s-"),
        ("hand-off, direct", "handoff_direct", "^-"),
        ("hand-off, persistent", "handoff_persistent", "^:"),
        ("extraction", "extract", "v-"),
        ("writing files", "write", "v:"),
        ("floor: HiGHS MPS read", "floor.read", "k--"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), dpi=100, sharey=True)
    for ax, suffix, title in ((axes[0], "_s", "wall seconds"), (axes[1], "_cpu_s",
                                                                "CPU seconds")):
        for name, field, style in series:
            pts = [(x, _get(scale[k], field + suffix)) for x, k in zip(xs, keys, strict=True)]
            pts = [(x, y) for x, y in pts if y]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=name)
        if xs:
            ref = _get(scale[keys[-1]], "build" + suffix) or 1.0
            ax.plot(xs, [ref * x / xs[-1] for x in xs], color="grey", alpha=0.4, lw=6,
                    label="slope 1 (linear)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sites (10 periods, contracts = sites / 4)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Stage time against portfolio size")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
