"""Result tables from a solved model, the cash flows recomputed in USD, and file output.

The cash flows are recomputed from the plan (halls rounded to integers) with the spec's
formulas, so ``objective_npv_usd`` is exactly the discounted sum of ``cashflows.csv``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .constants import (
    CASHFLOW_COLUMNS,
    CONTRACT_COLUMNS,
    CONTRACT_SITE_PERIOD_COLUMNS,
    FLOW_COLUMNS,
    OUTPUT_FILES,
    SITE_PERIOD_COLUMNS,
    SUMMARY_TOTALS,
    Status,
)
from .extract import extract_plan, extract_tables, plan_npv

__all__ = ["Result", "extract_plan", "extract_tables", "plan_npv"]



@dataclass
class Result:
    """A solved instance: status, NPV, gap and the plan as pandas DataFrames."""

    status: Status
    objective_npv_usd: float | None
    mip_gap: float | None
    objective_bound_usd: float | None
    solver: str
    solver_version: str
    solve_seconds: float
    build_seconds: float
    instance_sha256: str | None
    instance_name: str
    termination: str = ""
    message: str = ""
    site_periods: pd.DataFrame = field(default_factory=lambda: _empty(SITE_PERIOD_COLUMNS))
    contracts: pd.DataFrame = field(default_factory=lambda: _empty(CONTRACT_COLUMNS))
    contract_site_periods: pd.DataFrame = field(
        default_factory=lambda: _empty(CONTRACT_SITE_PERIOD_COLUMNS)
    )
    flows: pd.DataFrame = field(default_factory=lambda: _empty(FLOW_COLUMNS))
    cashflows: pd.DataFrame = field(default_factory=lambda: _empty(CASHFLOW_COLUMNS))
    # Per site, period and price block (spec v2 C); None for an instance without blocks.
    site_period_blocks: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # USD of NPV per unit of each limit (docs/marginal_values.md); None when not computed.
    marginal_values: pd.DataFrame | None = None
    # Why an infeasible instance has no plan (docs/infeasibility.md); None otherwise.
    diagnosis: dict[str, Any] | None = None
    # terminal_value_usd, debt_principal_usd, debt_after_horizon_usd (None without a plan)
    totals: dict[str, float | None] = field(
        default_factory=lambda: dict.fromkeys(SUMMARY_TOTALS)
    )
    # With `uncertainty` (spec v2 B): expected_npv_usd, cvar_usd, cvar_alpha, cvar_weight,
    # objective_usd (and evpi_usd, vss_usd when asked for); None for a deterministic instance.
    risk: dict[str, float | None] | None = None
    # scenarios.csv: scenario, probability, npv_usd, in_cvar_tail (with `uncertainty`)
    scenarios: pd.DataFrame | None = None

    @property
    def has_plan(self) -> bool:
        """A plan to write: optimal, feasible, or interrupted after a plan was found."""
        return self.status.has_plan or (self.status == Status.INTERRUPTED
                                        and self.objective_npv_usd is not None)

    def summary(self) -> dict[str, Any]:
        """The content of summary.json."""
        return {
            "instance": self.instance_name,
            "status": str(self.status),
            "objective_npv_usd": self.objective_npv_usd,
            **(self.risk or {}),
            **self.totals,
            "mip_gap": self.mip_gap,
            "objective_bound_usd": self.objective_bound_usd,
            "solver": self.solver,
            "solver_version": self.solver_version,
            "termination": self.termination,
            "solve_seconds": round(self.solve_seconds, 6),
            "build_seconds": round(self.build_seconds, 6),
            "instance_sha256": self.instance_sha256,
            "message": self.message,
            **self.extra,
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        tables = {
            "site_periods": self.site_periods,
            "contracts": self.contracts,
            "contract_site_periods": self.contract_site_periods,
            "flows": self.flows,
            "cashflows": self.cashflows,
        }
        if self.site_period_blocks is not None:
            tables["site_period_blocks"] = self.site_period_blocks
        if self.scenarios is not None:
            tables["scenarios"] = self.scenarios
        return tables

    def write(self, out_dir: str | Path, format: str = "csv") -> list[Path]:
        """Write summary.json and, when there is a plan, the tables: one CSV file each
        (``format="csv"``) or one workbook ``results.xlsx`` with the summary (``"xlsx"``).

        Each file is written to a temporary name and renamed into place, so a reader never
        sees a half-written file. Files of an earlier plan in the folder are removed when
        this result has no plan (or writes its tables in the other format).
        """
        if format not in ("csv", "xlsx"):
            raise ValueError(f"format must be 'csv' or 'xlsx', got {format!r}")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for key, df in self.tables().items():
            target = out / OUTPUT_FILES[key]
            if self.has_plan and format == "csv":
                _atomic_write(target, df.to_csv(index=False, float_format="%.10g"))
                written.append(target)
            elif target.exists():
                target.unlink()
        for optional in ("site_period_blocks", "scenarios"):
            stale = out / OUTPUT_FILES[optional]
            if optional not in self.tables() and stale.exists():
                stale.unlink()  # an earlier run's file must not sit beside this plan
        workbook = out / "results.xlsx"
        if self.has_plan and format == "xlsx":
            from .spreadsheet import write_results_workbook

            written.append(write_results_workbook(self, workbook))
        elif workbook.exists():
            workbook.unlink()
        written += self._write_explanations(out)
        target = out / OUTPUT_FILES["summary"]
        _atomic_write(target, json.dumps(self.summary(), indent=2, allow_nan=False) + "\n")
        written.append(target)
        return written

    def _write_explanations(self, out: Path) -> list[Path]:
        """marginal_values.csv with a plan, diagnosis.json when infeasible; stale ones go."""
        files = {
            out / OUTPUT_FILES["marginal_values"]: None if not self.has_plan
            or self.marginal_values is None
            else self.marginal_values.to_csv(index=False, float_format="%.10g"),
            out / OUTPUT_FILES["diagnosis"]: None if self.status != Status.INFEASIBLE
            or self.diagnosis is None
            else json.dumps(self.diagnosis, indent=2, allow_nan=False) + "\n",
        }
        written = []
        for target, text in files.items():
            if text is not None:
                _atomic_write(target, text)
                written.append(target)
            elif target.exists():
                target.unlink()
        return written


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in columns})


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
