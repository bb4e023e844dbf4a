"""What ``portfolio-opt sweep`` shows: the command's body, its progress bar and its summary.

Kept out of ``cli.py`` so the command there stays a few lines; this module prints because
it is the command line's voice (the library itself only logs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import InputError, InputIssue
from ..outpaths import check_out_dir
from .api import BatchResult

__all__ = ["print_batch", "sweep"]


TLS_OPTIONS = ("--dask-tls-ca-file", "--dask-tls-cert", "--dask-tls-key")


def _check_dask(dask: str | None, tls: tuple[Path | None, ...]) -> Any:
    """The ``Security`` for ``--dask`` (None: Dask's configuration decides), or an error."""
    from .dask_runner import SCHEMES

    if dask is not None and dask != "local" and not dask.startswith(SCHEMES):
        raise InputError([InputIssue("--dask", "option", "dask", dask,
                                     "expected 'local' or a scheduler address such as "
                                     "tcp://10.0.0.5:8786 or tls://10.0.0.5:8786")])
    given = {name: path for name, path in zip(TLS_OPTIONS, tls, strict=True) if path}
    if not given:
        return None
    issues = []
    if dask is None or not dask.startswith("tls://"):
        issues.append(InputIssue(
            "--dask", "option", "dask", dask, f"{', '.join(given)} apply to a "
            "tls://HOST:PORT scheduler; expected --dask tls://..."))
    for name, path in given.items():
        if not Path(path).is_file():
            issues.append(InputIssue(name, "option", name.lstrip("-"), str(path),
                                     "expected an existing PEM file"))
    for name in TLS_OPTIONS[:2]:
        if name not in given:
            issues.append(InputIssue(name, "option", name.lstrip("-"), None,
                                     "required with the other TLS options: Dask's TLS checks "
                                     "both sides (the CA, and this client's certificate)"))
    if issues:
        raise InputError(issues)
    from .dask_runner import tls_security

    ca, cert, key = tls
    assert ca is not None and cert is not None
    return tls_security(ca, cert, key)


def sweep(batch: Path, out: Path, *, workers: int | None, dask: str | None, fresh: bool,
          chunk_size: int | None, plot: bool, quiet: bool,
          dask_tls: tuple[Path | None, Path | None, Path | None] = (None, None, None)
          ) -> BatchResult:
    """Run the batch with a progress bar on stderr; draw the pictures when asked.

    ``dask_tls``: the CA file, client certificate and key for a ``tls://`` scheduler.
    """
    from .api import open_batch, plot_batch_result, run_batch
    from .progress import ProgressBar

    security = _check_dask(dask, dask_tls)
    check_out_dir(out, "sweep")
    checked = open_batch(batch)  # an invalid file is reported before any bar is drawn
    if quiet:
        result = run_batch(checked, out, workers=workers, dask=dask, fresh=fresh,
                           chunk_size=chunk_size, dask_security=security)
    else:
        with ProgressBar(f"sweep {batch.name}") as bar:
            result = run_batch(checked, out, workers=workers, dask=dask, fresh=fresh,
                               chunk_size=chunk_size, progress=bar.update,
                               dask_security=security)
    if plot:
        for path in plot_batch_result(result, out):
            typer.echo(f"wrote {path}")
    return result


def _money(x: Any) -> str:
    try:
        return f"{float(x) / 1e6:,.1f} MUSD"
    except (TypeError, ValueError):
        return "-"


def print_batch(result: BatchResult, quiet: bool = False) -> None:
    """Counts by status, where the files are, and each analysis's leading rows."""
    s = result.stats
    counts = result.results["status"].value_counts().to_dict()
    shown = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    typer.echo(f"{len(result.results)}/{len(result.design)} scenarios stored ({shown}); "
               f"this run solved {s.solved} ({s.stored_before} were already stored, "
               f"{s.retries} retried, {s.crashed} crashed) in {s.seconds:.1f} s "
               f"on {s.workers} {s.runner} worker(s)")
    typer.echo(f"results: {result.out_dir / 'results.parquet'}, "
               f"{result.out_dir / 'site_periods.parquet'}")
    if quiet:
        return
    for name, a in result.analyses.items():
        typer.echo(f"\n{name} ({result.out_dir / 'analysis' / (name + '.csv')}):")
        t = a.table
        if name == "tornado":
            for r in t.head(10).itertuples(index=False):
                typer.echo(f"  {r.parameter:<55} low {_money(r.npv_low_usd):>16}  "
                           f"high {_money(r.npv_high_usd):>16}  swing {_money(r.swing_usd)}")
        elif len(t):
            typer.echo("  " + t.head(10).to_string(index=False, float_format="%.4g")
                       .replace("\n", "\n  "))
        for note in a.notes:
            typer.echo(f"  note: {note}")
