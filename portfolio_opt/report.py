"""A readable terminal summary of a result (rich): NPV, BTC vs AI MW by site, contracts."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .results import Result

__all__ = ["print_result"]


def _musd(x: float | None) -> str:
    return "n/a" if x is None else f"{x / 1e6:,.1f} MUSD"


def print_result(result: Result, out_dir: Path | None = None, quiet: bool = False) -> None:
    """Print the status line; unless quiet, the site-by-period plan and the contracts."""
    ok = result.has_plan
    console = Console(file=sys.stdout if ok else sys.stderr, highlight=False, soft_wrap=True)
    gap = "n/a (no integers)" if result.mip_gap is None else f"{result.mip_gap:.2e}"
    console.print(
        f"[bold]{result.instance_name}[/bold]: status [bold]{result.status}[/bold], "
        f"NPV {_musd(result.objective_npv_usd)}, gap {gap}, "
        f"build {result.build_seconds:.2f} s, solve {result.solve_seconds:.2f} s"
    )
    if result.message:
        console.print(result.message, markup=False)
    if ok and not quiet:
        sp = result.site_periods
        periods = sorted(sp["period"].unique())
        years = dict(zip(sp["period"], sp["year"], strict=False))
        table = Table(title="Hashing MW | AI IT MW served, by site and year", show_lines=False)
        table.add_column("site")
        for t in periods:
            table.add_column(str(years[t]), justify="right")
        for site, rows in sp.groupby("site", sort=False):
            cells = [
                f"{b:,.0f} | {a:,.0f}"
                for b, a in zip(rows["btc_mw"], rows["ai_served_it_mw"], strict=True)
            ]
            table.add_row(str(site), *cells)
        console.print(table)
        acc = result.contracts[result.contracts["accepted"]]
        if len(acc):
            ct = Table(title="Accepted contracts")
            for col in ("contract", "tenant", "IT MW", "sites", "lease NPV"):
                ct.add_column(col, justify="right" if col in ("IT MW", "lease NPV") else "left")
            for row in acc.itertuples(index=False):
                ct.add_row(str(row.contract), str(row.tenant), f"{row.it_mw:,.1f}",
                           str(row.sites), _musd(float(row.npv_usd)))  # type: ignore[arg-type]
            console.print(ct)
        else:
            console.print("No contract accepted.")
    if out_dir is not None and not quiet:
        console.print(f"files written to {out_dir}/")
