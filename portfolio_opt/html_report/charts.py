"""The plan's charts: cash flows by period, from revenue to NPV, and MW by site.

Money is shown in MUSD (millions of USD, nominal unless labelled discounted); MW are IT MW
(ASIC MW hashing and AI IT MW served), as in site_periods.csv.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .svg import PALETTE, render

__all__ = ["block_mw", "bridge_steps", "btc_by_block", "cash_by_period", "cash_columns",
           "mw_by_site", "npv_bridge"]

MUSD = 1e6
MAX_SITE_PANELS = 24  # more sites: the largest 23 get a panel, the rest share one
MAX_BLOCK_SITES = 12  # the block chart: this many of the largest sites
AI_COLUMN = "AI IT MW served"

_INFLOWS = (("btc_revenue", "BTC revenue", PALETTE["btc"]),
            ("ai_revenue", "AI lease revenue", PALETTE["ai"]),
            ("energy_recovery", "energy recovery", "#6fb1c9"),
            ("dr_credit", "demand-response credit", "#8fbf5a"),
            ("tenant_capex", "tenant capex", "#b9a06a"),
            ("debt_drawn", "debt drawn", "#7d8fb3"))
_OUTFLOWS = (("energy_cost", "energy", "#c96f53"), ("opex", "opex", "#9c6ade"),
             ("capex", "capex", "#5c5c5c"), ("debt_service", "debt service", "#3d4a66"))
_ALWAYS = {"btc_revenue", "ai_revenue", "energy_cost", "opex", "capex"}  # v1's columns


def cash_columns(cashflows: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    """The inflow and outflow series to show: v1's always, spec v2's (energy recovery,
    demand-response credits, tenant capex, debt drawn and its service) when present and
    not zero in every period."""
    def shown(col: str) -> bool:
        return col in _ALWAYS or (col in cashflows.columns
                                  and bool((cashflows[col].astype(float) != 0).any()))
    return ([f for f in _INFLOWS if shown(f[0])], [f for f in _OUTFLOWS if shown(f[0])])


def bridge_steps(cashflows: pd.DataFrame, summary: dict[str, Any] | None = None
                 ) -> list[tuple[str, float, str]]:
    """The whole-horizon waterfall: (label, USD, kind), kind "step" or "total".

    Cash-flow components, net undiscounted, discounting, then (when not zero) the
    discounted cash flow, + terminal value (the contract tail) − debt service after the
    horizon, ending at the NPV: sum of discounted + terminal_value_usd -
    debt_after_horizon_usd.
    """
    s = summary or {}
    inflows, outflows = cash_columns(cashflows)
    steps = [(label, float(cashflows[col].sum()), "step") for col, label, _ in inflows]
    steps += [(label, -float(cashflows[col].sum()), "step") for col, label, _ in outflows]
    net = float(cashflows["net"].sum())
    disc = float(cashflows["discounted"].sum())
    tail = float(s.get("terminal_value_usd") or 0.0)
    after = float(s.get("debt_after_horizon_usd") or 0.0)
    steps += [("net, undiscounted", net, "total"), ("discounting", disc - net, "step")]
    if tail or after:
        steps.append(("discounted cash flow", disc, "total"))
        if tail:
            steps.append(("terminal value", tail, "step"))
        if after:
            steps.append(("debt after horizon", -after, "step"))
    steps.append(("NPV", disc + tail - after, "total"))
    return steps


def _years(df: pd.DataFrame) -> list[str]:
    return [f"{y:g}" if isinstance(y, float) else str(y) for y in df["year"]]


def _ticks(ax: Axes, labels: list[str]) -> None:
    step = max(1, int(np.ceil(len(labels) / 12)))
    ax.set_xticks(range(0, len(labels), step), labels[::step],
                  rotation=45 if len(labels) > 8 else 0)


def cash_by_period(cashflows: pd.DataFrame) -> str:
    """Stacked inflows above zero and outflows below, with net and discounted net."""
    cf = cashflows.sort_values("period")
    x = np.arange(len(cf))
    years = _years(cf)

    inflows, outflows = cash_columns(cf)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        up = np.zeros(len(cf))
        for col, label, color in inflows:
            v = cf[col].to_numpy(float) / MUSD
            ax.bar(x, v, bottom=up, color=color, label=label, width=0.7)
            up += v
        down = np.zeros(len(cf))
        for col, label, color in outflows:
            v = cf[col].to_numpy(float) / MUSD
            ax.bar(x, -v, bottom=-down, color=color, label=label, width=0.7)
            down += v
        ax.plot(x, cf["net"].to_numpy(float) / MUSD, "o-", color="black", lw=1.2, ms=4,
                label="net")
        ax.plot(x, cf["discounted"].to_numpy(float) / MUSD, "D--", color=PALETTE["total"],
                lw=1.0, ms=4, label="net, discounted")
        ax.axhline(0, color="#555", lw=0.8)
        ax.set_ylabel("MUSD")
        _ticks(ax, years)
        ax.set_title("Cash flow by period")
        ax.legend(ncols=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12))

    return render(draw, 9.5, 4.2)


def npv_bridge(cashflows: pd.DataFrame, summary: dict[str, Any] | None = None) -> str:
    """Two waterfalls: the horizon's totals from revenue to NPV (with the terminal value
    and the debt service after the horizon, see :func:`bridge_steps`), and NPV period by
    period."""
    cf = cashflows.sort_values("period")
    bridge = bridge_steps(cf, summary)
    colors = {label: color for _, label, color in (*_INFLOWS, *_OUTFLOWS)}
    colors.update({"discounting": "#a0a7b4", "terminal value": PALETTE["ai"],
                   "debt after horizon": "#3d4a66"})
    npv = bridge[-1][1]
    tail = [(label, value) for label, value, _ in bridge
            if label in ("terminal value", "debt after horizon")]

    def waterfall(ax: Axes, items: list[tuple[str, float, str]], totals: dict[int, float],
                  title: str) -> None:
        level = 0.0
        names = []
        for i, (label, value, color) in enumerate(items):
            names.append(label)
            if i in totals:
                ax.bar(i, totals[i] / MUSD, color=PALETTE["total"], width=0.65)
                _label(ax, i, totals[i], max(totals[i], 0.0))
                level = totals[i]
                continue
            ax.bar(i, value / MUSD, bottom=level / MUSD, color=color, width=0.65)
            _label(ax, i, value, level + max(value, 0.0))
            level += value
        ax.axhline(0, color="#555", lw=0.8)
        ax.use_sticky_edges = False  # floating bars' bottoms would pin the y limits
        ax.margins(y=0.12)
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right")
        ax.set_ylabel("MUSD")
        ax.set_title(title)

    def draw(fig: Figure) -> None:
        left, right = fig.subplots(1, 2, width_ratios=[1, 1.25])
        items = [(label, value, colors.get(label, "")) for label, value, _ in bridge]
        waterfall(left, items, {i: v for i, (_, v, kind) in enumerate(bridge)
                                if kind == "total"}, "Whole horizon: from revenue to NPV")
        per = [(y, float(v), PALETTE["positive"] if v >= 0 else PALETTE["negative"])
               for y, v in zip(_years(cf), cf["discounted"], strict=True)]
        per += [(label, value, colors[label]) for label, value in tail]
        waterfall(right, [*per, ("NPV", npv, "")], {len(per): npv},
                  "NPV built up period by period (discounted)")

    return render(draw, 11, 4.2)


def _label(ax: Axes, i: int, value: float, top: float) -> None:
    """The bar's value in MUSD, just above its top."""
    ax.annotate(f"{value / MUSD:,.1f}", (i, top / MUSD), xytext=(0, 2),
                textcoords="offset points", ha="center", va="bottom", fontsize=7)


def mw_by_site(site_periods: pd.DataFrame) -> str:
    """One small panel per site: ASIC MW hashing and AI IT MW served, stacked by period."""
    sp = site_periods.sort_values(["period"], kind="stable")
    order = list(dict.fromkeys(site_periods["site"]))  # instance order
    size = sp.groupby("site")[["btc_mw", "ai_served_it_mw"]].sum().sum(axis=1)
    panels: list[tuple[str, pd.DataFrame]] = [("all sites", _sum_by_period(sp))]
    if len(order) > MAX_SITE_PANELS:
        big = set(size.sort_values(ascending=False).index[: MAX_SITE_PANELS - 1])
        keep = [s for s in order if s in big]
        rest = sp[~sp["site"].isin(big)]
        panels += [(s, sp[sp["site"] == s]) for s in keep]
        panels.append((f"other {len(order) - len(keep)} sites", _sum_by_period(rest)))
    else:
        panels += [(s, sp[sp["site"] == s]) for s in order]
    ncols = min(4, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))

    def draw(fig: Figure) -> None:
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, (name, rows) in zip(axes, panels, strict=False):
            rows = rows.sort_values("period")
            x = np.arange(len(rows))
            btc = rows["btc_mw"].to_numpy(float)
            ai = rows["ai_served_it_mw"].to_numpy(float)
            ax.bar(x, btc, color=PALETTE["btc"], width=0.75, label="BTC MW hashing")
            ax.bar(x, ai, bottom=btc, color=PALETTE["ai"], width=0.75,
                   label="AI IT MW served")
            ax.set_title(_short(name), fontsize=9)
            _ticks(ax, _years(rows))
            ax.tick_params(labelsize=7)
            ax.set_ylim(0, max(1.0, float((btc + ai).max()) * 1.08))
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=2)
        fig.supylabel("MW (IT)")

    return render(draw, 11, 1.0 + 2.1 * nrows)


def _sum_by_period(sp: pd.DataFrame) -> pd.DataFrame:
    return sp.groupby("period", as_index=False).agg(
        year=("year", "first"), btc_mw=("btc_mw", "sum"),
        ai_served_it_mw=("ai_served_it_mw", "sum"))


def _short(name: Any, n: int = 28) -> str:
    text = str(name)
    return text if len(text) <= n else text[: n - 1] + "…"


def block_mw(site_period_blocks: pd.DataFrame, site_periods: pd.DataFrame,
             max_sites: int = MAX_BLOCK_SITES) -> pd.DataFrame:
    """Per site (rows, the ``max_sites`` largest, instance order): the ASIC MW hashing in
    each price block's hours (one column per block, in the file's block order) and the AI
    IT MW served (``AI_COLUMN``, the same in every block), each averaged over the periods.

    A site's size is its most hashing MW in any block plus its AI; sites with neither are
    left out.
    """
    spb = site_period_blocks
    blocks = list(dict.fromkeys(spb["block"].astype(str)))
    btc = spb.assign(block=spb["block"].astype(str)).pivot_table(
        index="site", columns="block", values="btc_mw", aggfunc="mean", sort=False)
    ai = site_periods.groupby("site", sort=False)["ai_served_it_mw"].mean()
    order = list(dict.fromkeys(site_periods["site"]))
    frame = pd.DataFrame(index=pd.Index(order, name="site"))
    for b in blocks:
        frame[b] = btc[b].reindex(order).fillna(0.0).astype(float)
    frame[AI_COLUMN] = ai.reindex(order).fillna(0.0).astype(float)
    size = frame[blocks].max(axis=1) + frame[AI_COLUMN]
    size = size[size > 1e-6]
    keep = set(size.sort_values(ascending=False, kind="stable").index[:max_sites])
    return frame[frame.index.isin(keep)]


def _block_colours(n: int) -> list[Any]:
    """BTC orange, lighter to darker, one shade per block."""
    from matplotlib.colors import to_rgb

    base = np.array(to_rgb(PALETTE["btc"]))
    light, dark = base + (1.0 - base) * 0.55, base * 0.55
    if n == 1:
        return [tuple(base)]
    return [tuple(light + (dark - light) * i / (n - 1)) for i in range(n)]


def btc_by_block(frame: pd.DataFrame, labels: dict[str, str] | None = None) -> str:
    """Grouped bars per site: one bar per price block for the ASIC MW hashing in its hours
    (shades of BTC orange), then the AI IT MW served (blue), from :func:`block_mw`."""
    blocks = [c for c in frame.columns if c != AI_COLUMN]
    labels = labels or {}
    colours = _block_colours(len(blocks))
    n = len(blocks) + 1
    width = 0.8 / n

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        x = np.arange(len(frame))
        for i, (b, colour) in enumerate(zip(blocks, colours, strict=True)):
            ax.bar(x + (i - (n - 1) / 2) * width, frame[b].to_numpy(float), width * 0.95,
                   color=colour, edgecolor=colour, linewidth=0.8,  # 0 MW: a line
                   label=f"BTC MW hashing, {labels.get(b, b)}")
        ax.bar(x + (n - 1) / 2 * width, frame[AI_COLUMN].to_numpy(float), width * 0.95,
               color=PALETTE["ai"], label="AI IT MW served (every block)")
        ax.set_xticks(x, [_short(s, 18) for s in frame.index],
                      rotation=30 if len(frame) > 5 else 0, ha="right" if len(frame) > 5
                      else "center")
        ax.set_ylabel("MW (IT), average over the periods")
        ax.set_title("Hashing by price block beside firm AI")
        ax.legend(ncols=min(4, n), fontsize=8, loc="upper center",
                  bbox_to_anchor=(0.5, -0.18 if len(frame) > 5 else -0.08))

    return render(draw, 11, 4.4)
