"""Pictures of analysis outputs: Sobol and Morris indices with their intervals, breakevens.

The index charts take the tables SALib's analyses produce (one row per parameter): Sobol
``S1``, ``S1_conf``, ``ST``, ``ST_conf``; Morris ``mu_star``, ``mu_star_conf``, ``sigma``.
The ``*_conf`` columns are half-widths of SALib's bootstrap confidence intervals (95 % by
default) and are drawn as error bars. The breakeven chart takes a
:class:`~portfolio_opt.batch.breakeven.BreakevenResult`. Shared style and saving live in
:mod:`portfolio_opt.batch.plots`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .plots import (
    AI_COLOR,
    BTC_COLOR,
    MUSD,
    THOUSANDS,
    _short,
    _with_npv,
    deck_style,
    param_label,
    param_unit,
    parameter_columns,
    regime_map,
    save_figure,
    spider_plot,
    tornado_chart,
)

if TYPE_CHECKING:
    from .breakeven import BreakevenResult

__all__ = ["breakeven_figure", "draw_batch", "index_table", "morris_bars", "sobol_bars"]

log = logging.getLogger(__name__)

_SOBOL = ["S1", "S1_conf", "ST", "ST_conf"]
_MORRIS = ["mu_star", "mu_star_conf", "sigma"]


def index_table(indices: pd.DataFrame, needed: list[str]) -> pd.DataFrame:
    """``indices`` with a ``parameter`` column (taken from the index if need be)."""
    df = indices.copy()
    if "parameter" not in df.columns:
        df = df.rename_axis("parameter").reset_index()
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"the indices table lacks {missing}; it has {list(df.columns)}")
    return df


def sobol_bars(indices: pd.DataFrame, *, title: str | None = None,
               output: str = "NPV") -> Figure:
    """First-order (S1) and total (ST) Sobol indices per parameter, with intervals.

    Sorted by ST, largest on top. A total index well above the first-order one means the
    parameter acts through interactions with others.
    """
    df = index_table(indices, _SOBOL).sort_values("ST", ascending=True, kind="stable")
    y = np.arange(len(df))
    with deck_style():
        fig = Figure(figsize=(10, 1.5 + 0.7 * max(1, len(df))))
        ax = fig.add_subplot()
        h = 0.38
        ax.barh(y + h / 2, df["ST"], height=h, xerr=df["ST_conf"], color=AI_COLOR,
                capsize=4, label="total effect ST")
        ax.barh(y - h / 2, df["S1"], height=h, xerr=df["S1_conf"], color=BTC_COLOR,
                capsize=4, label="first order S1")
        ax.set_yticks(y, [_short(str(p), 48) for p in df["parameter"]])
        ax.axvline(0, color="black", linewidth=1)
        ax.set_xlim(left=min(0.0, float((df["S1"] - df["S1_conf"]).min())))
        ax.set_xlabel(f"Sobol index of {output} (share of its variance, 0-1; "
                      "bars: 95 % interval)")
        ax.set_title(title or f"Global sensitivity of {output}: Sobol indices")
        ax.legend(loc="lower right", frameon=False)
        fig.tight_layout()
    return fig


def morris_bars(indices: pd.DataFrame, *, title: str | None = None,
                output: str = "NPV", unit: str = "MUSD", scale: float = MUSD) -> Figure:
    """Morris mean absolute elementary effect μ* per parameter with its interval, and σ.

    μ* ranks influence; σ (drawn as a second bar, with its interval when the table has
    ``sigma_conf``) large against μ* means the effect depends on where the other
    parameters are (non-linear or interacting). Values are in ``unit`` (NPV divided by
    ``scale``): SALib divides each step's NPV change by the step's share Δ of the
    parameter's range, so μ* reads as an NPV change across the parameter's whole range.
    """
    df = index_table(indices, _MORRIS).sort_values("mu_star", ascending=True, kind="stable")
    y = np.arange(len(df))
    with deck_style():
        fig = Figure(figsize=(10, 1.5 + 0.7 * max(1, len(df))))
        ax = fig.add_subplot()
        h = 0.38
        ax.barh(y + h / 2, df["mu_star"] / scale, height=h, xerr=df["mu_star_conf"] / scale,
                color=AI_COLOR, capsize=4, label="μ* (mean |elementary effect|)")
        sigma_err = df["sigma_conf"] / scale if "sigma_conf" in df.columns else None
        ax.barh(y - h / 2, df["sigma"] / scale, height=h, xerr=sigma_err, color="#9a9a9a",
                capsize=4, label="σ (spread of the effects)")
        ax.set_yticks(y, [_short(str(p), 48) for p in df["parameter"]])
        if float((df["mu_star"] / scale).max()) >= 10:  # whole numbers read best
            ax.xaxis.set_major_formatter(THOUSANDS)
        ax.set_xlabel(f"effect on {output} across each parameter's range ({unit}; "
                      "bars: 95 % intervals)")
        ax.set_title(title or f"Screening of {output}: Morris μ* and σ")
        ax.legend(loc="lower right", frameon=False)
        fig.tight_layout()
    return fig


def breakeven_figure(result: BreakevenResult, *, title: str | None = None) -> Figure:
    """NPV (top) and AI IT MW per site (bottom) against the parameter; flips marked.

    The lines join the solved values (grid and bisection points): between two of them the
    plan is only known at the ends. AI IT MW is the average per period over the horizon.
    Each distinct breakeven value is one dashed vertical line labelled with the value;
    each site's flip is a triangle on its own line (up: enters AI, down: leaves AI), so
    flips of several sites at one value stay readable. Values without a plan (infeasible,
    no solution) are shaded grey.
    """
    from .breakeven import PORTFOLIO

    scan = result.scan
    if "kind" in scan:  # grouped contracts' and mining sites' (btc) rows: a dashed line only
        scan = scan[~scan["kind"].isin(("contract", "btc"))]
    points = scan.drop_duplicates("value").sort_values("value")
    has_ai = scan.groupby("site")["ai_it_mw_periods"].max().fillna(0) > 0
    sites = [s for s in scan["site"].drop_duplicates() if s != PORTFOLIO and has_ai.get(s)]
    unit = param_unit(result.param, "scale" if result.scale else "values")
    with deck_style():
        fig = Figure(figsize=(10, 8))
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.4])
        top.plot(points["value"], points["objective_npv_usd"] / MUSD, color="black",
                 marker=".", linewidth=1.5)
        top.set_ylabel("NPV (MUSD)")
        top.yaxis.set_major_formatter(THOUSANDS)
        colors = {}
        for k, site in enumerate(sites):
            sub = scan[scan["site"] == site].sort_values("value")
            line = bottom.plot(sub["value"], sub["ai_it_mw_periods"] / result.periods,
                               marker=".", linewidth=2, label=site, color=f"C{k % 10}")
            colors[site] = line[0].get_color()
        for x in sorted(set(result.table["breakeven"])):
            for ax in (top, bottom):
                ax.axvline(x, color="#555555", linestyle="--", linewidth=1.0)
            top.annotate(f"{x:.4g}", (x, 1.0), xycoords=("data", "axes fraction"),
                         rotation=90, va="top", ha="right", fontsize=9, color="#333333")
        for r in result.table.to_dict("records"):
            if r["site"] in colors and r.get("kind", "site") == "site":
                y = max(float(r["ai_it_mw_periods_below"]),
                        float(r["ai_it_mw_periods_above"])) / result.periods
                bottom.plot([float(r["breakeven"])], [y], linestyle="none", markersize=11,
                            marker="^" if r["direction"] == "to_ai" else "v",
                            color=colors[r["site"]], markeredgecolor="black")
        _shade_no_plan(points, (top, bottom))
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
            ax.set_xlim(result.lo, result.hi)
        bottom.set_ylabel("AI IT MW served\n(average per period)")
        bottom.set_xlabel(param_label(result.param, {result.param: unit}, 70))
        if sites:
            bottom.legend(loc="best", frameon=False, ncols=2 if len(sites) > 6 else 1)
        flips = len(result.table)
        top.set_title(title or (f"Breakevens: {flips} flip(s), each to within "
                                f"{result.tol:.3g}" if flips else
                                "No breakeven in the range"))
        fig.tight_layout()
    return fig


def _shade_no_plan(points: pd.DataFrame, axes: tuple[Any, ...]) -> None:
    """Grey spans around the solved values that have no plan, labelled once."""
    xs = points["value"].to_numpy(float)
    none = points["objective_npv_usd"].isna().to_numpy()
    labelled = False
    for k in np.flatnonzero(none):
        left = xs[k] if k == 0 else 0.5 * (xs[k - 1] + xs[k])
        right = xs[k] if k == len(xs) - 1 else 0.5 * (xs[k] + xs[k + 1])
        for ax in axes:
            ax.axvspan(left, right, color="#bbbbbb", alpha=0.5, linewidth=0)
        if not labelled:
            axes[0].annotate("no plan", (xs[k], 0.02), xycoords=("data", "axes fraction"),
                             ha="center", fontsize=9, color="#333333")
            labelled = True


def draw_batch(batch: Any, out_dir: str | Path) -> list[Path]:
    """Draw the pictures that fit the batch's method into ``out_dir``; return the files.

    ``batch`` is a batch store folder or a :class:`~portfolio_opt.batch.api.BatchResult`.
    One-at-a-time: tornado and spider; grid, random, LHS, Sobol and Morris over two or more
    parameters: the regime map of the first two; Sobol and Morris: also their index bars
    (when the analysis tables exist, i.e. the batch is complete).
    """
    results, method, base_values, units, tables = _batch_parts(batch)
    if _with_npv(results)[0].empty:
        log.warning("no scenario of the batch has a plan: nothing to draw")
        return []
    charts: list[tuple[str, Any]] = []
    if method == "oat":
        tornado = tables.get("tornado")
        charts += [("tornado", lambda: tornado_chart(
                        tornado if tornado is not None else results, units=units)),
                   ("spider", lambda: spider_plot(results, base_values=base_values))]
    elif len(parameter_columns(results)) >= 2:
        charts.append(("regime_map", lambda: regime_map(results, units=units)))
    sobol, morris = tables.get("sobol"), tables.get("morris")
    if method == "sobol" and sobol is not None and len(sobol):
        charts.append(("sobol", lambda: sobol_bars(sobol)))
    if method == "morris" and morris is not None and len(morris):
        charts.append(("morris", lambda: morris_bars(morris)))
    written: list[Path] = []
    for stem, draw in charts:
        written += save_figure(draw(), out_dir, stem)
    return written


def _batch_parts(batch: Any) -> tuple[pd.DataFrame, str, dict[str, float], dict[str, str],
                                      dict[str, pd.DataFrame]]:
    """(results, method, base column values, units, analysis tables) of a folder or result."""
    if isinstance(batch, (str, Path)):
        from .store import read_results

        folder = Path(batch)
        results, _ = read_results(folder)
        manifest = folder / "manifest.json"
        design = (json.loads(manifest.read_text(encoding="utf-8")).get("design", {})
                  if manifest.exists() else {})
        params = [(p["path"], p.get("mode", "values"), p.get("base_column"))
                  for p in design.get("parameters", [])]
        tables = {path.stem: pd.read_csv(path)
                  for path in sorted((folder / "analysis").glob("*.csv"))}
        method = str(design.get("method", ""))
    else:
        results = batch.results
        params = [(p.path, p.mode, p.base_column) for p in batch.design.parameters]
        tables = {name: a.table for name, a in batch.analyses.items()}
        method = str(batch.design.method)
    base = {path: float(b) for path, _, b in params if b is not None}
    units = {path: param_unit(path, mode) for path, mode, _ in params}
    return results, method, base, units, tables
