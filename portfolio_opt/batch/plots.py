"""Pictures of a batch for a strategy deck: tornado, spider, regime map, Sobol and Morris.

Each chart has a ``*_table`` function that computes the plotted numbers from the batch's
DataFrames and a function that draws them and returns the matplotlib :class:`Figure`, so
a caller (or a test) can read the numbers back from the axes before saving. Figures are
made without pyplot (no global figure registry, no interactive backend: PNG is drawn by
Agg, SVG by matplotlib's SVG writer) and saved by :func:`save_figure` as PNG and SVG.
Money is shown in MUSD, every axis names its unit.

The results table is the batch store's ``results.parquet``: ``scenario``, one column per
varied parameter named by its path, ``status``, ``objective_npv_usd``, ... and the
per-period totals ``btc_mw_p1..`` and ``ai_it_mw_p1..``
(:mod:`portfolio_opt.batch.columns`). Rows without a plan carry no NPV and are left out
of every chart, and the chart says how many were left out.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from .columns import HAS_NPV, RESULT_COLUMNS, RISK_COLUMNS

__all__ = [
    "MUSD",
    "REGIME_CMAP",
    "ai_share",
    "deck_style",
    "param_label",
    "param_unit",
    "parameter_columns",
    "plot_batch",
    "regime_map",
    "regime_table",
    "save_figure",
    "spider_plot",
    "spider_table",
    "tornado_chart",
    "tornado_table",
]

log = logging.getLogger(__name__)

MUSD = 1e6
BTC_COLOR = "#f7931a"
AI_COLOR = "#2f5fb3"
# 0 = all MW hashing (bitcoin orange) ... 1 = all MW in AI (blue).
REGIME_CMAP = LinearSegmentedColormap.from_list("btc_ai", [BTC_COLOR, "#f2f2f2", AI_COLOR])
_STYLE = {
    "font.size": 12, "axes.titlesize": 15, "axes.titleweight": "bold", "axes.labelsize": 13,
    "xtick.labelsize": 11, "ytick.labelsize": 11, "legend.fontsize": 10,
    "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none",
    "figure.dpi": 100, "savefig.dpi": 200, "savefig.bbox": "tight",
}
THOUSANDS = StrMethodFormatter("{x:,.0f}")  # MUSD axes: 12,000 rather than 12000
_PERIOD = re.compile(r"^(btc_mw|ai_it_mw)_p\d+$")


@contextmanager
def deck_style() -> Iterator[None]:
    """Readable fonts and a clean frame for every chart of this module."""
    with rc_context(cast(Any, _STYLE)):
        yield


def save_figure(fig: Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """``stem.png`` and ``stem.svg`` in ``out_dir``, each written then renamed into place."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with deck_style():
        for fmt in ("png", "svg"):
            target = out / f"{stem}.{fmt}"
            tmp = out / f".{stem}.{fmt}.tmp"
            fig.savefig(tmp, format=fmt)
            os.replace(tmp, target)
            written.append(target)
    return written


def parameter_columns(results: pd.DataFrame) -> list[str]:
    """The varied parameters' columns: every column that is not a fixed results column."""
    fixed = {*RESULT_COLUMNS, *RISK_COLUMNS}
    return [c for c in results.columns if c not in fixed and not _PERIOD.match(str(c))]


def _with_npv(results: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    ok = results["status"].isin(HAS_NPV) & results["objective_npv_usd"].notna()
    return results[ok], int((~ok).sum())


def _short(path: str, width: int = 38) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1):]


# Field-name endings and the unit they carry, longest first (the format's naming rule).
_UNITS = (
    ("_usd_per_ph_day", "USD/PH/s/day"), ("_usd_per_mwh", "USD/MWh"),
    ("_usd_per_kw_month", "USD/kW-month"), ("_usd_per_it_mw_year", "USD/IT MW-yr"),
    ("_usd_per_mw_year", "USD/MW-yr"), ("_usd_per_it_mw", "USD/IT MW"),
    ("_usd_per_mw", "USD/MW"), ("_usd_per_period", "USD"), ("_usd", "USD"),
    ("_j_per_th", "J/TH"), ("_it_mw", "IT MW"), ("_mw", "MW"), ("_ms", "ms"),
    ("_periods", "periods"),
)


def param_unit(path: str, mode: str = "values") -> str:
    """The unit of a parameter's results column: 'x base' for a scaled one, else the field's."""
    if mode == "scale":
        return "× base"
    name = re.sub(r"\[[^\]]*\]", "", path).rsplit(".", 1)[-1]
    return next((unit for end, unit in _UNITS if name.endswith(end)), "")


def param_label(path: str, units: dict[str, str] | None, width: int = 60) -> str:
    unit = (units or {}).get(path, param_unit(path))
    return _short(path, width) + (f" ({unit})" if unit else "")


def _fmt(value: float, unit: str) -> str:
    if unit.startswith("USD") and abs(value) >= 1e6:
        return f"{value / MUSD:,.4g} M{unit}"
    return f"{value:,.4g}" + (" ×" if unit == "× base" else "")


def _dropped_note(fig: Figure, dropped: int) -> None:
    if dropped:
        fig.text(0.01, 0.005, f"{dropped} scenario(s) without a plan (infeasible, no "
                 "solution or failed) are not shown", fontsize=9, color="#666666")


def _same(a: float, b: float) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0))


def _oat_rows(results: pd.DataFrame, params: Sequence[str],
              base_scenario: int) -> tuple[pd.Series, dict[str, pd.DataFrame]]:
    """The base row, and for each parameter the rows that move it alone."""
    base_rows = results[results["scenario"] == base_scenario]
    if base_rows.empty:
        raise ValueError(f"no base scenario {base_scenario} in the results table")
    base = base_rows.iloc[0]
    moved: dict[str, list[int]] = {p: [] for p in params}
    for i, row in results.iterrows():
        differs = [p for p in params if not _same(float(row[p]), float(base[p]))]
        if len(differs) == 1:
            moved[differs[0]].append(i)  # type: ignore[arg-type]
    return base, {p: results.loc[idx] for p, idx in moved.items()}


# ----------------------------------------------------------------------------- tornado


def tornado_table(results: pd.DataFrame, params: Sequence[str] | None = None, *,
                  base_scenario: int = 0) -> pd.DataFrame:
    """Per parameter: NPV at its lowest and highest one-at-a-time level, widest swing first.

    Columns: parameter, low_value, high_value, npv_low_usd, npv_high_usd, npv_base_usd,
    swing_usd = |npv_high - npv_low| (the ordering of
    :func:`portfolio_opt.batch.analysis.tornado_table`, which computes the same numbers
    from the design). A level without a plan gives NaN for its NPV.
    """
    params = list(params) if params is not None else parameter_columns(results)
    base, moved = _oat_rows(results, params, base_scenario)
    base_npv = float(base["objective_npv_usd"])
    rows = []
    for p in params:
        sub = moved[p].sort_values(p)
        if sub.empty:
            continue
        lo, hi = sub.iloc[0], sub.iloc[-1]
        rows.append((p, float(lo[p]), float(hi[p]), _npv(lo), _npv(hi), base_npv,
                     abs(_npv(hi) - _npv(lo))))
    table = pd.DataFrame(rows, columns=["parameter", "low_value", "high_value", "npv_low_usd",
                                        "npv_high_usd", "npv_base_usd", "swing_usd"])
    return table.sort_values("swing_usd", ascending=False, kind="stable",
                             na_position="last").reset_index(drop=True)


def _npv(row: pd.Series) -> float:
    if row["status"] in HAS_NPV and pd.notna(row["objective_npv_usd"]):
        return float(row["objective_npv_usd"])
    return math.nan


def tornado_chart(results: pd.DataFrame, params: Sequence[str] | None = None, *,
                  base_scenario: int = 0, title: str | None = None,
                  units: dict[str, str] | None = None) -> Figure:
    """Horizontal bars from the base NPV to the NPV at each parameter's low and high level.

    ``results`` is a one-at-a-time results table, or an already computed tornado table
    (columns of :func:`tornado_table`). The widest swing is on top. Bar ends are the
    table's ``npv_low_usd`` and ``npv_high_usd`` in MUSD; the labels say which parameter
    value gives each end, in ``units[path]`` (default: the unit the field's name carries;
    pass 'x base' for a scaled parameter, whose column holds the factor).
    """
    if "npv_low_usd" in results.columns:
        table = results.sort_values("swing_usd", ascending=False, kind="stable",
                                    na_position="last").reset_index(drop=True)
        results = pd.DataFrame({"status": [], "objective_npv_usd": []})
    else:
        table = tornado_table(results, params, base_scenario=base_scenario)
    with deck_style():
        fig = Figure(figsize=(10, 1.2 + 0.6 * max(1, len(table))))
        ax = fig.add_subplot()
        base = float(table["npv_base_usd"].iloc[0]) / MUSD if len(table) else 0.0
        n = len(table)
        for k, r in enumerate(table.to_dict("records")):
            y = n - 1 - k
            unit = (units or {}).get(str(r["parameter"]), param_unit(str(r["parameter"])))
            if r["npv_low_usd"] == r["npv_high_usd"] == r["npv_base_usd"]:
                ax.text(base, y, f"  no change from {_fmt(float(r['low_value']), unit)} to "
                        f"{_fmt(float(r['high_value']), unit)}", va="center", fontsize=9)
                continue
            for npv, value, color, tag in (
                    (float(r["npv_low_usd"]), float(r["low_value"]), "#8c8c8c", "low"),
                    (float(r["npv_high_usd"]), float(r["high_value"]), AI_COLOR, "high")):
                if math.isnan(npv):
                    ax.text(base, y, f"  {tag}: no plan", va="center", fontsize=9)
                    continue
                x = npv / MUSD
                ax.barh(y, x - base, left=base, height=0.6, color=color,
                        label=f"{tag} level" if k == 0 else None)
                ax.text(x, y, f" {_fmt(value, unit)} ", va="center", fontsize=9,
                        ha="left" if x >= base else "right")
        ax.axvline(base, color="black", linewidth=1)
        ax.set_yticks(range(n), [_short(str(p), 48) for p in table["parameter"][::-1]])
        ax.set_xlabel("NPV (MUSD)")
        ax.xaxis.set_major_formatter(THOUSANDS)
        ax.set_ylim(-0.6, max(n, 1) - 0.4)
        ax.set_title(title or f"NPV tornado: one parameter at a time (base {base:,.0f} MUSD)")
        if n:
            ax.legend(loc="lower left", frameon=False)
        ax.margins(x=0.15)
        _dropped_note(fig, _with_npv(results)[1])
        fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ spider


def spider_table(results: pd.DataFrame, params: Sequence[str] | None = None, *,
                 base_values: dict[str, float] | None = None,
                 base_scenario: int = 0) -> pd.DataFrame:
    """NPV against the relative change of each parameter from its base value.

    ``base_values`` are the parameters' base column values (a scaled parameter's column
    holds the factor, base 1.0; default: the base scenario's row). A parameter whose base
    is 0 or not a number has no relative change and is left out (logged). Columns:
    parameter, value, relative_change (0.1 = +10 %), objective_npv_usd; the base point
    (0, base NPV) is included for each parameter.
    """
    params = list(params) if params is not None else parameter_columns(results)
    base, moved = _oat_rows(results, params, base_scenario)
    rows = []
    for p in params:
        b = float(base_values[p]) if base_values and p in base_values else float(base[p])
        if not math.isfinite(b) or b == 0:
            log.info("spider plot: '%s' has base %s, no relative change; left out", p, b)
            continue
        pts = [(float(base[p]), _npv(base))]
        pts += [(float(r[p]), _npv(r)) for _, r in moved[p].iterrows()]
        for value, npv in sorted(pts):
            rows.append((p, value, (value - b) / abs(b), npv))
    table = pd.DataFrame(rows, columns=["parameter", "value", "relative_change",
                                        "objective_npv_usd"])
    return table.dropna(subset=["objective_npv_usd"]).reset_index(drop=True)


def spider_plot(results: pd.DataFrame, params: Sequence[str] | None = None, *,
                base_values: dict[str, float] | None = None, base_scenario: int = 0,
                title: str | None = None) -> Figure:
    """One line per parameter: NPV (MUSD) against its change from the base (%)."""
    table = spider_table(results, params, base_values=base_values,
                         base_scenario=base_scenario)
    with deck_style():
        fig = Figure(figsize=(10, 6))
        ax = fig.add_subplot()
        for p, sub in table.groupby("parameter", sort=False):
            ax.plot(100 * sub["relative_change"], sub["objective_npv_usd"] / MUSD,
                    marker="o", linewidth=2, label=_short(str(p), 50))
        ax.axvline(0, color="#999999", linewidth=1, linestyle=":")
        ax.set_xlabel("change of the parameter from its base value (%)")
        ax.set_ylabel("NPV (MUSD)")
        ax.yaxis.set_major_formatter(THOUSANDS)
        ax.set_title(title or "NPV spider plot: one parameter at a time")
        ax.grid(True, alpha=0.3)
        if len(table):
            ax.legend(loc="best", frameon=False)
        _dropped_note(fig, _with_npv(results)[1])
        fig.tight_layout()
    return fig


# -------------------------------------------------------------------------- regime map


def ai_share(results: pd.DataFrame) -> pd.Series:
    """Share of MW in AI over the horizon: Σ_t AI IT MW / Σ_t (AI IT MW + BTC MW).

    NaN for a row without a plan, 0 for a plan with neither.
    """
    ai = results.filter(regex=r"^ai_it_mw_p\d+$").sum(axis=1, min_count=1)
    btc = results.filter(regex=r"^btc_mw_p\d+$").sum(axis=1, min_count=1)
    total = ai + btc
    share = (ai / total.where(total > 0)).where(total > 0, 0.0)
    return share.where(ai.notna() & btc.notna())


def regime_table(results: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The AI share per (x, y) point: rows y values (ascending), columns x values.

    Repeated points (a grid with more than two parameters) are averaged.
    """
    ok, _ = _with_npv(results)
    df = pd.DataFrame({"x": ok[x].astype(float), "y": ok[y].astype(float),
                       "share": ai_share(ok)})
    return df.pivot_table(index="y", columns="x", values="share", aggfunc="mean")


def _edges(values: np.ndarray) -> np.ndarray:
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    mids = (values[1:] + values[:-1]) / 2
    return np.concatenate([[2 * values[0] - mids[0]], mids, [2 * values[-1] - mids[-1]]])


def regime_map(results: pd.DataFrame, x: str | None = None, y: str | None = None, *,
               title: str | None = None, units: dict[str, str] | None = None) -> Figure:
    """Share of MW in AI over two parameters, as a heatmap with a colour bar (0-100 %).

    A full grid is drawn as cells centred on the grid points; sampled designs (random,
    LHS, ...) as points coloured by their share. ``x``/``y`` default to the first two
    parameter columns.
    """
    params = parameter_columns(results)
    if x is None or y is None:
        if len(params) < 2:
            raise ValueError("a regime map needs two varied parameters; "
                             f"the results table has {params}")
        x, y = params[0], params[1]
    ok, dropped = _with_npv(results)
    table = regime_table(results, x, y)
    is_grid = table.size == len(ok.drop_duplicates([x, y])) and not table.isna().any().any()
    with deck_style():
        fig = Figure(figsize=(9, 7))
        ax = fig.add_subplot()
        mesh: Any
        if is_grid and table.size > 1:
            xs = table.columns.to_numpy(float)
            ys = table.index.to_numpy(float)
            pct = 100 * table.to_numpy(float)
            mesh = ax.pcolormesh(_edges(xs), _edges(ys), pct, cmap=REGIME_CMAP, vmin=0,
                                 vmax=100, shading="flat")
            if min(len(xs), len(ys)) >= 2 and pct.min() < 50 < pct.max():
                ax.contour(xs, ys, pct, levels=[50], colors="black", linewidths=1.2,
                           linestyles="--")
            if pct.size <= 144:  # small grids: the share written in each cell
                for (i, j), v in np.ndenumerate(pct):
                    ax.text(float(xs[j]), float(ys[i]), f"{v:.0f}", ha="center", va="center",
                            fontsize=9)
                ax.set_xticks(xs)
                ax.set_yticks(ys)
        else:
            mesh = ax.scatter(ok[x].astype(float), ok[y].astype(float), c=100 * ai_share(ok),
                              cmap=REGIME_CMAP, vmin=0, vmax=100, s=40, edgecolors="none")
        bar = fig.colorbar(mesh, ax=ax)
        bar.set_label("share of MW in AI over the horizon (%)")
        ax.set_xlabel(param_label(x, units))
        ax.set_ylabel(param_label(y, units))
        ax.set_title(title or "Regime map: where the plan turns to AI")
        _dropped_note(fig, dropped)
        fig.tight_layout()
    return fig


# ------------------------------------------------------------------------- plot_batch


def plot_batch(batch: Any, out_dir: str | Path) -> list[Path]:
    """Draw the pictures that fit a batch's method into ``out_dir``; return the files.

    ``batch`` is a batch store folder or a :class:`~portfolio_opt.batch.api.BatchResult`;
    see :func:`portfolio_opt.batch.plots_analysis.draw_batch` for which pictures.
    """
    from .plots_analysis import draw_batch

    return draw_batch(batch, out_dir)
