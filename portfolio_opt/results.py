"""Result tables from a solved model, the cash flows recomputed in USD, and file output.

The cash flows are recomputed from the plan (halls rounded to integers) with the spec's
formulas, so ``objective_npv_usd`` is exactly the discounted sum of ``cashflows.csv``.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .constants import (
    ACCEPT_TOL,
    CASHFLOW_COLUMNS,
    CONTRACT_COLUMNS,
    CONTRACT_SITE_PERIOD_COLUMNS,
    FLOW_COLUMNS,
    OUTPUT_FILES,
    SITE_PERIOD_COLUMNS,
    Status,
)
from .model.data import ModelData

__all__ = ["Result", "extract_tables"]

_ZERO = 1e-9


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
    extra: dict[str, Any] = field(default_factory=dict)
    # USD of NPV per unit of each limit (docs/marginal_values.md); None when not computed.
    marginal_values: pd.DataFrame | None = None
    # Why an infeasible instance has no plan (docs/infeasibility.md); None otherwise.
    diagnosis: dict[str, Any] | None = None

    @property
    def has_plan(self) -> bool:
        return self.status.has_plan

    def summary(self) -> dict[str, Any]:
        """The content of summary.json."""
        return {
            "instance": self.instance_name,
            "status": str(self.status),
            "objective_npv_usd": self.objective_npv_usd,
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
        return {
            "site_periods": self.site_periods,
            "contracts": self.contracts,
            "contract_site_periods": self.contract_site_periods,
            "flows": self.flows,
            "cashflows": self.cashflows,
        }

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


def _clean(x: float | None) -> float:
    if x is None:
        return 0.0
    return 0.0 if abs(x) < _ZERO else float(x)


def extract_tables(m: Any, d: ModelData) -> dict[str, pd.DataFrame]:
    """The plan's tables from solved variable values (USD, MW)."""
    T = d.periods
    ypp = d.ypp
    start_year = d.instance.horizon.start_year
    year: dict[int, float] = {t: start_year + (t - 1) * ypp for t in T}
    if float(ypp).is_integer():
        year = {t: int(y) for t, y in year.items()}

    def values(var: Any) -> dict[Any, float]:
        return {k: _clean(v) for k, v in var.extract_values().items()}

    btc = values(m.btc_mw)
    buy = values(m.buy_mw)
    halls = {k: round(v) for k, v in values(m.halls).items()}
    serve = {k: v for k, v in values(m.serve).items()}
    grid = values(m.grid_mw)
    gen = values(m.gen_mw)
    flow = values(m.flow_mw)

    served_at: dict[tuple[str, int], float] = defaultdict(float)
    for (_c, s, t), v in serve.items():
        served_at[s, t] += v

    rows = []
    cash: dict[int, dict[str, float]] = {t: defaultdict(float) for t in T}
    for s, site in d.sites.items():
        started = 0
        first_paid = False
        for t in T:
            h = halls.get((s, t), 0)
            b = btc.get((s, t), 0.0)
            reserved = available = 0.0
            load = 0.0
            if site.ai is not None:
                a = site.ai
                started += h
                reserved = a.existing_it_mw + a.block_it_mw * started
                ready = sum(halls.get((s, tau), 0) for tau in T if tau <= t - a.lead_time_periods)
                available = a.existing_it_mw + a.block_it_mw * ready
                load += a.pue * served_at[s, t]
                cash[t]["opex"] += ypp * a.opex_usd_per_it_mw_year * available
                cash[t]["capex"] += a.capex_usd_per_it_mw * a.block_it_mw * h
                if h > 0 and not first_paid and a.existing_it_mw == 0:
                    cash[t]["capex"] += a.fixed_capex_usd
                    first_paid = True
            if site.btc is not None:
                bt = site.btc
                load += bt.pue * b
                cash[t]["btc_revenue"] += d.btc_revenue[s, t] * b
                cash[t]["opex"] += ypp * bt.opex_usd_per_mw_year * b
                if bt.expansion is not None:
                    cash[t]["capex"] += bt.expansion.capex_usd_per_mw * buy.get((s, t), 0.0)
            g = grid.get((s, t), 0.0)
            if site.grid is not None:
                cash[t]["energy_cost"] += d.hours * d.grid_price[s][t] * g
            rows.append((s, t, year[t], b, buy.get((s, t), 0.0), h, reserved, available,
                         served_at[s, t], g, load))
    site_periods = pd.DataFrame(rows, columns=SITE_PERIOD_COLUMNS)
    site_periods["halls_started"] = site_periods["halls_started"].astype(int)

    for r in d.sources:
        for t in T:
            cash[t]["energy_cost"] += d.hours * d.source_price[r][t] * gen.get((r, t), 0.0)

    csp_rows = []
    contract_npv: dict[str, float] = defaultdict(float)
    contract_sites: dict[str, list[str]] = defaultdict(list)
    for (c, s, t), v in serve.items():
        revenue = d.ai_revenue[c, t] * v
        cash[t]["ai_revenue"] += revenue
        contract_npv[c] += revenue * d.disc_op[t]
        if v > ACCEPT_TOL:
            csp_rows.append((c, s, t, v))
            if s not in contract_sites[c]:
                contract_sites[c].append(s)
    contract_site_periods = pd.DataFrame(csp_rows, columns=CONTRACT_SITE_PERIOD_COLUMNS)

    it_mw = values(m.it_mw)
    crow = []
    for c, con in d.contracts.items():
        mw = it_mw.get(c, 0.0)
        accepted = mw > ACCEPT_TOL or con.committed
        order = [s for s in d.eligible[c] if s in contract_sites[c]]
        crow.append((c, con.tenant, accepted, mw if accepted else 0.0, ";".join(order),
                     contract_npv[c], con.committed))
    contracts = pd.DataFrame(crow, columns=CONTRACT_COLUMNS)

    frow = [(arc.link, arc.tail, arc.head, t, flow.get((a, t), 0.0))
            for a, arc in enumerate(d.arcs) for t in T]
    flows = pd.DataFrame(frow, columns=FLOW_COLUMNS)

    crows = []
    for t in T:
        c_ = cash[t]
        operating = c_["btc_revenue"] + c_["ai_revenue"] - c_["energy_cost"] - c_["opex"]
        net = operating - c_["capex"]
        disc = operating * d.disc_op[t] - c_["capex"] * d.disc_cap[t]
        crows.append((t, year[t], c_["btc_revenue"], c_["ai_revenue"], c_["energy_cost"],
                      c_["opex"], c_["capex"], net, disc))
    cashflows = pd.DataFrame(crows, columns=CASHFLOW_COLUMNS)
    return {
        "site_periods": site_periods,
        "contracts": contracts,
        "contract_site_periods": contract_site_periods,
        "flows": flows,
        "cashflows": cashflows,
    }
