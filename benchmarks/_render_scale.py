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


def derived(perf: dict[str, Any]) -> dict[str, Any]:
    """Ratios and fitted exponents from the stored seconds."""
    scale = perf.get("scale", {})
    out: dict[str, Any] = {"floor_ratio": {}, "exponents": {}}
    for key, r in scale.items():
        out["floor_ratio"][key] = build_handoff(r) / r["floor"]["read_s"]
    sizes = [k for k in GENERATED if k in scale]
    stages = {
        "load+validate (JSON)": "load_validate_s", "load+validate (YAML)": "load_validate_yaml_s",
        "prepare": "prepare_s", "build": "build_s",
        "hand-off, direct": "handoff_direct_s", "hand-off, persistent": "handoff_persistent_s",
        "extraction": "extract_s", "writing files": "write_s",
    }
    for name, field in stages.items():
        pts = [(scale[k]["size"]["sites"], scale[k].get(field)) for k in sizes]
        pts = [(x, y) for x, y in pts if y]
        big = [(x, y) for x, y in pts if x >= 100]
        out["exponents"][name] = (
            fit_exponent([x for x, _ in pts], [y for _, y in pts]) if len(pts) >= 2 else None,
            fit_exponent([x for x, _ in big], [y for _, y in big]) if len(big) >= 2 else None,
        )
    pts = [(scale[k]["size"]["sites"], scale[k]["prepare_s"] + scale[k]["build_s"])
           for k in sizes]
    big = [(x, y) for x, y in pts if x >= 100]
    out["exponents"]["prepare + build"] = (
        fit_exponent([x for x, _ in pts], [y for _, y in pts]) if len(pts) >= 2 else None,
        fit_exponent([x for x, _ in big], [y for _, y in big]) if len(big) >= 2 else None,
    )
    pts = [(scale[k]["size"]["sites"], scale[k]["floor"]["read_s"]) for k in sizes]
    big = [(x, y) for x, y in pts if x >= 100]
    out["exponents"]["floor: HiGHS MPS read"] = (
        fit_exponent([x for x, _ in pts], [y for _, y in pts]) if len(pts) >= 2 else None,
        fit_exponent([x for x, _ in big], [y for _, y in big]) if len(big) >= 2 else None,
    )
    return out


def machine_lines(m: dict[str, Any]) -> list[str]:
    return _table(["", ""], [
        ["date", m["date"]], ["CPU", f"{m['cpu']}, {m['nproc']} cores (nproc)"],
        ["RAM", f"{m['ram_gb']} GB"], ["OS", m["os"]],
        ["Python / Pyomo / HiGHS (highspy)", f"{m['python']} / {m['pyomo']} / {m['highs']}"],
        ["1-minute load average when the run started",
         _f(m.get("load_average_1min_at_start"), 1)],
    ])


def targets_lines(perf: dict[str, Any], d: dict[str, Any]) -> list[str]:
    rows = []
    s5 = perf.get("scale", {}).get("s5000")
    if s5:
        ratio = d["floor_ratio"]["s5000"]
        cpu = (s5["prepare_cpu_s"] + s5["build_cpu_s"] + s5["handoff_cpu_s"]) / s5["floor"][
            "read_cpu_s"]
        verdict = ("met" if ratio <= BUILD_RATIO_TARGET else
                   f"not met: {ratio / BUILD_RATIO_TARGET:.2f}x the target")
        rows.append(["(prepare + build + hand-off) / HiGHS MPS read, 5,000 sites: <= 5",
                     f"{ratio:.2f} wall ({_f(build_handoff(s5))} s / "
                     f"{_f(s5['floor']['read_s'])} s); {cpu:.2f} CPU", verdict])
    e = d["exponents"].get("prepare + build")
    if e and e[1] is not None:
        verdict = "met" if e[1] <= 1.1 else f"not met: exponent {e[1]:.2f}"
        rows.append(["build time linear in sites (fitted exponent ~1)",
                     f"{e[1]:.2f} over 100-5,000 sites ({e[0]:.2f} over 10-5,000)", verdict])
    cli = perf.get("cli")
    if cli:
        verdict = ("met" if cli["ratio"] <= CLI_RATIO_TARGET else
                   f"not met: {cli['ratio'] / CLI_RATIO_TARGET:.2f}x the target")
        rows.append(["CLI solve of the realistic instance / floor process: <= 4",
                     f"{cli['ratio']:.2f} wall (medians {_f(cli['cli_median_s'])} s / "
                     f"{_f(cli['floor_median_s'])} s); {cli['cpu_ratio']:.2f} CPU", verdict])
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
    rows = [[name, _f(a, 2), _f(b, 2)] for name, (a, b) in d["exponents"].items()]
    return _table(["stage", "exponent, 10-5,000 sites", "exponent, 100-5,000 sites"], rows)


def plot_scaling(perf: dict[str, Any], path: Path) -> None:
    """Log-log stage time against sites, with a slope-1 guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = perf.get("scale", {})
    keys = [k for k in GENERATED if k in scale]
    xs = [scale[k]["size"]["sites"] for k in keys]
    series = [
        ("load + validate (JSON)", lambda r: r["load_validate_s"], "o-"),
        ("load + validate (YAML)", lambda r: r.get("load_validate_yaml_s"), "o:"),
        ("prepare", lambda r: r["prepare_s"], "s-"),
        ("build", lambda r: r["build_s"], "s-"),
        ("hand-off, direct", lambda r: r.get("handoff_direct_s"), "^-"),
        ("hand-off, persistent", lambda r: r.get("handoff_persistent_s"), "^:"),
        ("extraction", lambda r: r.get("extract_s"), "v-"),
        ("writing files", lambda r: r.get("write_s"), "v:"),
        ("floor: HiGHS MPS read", lambda r: r["floor"]["read_s"], "k--"),
    ]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    for name, fn, style in series:
        pts = [(x, fn(scale[k])) for x, k in zip(xs, keys, strict=True)]
        pts = [(x, y) for x, y in pts if y]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=name)
    if xs:
        ref = scale[keys[-1]]["build_s"]
        ax.plot(xs, [ref * x / xs[-1] for x in xs], color="grey", alpha=0.4, lw=6,
                label="slope 1 (linear)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sites (10 periods, contracts = sites / 4)")
    ax.set_ylabel("wall seconds")
    ax.set_title("Stage time against portfolio size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
