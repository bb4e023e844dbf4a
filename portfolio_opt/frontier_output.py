"""What ``portfolio-opt frontier`` writes and shows: frontier.csv, frontier.json and the chart
frontier.png (+ .svg) of E[NPV] against CVaR, each point labelled with its CVaR weight and
what its plan changes (see :mod:`portfolio_opt.frontier`).
"""

from __future__ import annotations

import json
import math
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from .errors import InputError, InputIssue
from .frontier import FrontierPoint

__all__ = ["frontier_figure", "parse_weights", "run_frontier", "write_frontier"]

MUSD = 1e6
_HAS_PLAN = ("optimal", "feasible")


def parse_weights(text: str) -> list[float]:
    """``"0,0.25,1"`` -> [0.0, 0.25, 1.0]; an :class:`InputError` naming --weights else."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise InputError([InputIssue("<command line>", "frontier --weights", "", text,
                                     "expected comma-separated CVaR weights between 0 and 1, "
                                     "e.g. 0,0.25,0.5,0.75,1")])
    return values


def _groups(frame: pd.DataFrame) -> list[tuple[list[float], float, float, str]]:
    """Consecutive points with the same (CVaR, E[NPV]) drawn as one: (weights, x, y, change
    of the first of them)."""
    out: list[tuple[list[float], float, float, str]] = []
    for r in frame.to_dict("records"):
        if r["status"] not in _HAS_PLAN or math.isnan(r["expected_npv_usd"]):
            continue
        x, y = r["cvar_usd"] / MUSD, r["expected_npv_usd"] / MUSD
        if out and math.isclose(out[-1][1], x, rel_tol=1e-9, abs_tol=1e-6) and \
                math.isclose(out[-1][2], y, rel_tol=1e-9, abs_tol=1e-6):
            out[-1][0].append(float(r["weight"]))
        else:
            out.append(([float(r["weight"])], x, y, str(r["change"])))
    return out


def _label(weights: list[float], change: str) -> str:
    ws = f"w = {weights[0]:g}" if len(weights) == 1 else \
        f"w = {weights[0]:g} to {weights[-1]:g}"
    lines = [line for item in change.split("; ") for line in textwrap.wrap(item, 44)]
    if len(lines) > 5:
        lines = [*lines[:4], f"… and {len(lines) - 4} more (frontier.csv)"]
    return "\n".join([ws, *lines])


def frontier_figure(frame: pd.DataFrame, *, title: str | None = None) -> Figure:
    """x = CVaR, y = E[NPV], both in MUSD; a point per distinct plan, labelled with its
    weight(s) and the change from the previous plan. Points without a plan are left out
    and the chart says how many."""
    from .batch.plots import AI_COLOR, BTC_COLOR, deck_style

    groups = _groups(frame)
    alpha = float(frame["alpha"].iloc[0]) if len(frame) else math.nan
    name = frame.attrs.get("instance_name", "")
    with deck_style():
        fig = Figure(figsize=(11, 7))
        ax = fig.add_subplot()
        xs, ys = [g[1] for g in groups], [g[2] for g in groups]
        ax.plot(xs, ys, color=AI_COLOR, linewidth=1.5, marker="o", markersize=8, zorder=2)
        if groups:
            ax.scatter(xs[:1], ys[:1], s=90, color=BTC_COLOR, zorder=3,
                       label="lowest weight (most risk-neutral)")
            ax.legend(loc="lower left", frameon=False)
        # Up and to the right of each point: clear of a frontier that falls to the right.
        for ws, x, y, change in groups:
            ax.annotate(_label(ws, change), (x, y), xytext=(10, 10),
                        textcoords="offset points", fontsize=9, va="bottom", ha="left",
                        parse_math=False, zorder=4,
                        bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#cccccc",
                              "alpha": 0.9})
        ax.ticklabel_format(useOffset=False, style="plain")
        ax.set_xlabel(f"CVaR at alpha = {alpha:g}: mean NPV of the worst "
                      f"{100 * (1 - alpha):.3g} % (MUSD)", parse_math=False)
        ax.set_ylabel("Expected NPV (MUSD)")
        ax.set_title(title or f"Efficient frontier of {name}: E[NPV] against CVaR",
                     parse_math=False)
        ax.margins(x=0.35, y=0.25)
        dropped = int((~frame["status"].isin(_HAS_PLAN)).sum())
        if dropped:
            fig.text(0.01, 0.005, f"{dropped} weight(s) without a plan are not shown",
                     fontsize=9, color="#666666")
        fig.tight_layout()
    return fig


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def write_frontier(frame: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """frontier.csv, frontier.json (instance name and sha256, settings, the engine's counts,
    the points) and frontier.png/.svg in ``out_dir``; each written then renamed into place."""
    from .batch.plots import save_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv, js = out / "frontier.csv", out / "frontier.json"
    tmp = out / ".frontier.csv.tmp"
    frame.to_csv(tmp, index=False)
    os.replace(tmp, csv)
    summary = {key: _clean(v) for key, v in frame.attrs.items()}
    summary["points"] = [{k: _clean(v) for k, v in r.items()}
                         for r in frame.to_dict("records")]
    tmp = out / ".frontier.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, js)
    return [csv, js, *save_figure(frontier_figure(frame), out, "frontier")]


def _table(frame: pd.DataFrame) -> str:
    def musd(x: float) -> str:
        return "-" if math.isnan(x) else f"{x / MUSD:,.2f}"

    lines = [f"{'weight':>6}  {'status':<10} {'E[NPV] MUSD':>12} {'CVaR MUSD':>12} "
             f"{'objective':>12} {'new IT MW':>9}  change"]
    for r in frame.to_dict("records"):
        new = "-" if math.isnan(r["new_it_mw"]) else f"{r['new_it_mw']:,.4g}"
        lines.append(f"{r['weight']:>6g}  {r['status']:<10} {musd(r['expected_npv_usd']):>12} "
                     f"{musd(r['cvar_usd']):>12} {musd(r['objective_usd']):>12} "
                     f"{new:>9}  {r['change']}")
    return "\n".join(lines)


def run_frontier(instance: Path, weights: str, out: Path, *, alpha: float | None,
                 profile: str, time_limit: float | None, mip_gap: float | None,
                 threads: int | None, echo: Callable[[str, bool], None] | None = None
                 ) -> tuple[pd.DataFrame, list[Path], str]:
    """The command's body: solve, write, and return (frame, files written, table text).

    ``echo(text, err)`` receives a progress line per point (None: silent)."""
    from .frontier import efficient_frontier
    from .outpaths import check_out_dir

    ws = parse_weights(weights)
    check_out_dir(out, "frontier")  # before the solves: a file there stays untouched

    def report(p: FrontierPoint) -> None:
        if echo is not None:
            echo(p.text(), True)

    frame = efficient_frontier(instance, ws, alpha=alpha, profile=profile,
                               time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                               progress=report)
    return frame, write_frontier(frame, out), _table(frame)
