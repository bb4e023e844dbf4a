"""A readable terminal summary of a result (rich): NPV, BTC vs AI MW by site, contracts."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import pandas as pd

    from .results import Result

__all__ = ["MAX_SITES_SHOWN", "print_result"]

MAX_SITES_SHOWN = 15  # sites in the printed plan; site_periods.csv has them all


def _musd(x: float | None) -> str:
    return "n/a" if x is None else f"{x / 1e6:,.1f} MUSD"


def _status_line(result: Result, bold: tuple[str, str] = ("", "")) -> str:
    on, off = bold
    if result.mip_gap is not None:
        gap = f"{result.mip_gap:.2e}"
    else:
        gap = "n/a (no integers)" if result.has_plan else "n/a"
    npv = f"NPV {_musd(result.objective_npv_usd)}"
    risk = result.risk
    if risk is not None:  # spec v2 B: E[NPV], CVaR and the weighted objective
        npv = (f"E[NPV] {_musd(risk['expected_npv_usd'])}, "
               f"CVaR at {risk['cvar_alpha']:g} {_musd(risk['cvar_usd'])}, "
               f"objective {_musd(risk['objective_usd'])}")
        for key, label in (("evpi_usd", "EVPI"), ("vss_usd", "VSS")):
            if key in risk:
                npv += f", {label} {_musd(risk[key])}"
    return (f"{on}{result.instance_name}{off}: status {on}{result.status}{off}, "
            f"{npv}, gap {gap}, "
            f"build {result.build_seconds:.2f} s, solve {result.solve_seconds:.2f} s")


def _expected(sp: pd.DataFrame, result: Result) -> pd.DataFrame:
    """site_periods with one row per site and period: the probability-weighted mean over
    the scenarios (the table itself when there are none)."""
    if "scenario" not in sp.columns or result.scenarios is None:
        return sp
    prob = dict(zip(result.scenarios["scenario"], result.scenarios["probability"],
                    strict=True))
    weight = sp["scenario"].map(prob)
    cols = ["btc_mw", "ai_served_it_mw"]
    out = sp[["site", "period", "year"]].copy()
    for col in cols:
        out[col] = sp[col] * weight
    return out.groupby(["site", "period", "year"], sort=False, as_index=False)[cols].sum()


def _plain(stream: TextIO) -> bool:
    """Whether rich would write to ``stream`` without any styling (not a terminal, no
    colour forced, not a notebook): then the quiet status line needs no rich import."""
    return (not stream.isatty() and not os.environ.get("FORCE_COLOR")
            and os.environ.get("TTY_COMPATIBLE") != "1" and "ipykernel" not in sys.modules)


def print_result(result: Result, out_dir: Path | None = None, quiet: bool = False) -> None:
    """Print the status line; unless quiet, the site-by-period plan and the contracts."""
    ok = result.has_plan
    stream = sys.stdout if ok else sys.stderr
    if quiet and _plain(stream):
        print(_status_line(result), file=stream)
        if result.message:
            print(result.message, file=stream)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, highlight=False, soft_wrap=True)
    console.print(_status_line(result, ("[bold]", "[/bold]")))
    if result.message:
        console.print(result.message, markup=False)
    if ok and not quiet:
        sp = _expected(result.site_periods, result)
        periods = sorted(sp["period"].unique())
        years = dict(zip(sp["period"], sp["year"], strict=False))
        # The largest sites by peak MW (hashing + AI IT served); the rest are in the file.
        peak = (sp["btc_mw"] + sp["ai_served_it_mw"]).groupby(sp["site"], sort=False).max()
        largest = list(peak.sort_values(ascending=False, kind="stable").index[:MAX_SITES_SHOWN])
        rows_of = dict(list(sp.groupby("site", sort=False)))
        cells = {
            site: [f"{b:,.0f}/{a:,.0f}" for b, a in
                   zip(rows_of[site]["btc_mw"], rows_of[site]["ai_served_it_mw"], strict=True)]
            for site in largest
        }
        more = len(peak) - len(largest)
        title = "Hashing MW / AI IT MW served, by site and year" + (
            ", expected over the scenarios" if result.risk is not None else "") + (
            f" ({len(largest)} largest sites of {len(peak)} by peak MW)" if more else "")
        table = Table(title=title, box=None, padding=(0, 1))
        table.add_column("site", no_wrap=True)
        for t in periods:
            table.add_column(str(years[t]), justify="right", no_wrap=True)
        for site, texts in cells.items():
            table.add_row(str(site), *texts)
        width = max(len(str(s)) for s in cells) + sum(
            max(len(str(years[t])), *(len(r[i]) for r in cells.values())) + 2
            for i, t in enumerate(periods)
        )
        console.width = max(console.width, width + 4)
        console.print(table)
        if more:
            console.print(f"... and {more} more sites in site_periods.csv")
        acc = result.contracts[result.contracts["accepted"]]
        if len(acc):
            ct = Table(title="Accepted contracts")
            for col in ("contract", "tenant", "IT MW", "sites", "lease NPV"):
                ct.add_column(col, justify="right" if col in ("IT MW", "lease NPV") else "left")
            for rec in acc.to_dict("records"):
                ct.add_row(str(rec["contract"]), str(rec["tenant"]), f"{rec['it_mw']:,.1f}",
                           str(rec["sites"]), _musd(float(rec["npv_usd"])))
            console.print(ct)
        else:
            console.print("No contract accepted.")
    if out_dir is not None and not quiet:
        console.print(f"files written to {out_dir}/")
