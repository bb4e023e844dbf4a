"""The ``portfolio-opt`` command line.

Exit codes: 0 solved (optimal or feasible), 2 invalid input, 3 infeasible, 4 no solution
within the limits or a solver failure, 130 interrupted (Ctrl-C; the best plan found is
written). Heavy modules (pyomo, pandas) load only in the commands that need them.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import PortfolioOptError
from .gcpause import gc_paused
from .outpaths import check_out_dir, check_out_file

app = typer.Typer(
    name="portfolio-opt",
    help="Decide, site by site and period by period, how many MW to keep hashing and how many "
    "to convert to AI/HPC leasing (an exact MILP solved with HiGHS).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

InstanceArg = Annotated[Path, typer.Argument(
    help="Instance file (.yaml, .yml, .json or .xlsx).")]


class TableFormat(StrEnum):
    """How solve writes the plan's tables."""

    CSV = "csv"
    XLSX = "xlsx"


def _fail(exc: PortfolioOptError) -> typer.Exit:
    typer.echo(f"{type(exc).__name__}: {exc}", err=True)
    return typer.Exit(exc.exit_code)


# Set by a command whose work is complete (files closed, output printed): the process may
# then end without the interpreter's teardown (see main).
_finished = False


def _done() -> None:
    global _finished
    _finished = True


def _guard(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a command body: the package's errors become a message and an exit code."""
    try:
        return func(*args, **kwargs)
    except PortfolioOptError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get("PORTFOLIO_OPT_DEBUG"):
            raise
        typer.echo(f"InternalError: {type(exc).__name__}: {exc} "
                   "(set PORTFOLIO_OPT_DEBUG=1 for the traceback)", err=True)
        raise typer.Exit(4) from None


@app.command()
def solve(
    instance: InstanceArg,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder [default: out/<instance name>].")] = None,
    solver_profile: Annotated[str, typer.Option(
        "--solver-profile",
        help="default, fast, exact, hard, or a path to a profile YAML.")] = "default",
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=0, help="Seconds; overrides the profile.")] = None,
    mip_gap: Annotated[float | None, typer.Option(
        "--mip-gap", min=0, help="Relative MIP gap; overrides the profile.")] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, help="HiGHS threads; overrides the profile.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final status "
                                        "line (no live status, no tables).")] = False,
    mip_start: Annotated[bool, typer.Option(
        "--mip-start/--no-mip-start", help="First solve the plan without new lease offers "
        "and hand it to HiGHS as a start (docs/usage.md#the-mip-start).")] = True,
    table_format: Annotated[TableFormat, typer.Option(
        "--format", help="The plan's tables as CSV files or as one results.xlsx workbook.")]
    = TableFormat.CSV,
    report: Annotated[bool, typer.Option(
        "--report", help="Also write report.html, and instance.json for its site map.")]
    = False,
    duals: Annotated[bool, typer.Option(
        "--duals/--no-duals", help="Write marginal_values.csv: USD of NPV per extra MW, USD "
        "or IT MW of each limit (docs/marginal_values.md); implied by --report.")] = False,
    value_of_information: Annotated[bool, typer.Option(
        "--value-of-information", help="With uncertainty: also the EVPI and the VSS "
        "(evpi_usd, vss_usd in summary.json; one more solve per scenario and two for the "
        "mean-value plan; docs/uncertainty.md).")] = False,
) -> None:
    """Solve an instance and write summary.json and the plan's CSV tables to --out."""
    from .constants import EXIT_CODES

    def run() -> Any:
        from .api import solve as solve_instance
        from .live import LiveStatus

        with LiveStatus(LiveStatus.wanted(quiet)) as live:
            return solve_instance(instance, profile=solver_profile, time_limit=time_limit,
                                  mip_gap=mip_gap, threads=threads,
                                  marginal_values=duals or report, mip_start=mip_start,
                                  progress=live.update if live.enabled else None,
                                  value_of_information=value_of_information)

    target = out if out is not None else Path("out") / instance.stem
    _guard(check_out_dir, target, "solve")  # before solving: a file there stays untouched
    with gc_paused():
        result = _guard(run)
        _guard(result.write, target, format=table_format.value)
        if report:
            _guard(_write_report, instance, target)
        from .report import print_result

        print_result(result, target, quiet=quiet)
    _done()
    code = EXIT_CODES[result.status]
    if code:
        raise typer.Exit(code)


def _write_report(instance: Path, target: Path) -> None:
    """instance.json (the validated instance, for the site map) and report.html."""
    from .html_report import REPORT_FILE, save_instance_copy, write_report
    from .loader import load_instance

    inst = load_instance(instance)
    save_instance_copy(inst, target)
    write_report(target, target / REPORT_FILE, instance=inst)


@app.command()
def report(
    results_dir: Annotated[Path, typer.Argument(help="A folder written by solve or sweep.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="HTML file to write [default: RESULTS_DIR/report.html].")] = None,
    instance: Annotated[Path | None, typer.Option(
        "--instance", help="The solved instance, for the site map when the folder has no "
        "instance.json.")] = None,
) -> None:
    """Write one self-contained HTML report of a results folder (opens without network)."""

    def run() -> Path:
        from .html_report import write_report
        from .loader import load_instance

        if out is not None:
            check_out_file(out, "report", suffixes=(".html", ".htm"))
        inst = load_instance(instance) if instance is not None else None
        return write_report(results_dir, out, instance=inst)

    typer.echo(f"wrote {_guard(run)}")


@app.command()
def template(
    out: Annotated[Path, typer.Argument(help="Workbook to write (.xlsx).")],
    periods: Annotated[int, typer.Option(
        "--periods", min=1, help="Per-period columns for each series.")] = 5,
) -> None:
    """Write the documented instance workbook template (one sheet per entity, a README)."""
    from .spreadsheet import write_template

    if out.suffix.lower() != ".xlsx":
        raise typer.BadParameter("expected a file ending in .xlsx", param_hint="OUT")
    _guard(check_out_file, out, "template", "OUT")
    typer.echo(f"wrote {_guard(write_template, out, periods)}")


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="Instance to read (.yaml, .yml, .json, .xlsx).")],
    target: Annotated[Path, typer.Argument(help="File to write; the extension decides.")],
) -> None:
    """Convert an instance between YAML, JSON and .xlsx (validated; loads back identical)."""
    from .spreadsheet import convert as convert_instance

    _guard(check_out_file, target, "convert", "TARGET",
           suffixes=(".yaml", ".yml", ".json", ".xlsx"), reads=(source,))
    typer.echo(f"wrote {_guard(convert_instance, source, target)}")


@app.command()
def validate(instance: InstanceArg) -> None:
    """Check an instance file without solving it (exit 0 valid, 2 invalid)."""
    from .loader import load_instance

    with gc_paused():
        inst = _guard(load_instance, instance)
        n_ai = sum(1 for s in inst.sites if s.ai is not None)
        unc = inst.uncertainty
        scenarios = (f", {len(unc.scenarios)} scenarios ({unc.structure})"
                     if unc is not None else "")
        typer.echo(
            f"{instance}: valid — '{inst.name}': {len(inst.sites)} sites ({n_ai} AI-capable), "
            f"{len(inst.sources)} sources, {len(inst.links)} links, "
            f"{len(inst.contracts)} contracts, {inst.horizon.periods} periods{scenarios}"
        )
    _done()


@app.command()
def generate(
    sites: Annotated[int, typer.Option("--sites", min=1, help="Number of sites.")] = 10,
    periods: Annotated[int, typer.Option("--periods", min=1, help="Number of periods.")] = 10,
    contracts: Annotated[int, typer.Option("--contracts", min=0, help="Lease offers.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same file).")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.yaml or .json).")]
    = Path("generated.yaml"),
    deals: Annotated[bool, typer.Option(
        "--deals/--no-deals", help="Deal structures (spec v2 A): energy recovery, tenant "
        "capex, groups, fixed allocations, the contract tail.")] = True,
    debt: Annotated[bool, typer.Option(
        "--debt/--no-debt", help="A finance.debt block (spec v2 D).")] = True,
    n_blocks: Annotated[int, typer.Option(
        "--blocks", min=2, max=12, help="K price blocks (spec v2 C): a scarcity block and "
        "K - 1 price-duration bands; per-block prices on most grid sites.")] = 4,
    no_blocks: Annotated[bool, typer.Option(
        "--no-blocks", help="No price blocks: one price for every hour.")] = False,
    demand_response: Annotated[bool, typer.Option(
        "--demand-response/--no-demand-response",
        help="Demand response (spec v2 C) on about half the mining sites.")] = True,
) -> None:
    """Write a valid synthetic instance of any size that uses every feature of the format.

    --no-deals --no-debt --no-blocks --no-demand-response gives the v1 instance of the
    seed (what the library's generate_instance gives by default)."""
    from .generate import generate_instance, write_instance

    def run() -> None:
        check_out_file(out, "generate", suffixes=(".yaml", ".yml", ".json"))
        data = generate_instance(sites=sites, periods=periods, contracts=contracts, seed=seed,
                                 deals=deals, debt=debt, blocks=0 if no_blocks else n_blocks,
                                 demand_response=demand_response)
        from .validate import validate_data

        validate_data(data, str(out))
        write_instance(data, out)

    _guard(run)
    typer.echo(f"wrote {out}: {sites} sites, {periods} periods, {contracts} contracts, "
               f"seed {seed}")


@app.command()
def sweep(
    batch: Annotated[Path, typer.Argument(help="Batch file (.yaml): base, method, parameters.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Store folder (resumed if present).")],
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Worker processes [default: one per core].")] = None,
    dask: Annotated[str | None, typer.Option(
        "--dask", help="'local' (a LocalCluster on 127.0.0.1), tcp://HOST:PORT or "
        "tls://HOST:PORT.")] = None,
    dask_tls_ca_file: Annotated[Path | None, typer.Option(
        "--dask-tls-ca-file", help="tls://: the CA that signed the scheduler's certificate "
        "[default: Dask's config].")] = None,
    dask_tls_cert: Annotated[Path | None, typer.Option(
        "--dask-tls-cert", help="tls://: this client's certificate (PEM).")] = None,
    dask_tls_key: Annotated[Path | None, typer.Option(
        "--dask-tls-key", help="tls://: its private key, unless in the certificate file.")]
    = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Delete --out's results first.")]
    = False,
    chunk_size: Annotated[int | None, typer.Option(
        "--chunk-size", min=1, help="Scenarios per task [default: automatic].")] = None,
    plot: Annotated[bool, typer.Option("--plot", help="Also draw the batch's pictures.")]
    = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")]
    = False,
) -> None:
    """Solve every scenario of a sensitivity batch; results and analyses go to --out."""
    from .batch.report import print_batch
    from .batch.report import sweep as run_sweep

    result = _guard(run_sweep, batch, out, workers=workers, dask=dask, fresh=fresh,
                    chunk_size=chunk_size, plot=plot, quiet=quiet,
                    dask_tls=(dask_tls_ca_file, dask_tls_cert, dask_tls_key))
    print_batch(result, quiet=quiet)


@app.command()
def breakeven(
    instance: InstanceArg,
    param: Annotated[str, typer.Option(
        "--param", help="Parameter path, e.g. market.hashprice_usd_per_ph_day.")],
    value_range: Annotated[tuple[float, float], typer.Option(
        "--range", help="LO HI: the values searched (factors on the base with --scale).")],
    tol: Annotated[float, typer.Option(
        "--tol", help="Tolerance as a fraction of HI - LO.")] = 1e-3,
    grid: Annotated[int, typer.Option("--grid", min=2, help="Coarse grid points.")] = 9,
    scale: Annotated[bool, typer.Option(
        "--scale", help="LO and HI multiply the base value (a series keeps its shape).")]
    = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: out/<instance>-breakeven).")] = None,
    plot: Annotated[bool, typer.Option("--plot", help="Also draw breakevens.png/.svg.")]
    = False,
    solver_profile: Annotated[str, typer.Option(
        "--solver-profile", help="Profile for the deciding solves.")] = "exact",
    verify: Annotated[bool, typer.Option(
        "--verify/--no-verify", help="Confirm each flip by cold solves at +/- tol.")] = True,
) -> None:
    """Find where the optimal plan flips between BTC and AI at each site and overall."""

    def run() -> list[Path]:
        from .batch.breakeven import run_breakeven

        lo, hi = value_range
        target = out if out is not None else Path("out") / f"{instance.stem}-breakeven"
        check_out_dir(target, "breakeven")  # before the solves: a file there stays untouched
        res = run_breakeven(instance, param, lo, hi, rel_tol=tol, grid=grid, scale=scale,
                            profile=solver_profile, verify=verify)
        files = res.write(target)
        if plot:
            from .batch.plots import save_figure
            from .batch.plots_analysis import breakeven_figure

            files += save_figure(breakeven_figure(res), target, "breakevens")
        typer.echo(res.message)
        if len(res.table):
            typer.echo(res.table.to_string(index=False, float_format=lambda x: f"{x:.6g}"))
        for note in res.notes:
            typer.echo(f"note: {note}")
        return files

    for path in _guard(run):
        typer.echo(f"wrote {path}")


@app.command()
def frontier(
    instance: InstanceArg,
    weights: Annotated[str, typer.Option(
        "--weights", help="CVaR weights w between 0 and 1, comma-separated.")]
    = "0,0.25,0.5,0.75,1",
    alpha: Annotated[float | None, typer.Option(
        "--alpha", help="CVaR level a in [0, 1) for every point [default: the instance's "
        "risk.cvar_alpha].")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder [default: out/<instance name>-frontier].")] = None,
    solver_profile: Annotated[str, typer.Option(
        "--solver-profile", "--profile", help="default, fast, exact, hard, or a path to a profile "
        "YAML.")] = "default",
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=0, help="Seconds per point; overrides the profile.")] = None,
    mip_gap: Annotated[float | None, typer.Option(
        "--mip-gap", min=0, help="Relative MIP gap; overrides the profile.")] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, help="HiGHS threads; overrides the profile.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines or "
                                        "table.")] = False,
) -> None:
    """E[NPV] against CVaR: one model re-solved per CVaR weight; writes frontier.csv,
    frontier.json and frontier.png to --out (docs/uncertainty.md)."""
    from .constants import EXIT_CODES, Status
    from .frontier_output import run_frontier

    target = out if out is not None else Path("out") / f"{instance.stem}-frontier"
    frame, files, table = _guard(
        run_frontier, instance, weights, target, alpha=alpha, profile=solver_profile,
        time_limit=time_limit, mip_gap=mip_gap, threads=threads,
        echo=None if quiet else lambda text, err: typer.echo(text, err=err))
    if not quiet:
        typer.echo(table)
    for path in files:
        typer.echo(f"wrote {path}")
    codes = [EXIT_CODES[Status(s)] for s in frame["status"]]
    code = next((c for c in codes if c), 0)
    if code:
        raise typer.Exit(code)


@app.command()
def blocks(
    prices: Annotated[Path, typer.Argument(
        help="CSV of timestamp, price_usd_per_mwh and optionally node (hourly or any step).")],
    n_blocks: Annotated[int, typer.Option(
        "--blocks", "-k", help="Number of blocks K (2-24), the scarcity block included.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="File to write (.yaml or .json) [default: print the fragment].")]
    = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Scarcity block: the hours priced above this, USD/MWh "
        "[default: 200].")] = None,
    top_share: Annotated[float | None, typer.Option(
        "--top-share", help="Scarcity block: this share of the dearest hours instead.")]
    = None,
    band_shares: Annotated[str | None, typer.Option(
        "--band-shares", help="Shares of the other hours per band, dearest first, e.g. "
        "0.15,0.35,0.5 [default: equal].")] = None,
    instance: Annotated[Path | None, typer.Option(
        "--instance", help="Write this instance with market.blocks and block grid prices.")]
    = None,
    node_map: Annotated[list[str] | None, typer.Option(
        "--node-map", help="NODE=SITE,... : the site whose grid each node prices "
        "[default: the site of the same id].")] = None,
    apply_to: Annotated[str | None, typer.Option(
        "--apply-to", help="A CSV of one series: 'grid' (every site with a grid) or "
        "SITE,SITE.")] = None,
) -> None:
    """Turn an hourly price series into K price blocks (docs/price_blocks.md)."""

    def run() -> tuple[str, list[str], str | None]:
        from .blocks import run_blocks

        return run_blocks(prices, n_blocks, out=out, threshold=threshold,
                          top_share=top_share, band_shares=band_shares, instance=instance,
                          node_map=node_map, apply_to=apply_to)

    text, notes, document = _guard(run)
    if document is not None:
        typer.echo(document, nl=False)
    typer.echo(text, err=document is not None)
    for note in notes:
        typer.echo(f"note: {note}", err=document is not None)


@app.command()
def scenarios(
    instance: InstanceArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.yaml or .json).")],
    paths: Annotated[int, typer.Option("--paths", "-n", min=1, help="Sampled paths N.")]
    = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed (same seed, same "
                                      "file).")] = 0,
    model: Annotated[str, typer.Option("--model", help="gbm-halving (halvings modelled) or "
                                       "gbm-anchored (the instance's series as the mean).")]
    = "gbm-halving",
    volatility: Annotated[float | None, typer.Option(
        "--volatility", help="Of log hashprice, per sqrt(year) (default 0.30).")] = None,
    reduce: Annotated[int | None, typer.Option(
        "--reduce", "-k", help="Keep K representative paths (fast forward selection).")]
    = None,
    tree: Annotated[str | None, typer.Option(
        "--tree", help="A multi-stage tree 'PERIOD:BRANCHES,...', e.g. '2:3,4:2'.")] = None,
    energy_correlation: Annotated[float | None, typer.Option(
        "--energy-correlation", help="Also energy_price_scale paths, their shocks correlated "
        "RHO with hashprice's (default: none).")] = None,
    energy_vol: Annotated[float | None, typer.Option(
        "--energy-vol", help="Of log energy scale, per sqrt(year) (default 0.10).")] = None,
    structure: Annotated[str | None, typer.Option(
        "--structure", help="two_stage or multi_stage (default: multi_stage with --tree, "
        "two_stage otherwise).")] = None,
    cvar_alpha: Annotated[float | None, typer.Option("--cvar-alpha", help="risk.cvar_alpha.")]
    = None,
    cvar_weight: Annotated[float | None, typer.Option(
        "--cvar-weight", help="risk.cvar_weight.")] = None,
) -> None:
    """Write the instance with hashprice scenarios (spec v2 B; docs/scenarios.md)."""

    def run() -> str:
        from .scenario_gen import model_from_options, run_scenarios

        return run_scenarios(instance, out, paths=paths, seed=seed, reduce=reduce, tree=tree,
                             model=model_from_options(model, volatility, energy_correlation,
                                                      energy_vol),
                             structure=structure, cvar_alpha=cvar_alpha,
                             cvar_weight=cvar_weight)

    typer.echo(_guard(run))


def main() -> None:
    """Console-script entry point.

    After ``solve`` or ``validate`` has done its work, the process ends without the
    interpreter's teardown (freeing every object of pandas, Pyomo and the model one by one,
    then a last full garbage collection: a few tenths of a second of a realistic solve):
    the exit handlers run and the output is flushed first, then ``os._exit``.
    """
    try:
        app(prog_name="portfolio-opt")
    except SystemExit as exc:
        code = exc.code
        if not _finished or not (code is None or isinstance(code, int)):
            raise
        import atexit

        atexit._run_exitfuncs()  # logging.shutdown and any other registered handler
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed pipe: let the interpreter report it
            raise exc from None
        os._exit(code or 0)


if __name__ == "__main__":
    main()
