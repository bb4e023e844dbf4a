"""The charts of a result with scenarios (spec v2 B): the NPV distribution with E[NPV] and
CVaR, the hashprice fan, and the efficient frontier.

Money in MUSD; every id drawn is text escaped by matplotlib's SVG backend.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .scenarios import ScenarioPaths
from .svg import PALETTE, render

__all__ = ["MAX_FAN_LINES", "frontier_chart", "hashprice_fan", "in_tail", "npv_distribution"]

MUSD = 1e6
MAX_BARS = 60  # more scenarios: the distribution as two filled steps, without edges
MAX_BAR_LABELS = 30  # scenario ids written on the bars up to this many scenarios
MAX_FAN_LINES = 200  # the most probable scenarios drawn in the fan
MAX_LINE_LABELS = 8  # the fan's lines labelled with their ids up to this many scenarios
_TAIL = PALETTE["negative"]
_REST = "#7f9cc9"


def _short(name: Any, n: int = 16) -> str:
    text = str(name)
    return text if len(text) <= n else text[: n - 1] + "…"


def in_tail(column: pd.Series) -> np.ndarray:
    """scenarios.csv's in_cvar_tail as booleans (bools, or their text from a file)."""
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(bool)
    return column.astype(str).str.strip().str.lower().isin(["true", "1", "yes"]).to_numpy()


def npv_distribution(scenarios: pd.DataFrame, expected: float | None, cvar: float | None,
                     alpha: float | None) -> str:
    """Each scenario's NPV as a bar as wide as its probability, lowest first, so that the
    x axis is the cumulative probability; the CVaR tail's bars red; E[NPV] and CVaR as
    horizontal lines and the tail's probability mass 1 - alpha as a dotted vertical."""
    df = scenarios.sort_values("npv_usd", kind="stable")
    p = df["probability"].to_numpy(float)
    p = p / p.sum()
    left = np.concatenate([[0.0], np.cumsum(p)[:-1]])
    npv = df["npv_usd"].to_numpy(float) / MUSD
    tail = in_tail(df["in_cvar_tail"]) if "in_cvar_tail" in df.columns else np.zeros(len(df),
                                                                                     bool)
    ids = [str(w) for w in df["scenario"]]

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        colours = [_TAIL if t else _REST for t in tail]
        if len(df) <= MAX_BARS:
            ax.bar(left, npv, width=p, align="edge", color=colours, edgecolor="white",
                   linewidth=0.8)
        else:
            edges = np.append(left, 1.0)
            for mask, colour in ((tail, _TAIL), (~tail, _REST)):
                ax.stairs(np.where(mask, npv, 0.0), edges, fill=True, color=colour)
        if len(df) <= MAX_BAR_LABELS:
            for x, w, y, name in zip(left, p, npv, ids, strict=True):
                ax.annotate(_short(name), (x + w / 2, y), xytext=(0, 2 if y >= 0 else -2),
                            textcoords="offset points", ha="center",
                            va="bottom" if y >= 0 else "top", fontsize=7,
                            rotation=90 if len(df) > 8 else 0)
        handles = [Line2D([], [], color=_REST, lw=8, label="scenario NPV"),
                   Line2D([], [], color=_TAIL, lw=8, label="in the CVaR tail")]
        if expected is not None:
            handles.append(ax.axhline(expected / MUSD, color=PALETTE["total"], lw=1.6,
                                      label=f"E[NPV] {expected / MUSD:,.1f} MUSD"))
        if cvar is not None:
            handles.append(ax.axhline(cvar / MUSD, color=_TAIL, lw=1.4, ls="--",
                                      label=f"CVaR {cvar / MUSD:,.1f} MUSD"))
        if alpha is not None and 0.0 < alpha < 1.0:
            handles.append(ax.axvline(1.0 - alpha, color="#555", lw=0.9, ls=":",
                                      label=f"worst {100 * (1 - alpha):.3g} % of "
                                      "probability"))
        ax.axhline(0, color="#555", lw=0.8)
        ax.set_xlim(0, 1)
        ax.use_sticky_edges = False
        ax.margins(y=0.12)
        ax.set_xlabel("cumulative probability, scenarios by NPV (a bar's width is its "
                      "probability)")
        ax.set_ylabel("NPV (MUSD)")
        ax.set_title("NPV by scenario")
        ax.legend(handles=handles, ncols=3, fontsize=8, loc="upper center",
                  bbox_to_anchor=(0.5, -0.16))

    return render(draw, 9.5, 4.4)


def _year_ticks(ax: Any, years: list[float]) -> None:
    step = max(1, math.ceil(len(years) / 12))
    shown = years[::step]
    ax.set_xticks(shown, [f"{y:g}" for y in shown])


def hashprice_fan(paths: ScenarioPaths) -> str:
    """Each scenario's hashprice by period (line width and opacity grow with probability;
    the most probable :data:`MAX_FAN_LINES` drawn) and the probability-weighted mean in
    black; a second panel for the energy-price scale when some scenario scales prices."""
    prob = paths.probability
    pmax = max(prob.values())
    drawn = sorted(prob, key=lambda w: -prob[w])[:MAX_FAN_LINES]
    with_scale = any(v != 1.0 for w in prob for v in paths.scale[w])
    years = paths.years

    def fan(ax: Any, series: dict[str, list[float]], mean: list[float], colour: str,
            title: str, unit: str) -> None:
        for w in reversed(drawn):  # the most probable drawn last, on top
            r = prob[w] / pmax
            ax.plot(years, series[w], color=colour, alpha=0.2 + 0.7 * r, lw=0.6 + 2.2 * r)
            if len(prob) <= MAX_LINE_LABELS:
                ax.annotate(_short(w), (years[-1], series[w][-1]), xytext=(4, 0),
                            textcoords="offset points", va="center", fontsize=7)
        ax.plot(years, mean, color="black", lw=2.4)
        ax.set_title(title)
        ax.set_ylabel(unit)
        _year_ticks(ax, years)
        ax.set_ylim(bottom=0)

    def draw(fig: Figure) -> None:
        axes = fig.subplots(1, 2 if with_scale else 1, squeeze=False,
                            width_ratios=[1.6, 1] if with_scale else None).ravel()
        fan(axes[0], paths.hashprice, paths.mean_hashprice, PALETTE["btc"],
            "Hashprice by scenario", "USD per PH/s per day")
        if with_scale:
            mean = [sum(p * paths.scale[w][i] for w, p in prob.items())
                    for i in range(len(years))]
            fan(axes[1], paths.scale, mean, "#c96f53", "Energy-price scale by scenario",
                "multiplier of every grid and source price")
        handles = [Line2D([], [], color=PALETTE["btc"], lw=2,
                          label="a scenario (wider and darker: more probable)"),
                   Line2D([], [], color="black", lw=2.4, label="probability-weighted mean")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8)

    return render(draw, 11 if with_scale else 9.5, 4.2)


def frontier_chart(frontier: pd.DataFrame, current: tuple[float, float] | None) -> str:
    """E[NPV] against CVaR, one point per CVaR weight joined in weight order (hollow when
    not proven optimal), labelled with the weight; ``current`` (CVaR, E[NPV]) starred."""
    df = frontier.copy()
    df = df[np.isfinite(df["expected_npv_usd"].astype(float))
            & np.isfinite(df["cvar_usd"].astype(float))]
    if "weight" in df.columns:
        df = df.sort_values("weight", kind="stable")
    x = df["cvar_usd"].to_numpy(float) / MUSD
    y = df["expected_npv_usd"].to_numpy(float) / MUSD
    optimal = (df["status"].astype(str) == "optimal").to_numpy() if "status" in df.columns \
        else np.ones(len(df), bool)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot(x, y, "-", color=PALETTE["total"], lw=1.2, zorder=1)
        ax.scatter(x[optimal], y[optimal], s=36, color=PALETTE["total"], zorder=2,
                   label="a CVaR weight's plan")
        if (~optimal).any():
            ax.scatter(x[~optimal], y[~optimal], s=36, facecolors="white",
                       edgecolors=PALETTE["total"], zorder=2, label="not proven optimal")
        if "weight" in df.columns:  # one label per point: weights with the same plan share
            labels: dict[tuple[float, float], list[str]] = {}
            for xi, yi, w in zip(x, y, df["weight"], strict=True):
                if isinstance(w, (int, float)) and w == w:
                    labels.setdefault((round(xi, 6), round(yi, 6)), []).append(f"{w:g}")
            for (xi, yi), ws in labels.items():
                ax.annotate(f"w = {', '.join(ws)}", (xi, yi), xytext=(5, 4),
                            textcoords="offset points", fontsize=7)
        if current is not None:
            ax.scatter([current[0] / MUSD], [current[1] / MUSD], marker="*", s=180,
                       color=PALETTE["btc"], edgecolors="black", linewidths=0.6, zorder=3,
                       label="this folder's plan")
        ax.use_sticky_edges = False
        ax.margins(0.12)
        ax.set_xlabel("CVaR (MUSD): the mean NPV of the worst scenarios")
        ax.set_ylabel("E[NPV] (MUSD)")
        ax.set_title("Efficient frontier: expected NPV against CVaR")
        ax.legend(fontsize=8, loc="best")

    return render(draw, 7.5, 4.6)
