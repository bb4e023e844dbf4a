"""One self-contained HTML page to hand round: NPV, cash flows, MW by site (by price block
too, with blocks), the site graph, contracts, marginal values and, for a batch, its
tornado and regime map; with scenarios, the NPV distribution, E[NPV] and CVaR, the
hashprice fan and the first-stage plan (and the efficient frontier of a frontier.csv).

The page needs no network to open: CSS is inline, charts are inline SVG drawn with
matplotlib, there is no script. Every name from the instance is HTML-escaped.

>>> from portfolio_opt.html_report import write_report
>>> write_report("out/tutorial", "out/tutorial/report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data import INSTANCE_COPY, ReportData, from_result, load_folder

if TYPE_CHECKING:
    from ..instance import Instance

__all__ = ["INSTANCE_COPY", "REPORT_FILE", "render_report", "save_instance_copy",
           "write_report", "write_result_report"]

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"


def render_report(data: ReportData) -> str:
    """The page's HTML for ``data``."""
    from . import scenario_sections, sections
    from .page import page

    parts = [scenario_sections.uncertainty(data), scenario_sections.frontier(data),
             sections.cash(data), sections.mw(data), sections.blocks(data),
             sections.network(data),
             sections.contracts(data), sections.marginal(data), sections.diagnosis(data),
             sections.batch(data)]
    return page(f"{data.title}: portfolio plan", sections.header(data),
                [p for p in parts if p], sections.footer(data))


def _write(text: str, out_file: Path) -> Path:
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out_file)
    log.info("wrote %s (%d kB)", out_file, len(text) // 1024)
    return out_file


def write_report(results_dir: str | Path, out_file: str | Path | None = None, *,
                 instance: Instance | None = None) -> Path:
    """Write the report of a results folder (default: ``results_dir/report.html``).

    ``instance`` draws the site graph when the folder has no instance.json.
    """
    data = load_folder(results_dir, instance)
    target = Path(out_file) if out_file is not None else Path(results_dir) / REPORT_FILE
    return _write(render_report(data), target)


def write_result_report(result: Any, out_file: str | Path,
                        instance: Instance | None = None) -> Path:
    """Write the report of a :class:`~portfolio_opt.results.Result` held in memory;
    ``instance`` (the solved one) adds the full site graph."""
    return _write(render_report(from_result(result, instance)), Path(out_file))


def save_instance_copy(instance: Instance, folder: str | Path) -> Path:
    """Write ``folder/instance.json``: the validated instance with the keys its file gave,
    so that a later ``portfolio-opt report`` of the folder can draw the site graph."""
    text = json.dumps(instance.model_dump(mode="json", by_alias=True, exclude_unset=True,
                                          exclude_none=True), indent=2, allow_nan=False)
    return _write(text + "\n", Path(folder) / INSTANCE_COPY)
