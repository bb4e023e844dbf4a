"""Sensitivity analyses of a finished batch: tornado (oat), Sobol and Morris (SALib).

Policy for scenarios without an NPV (infeasible, no plan in time, error, invalid,
crashed, or not solved yet): Sobol and Morris estimators average over independent blocks
of the design -- a Sobol base sample with its D + 2 rows (A, the D mixed rows, B), a
Morris trajectory with its D + 1 rows -- so a block with any such scenario is dropped
whole and the indices are computed from the complete blocks, which is still a valid
(smaller) design. The table says how many blocks were used and dropped and the notes
name the failed scenarios. Fewer than two complete blocks: no indices, only the note.
Dropping describes NPV over the part of the space where a plan exists; when failures
cluster (e.g. a committed contract that cannot be served at low capacity) the indices
are conditional on feasibility, which the note says whenever anything was dropped.
Rows stopped by a limit with a plan (``feasible``) keep their NPV; their gap is in the
results table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from .columns import HAS_NPV
from .designs import Design

__all__ = ["Analysis", "analyse", "morris_table", "oat_table", "sobol_table", "tornado_table"]

CONF_LEVEL = 0.95
RESAMPLES = 1000


@dataclass
class Analysis:
    """One analysis: its table and what a reader must know about it."""

    name: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    blocks_used: int = 0
    blocks_dropped: int = 0
    failed_scenarios: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "notes": self.notes, "blocks_used": self.blocks_used,
                "blocks_dropped": self.blocks_dropped,
                "failed_scenarios": self.failed_scenarios}


def _npv(design: Design, results: pd.DataFrame) -> np.ndarray:
    """NPV per scenario id, NaN where there is none (failed or not stored)."""
    y = np.full(len(design), np.nan)
    ok = results[results["status"].isin(HAS_NPV)]
    y[ok["scenario"].to_numpy(dtype=int)] = ok["objective_npv_usd"].to_numpy(dtype=float)
    return y


def oat_table(design: Design, results: pd.DataFrame) -> pd.DataFrame:
    """Every oat scenario in long form: parameter, value (its column), NPV, status."""
    status = dict(zip(results["scenario"], results["status"], strict=True))
    y = _npv(design, results)
    rows = [{"parameter": sc.varied or "(base)", "scenario": sc.id,
             "value": sc.columns[sc.varied] if sc.varied else math.nan,
             "objective_npv_usd": y[sc.id], "status": status.get(sc.id, "missing")}
            for sc in design.scenarios]
    return pd.DataFrame(rows)


def tornado_table(design: Design, results: pd.DataFrame) -> Analysis:
    """NPV with each parameter at its lowest and highest level, the others at base.

    Sorted by swing |NPV(high) - NPV(low)|, largest first (the tornado's order).
    """
    y = _npv(design, results)
    base = float(y[0])
    rows, failed = [], sorted(int(i) for i in np.flatnonzero(np.isnan(y)))
    for p in design.parameters:
        mine = [sc for sc in design.scenarios if sc.varied == p.path]
        lo = min(mine, key=lambda sc: sc.columns[p.path])
        hi = max(mine, key=lambda sc: sc.columns[p.path])
        rows.append({"parameter": p.path, "mode": p.mode, "base_value": p.base_column,
                     "low_value": lo.columns[p.path], "high_value": hi.columns[p.path],
                     "npv_base_usd": base, "npv_low_usd": y[lo.id], "npv_high_usd": y[hi.id],
                     "delta_low_usd": y[lo.id] - base, "delta_high_usd": y[hi.id] - base,
                     "swing_usd": abs(y[hi.id] - y[lo.id])})
    table = pd.DataFrame(rows).sort_values("swing_usd", ascending=False, na_position="last")
    notes = [f"scenarios without an NPV (NaN in the table): {failed}"] if failed else []
    return Analysis("tornado", table.reset_index(drop=True), notes, failed_scenarios=failed)


def _complete_blocks(design: Design, y: np.ndarray, size: int
                     ) -> tuple[np.ndarray, int, int, list[int]]:
    """Indices of the rows of complete blocks; (rows, used, dropped, failed ids)."""
    n_blocks = len(design) // size
    blocks = y[: n_blocks * size].reshape(n_blocks, size)
    good = ~np.isnan(blocks).any(axis=1)
    rows = (np.flatnonzero(good)[:, None] * size + np.arange(size)).ravel()
    failed = sorted(int(i) for i in np.flatnonzero(np.isnan(y)))
    return rows, int(good.sum()), int((~good).sum()), failed


def _policy_notes(name: str, used: int, dropped: int, failed: list[int], unit: str) -> list[str]:
    if not dropped:
        return []
    shown = ", ".join(map(str, failed[:20])) + (" ..." if len(failed) > 20 else "")
    return [f"{name}: dropped {dropped} of {used + dropped} {unit}s containing scenarios "
            f"without an NPV ({shown}); the indices describe the {used} complete {unit}s, "
            "i.e. NPV where a plan exists"]


def sobol_table(design: Design, results: pd.DataFrame, *, seed: int = 0) -> Analysis:
    """First-order (S1) and total (ST) Sobol indices with confidence intervals."""
    from SALib.analyze import sobol

    d = len(design.parameters)
    rows, used, dropped, failed = _complete_blocks(design, _npv(design, results), d + 2)
    notes = _policy_notes("sobol", used, dropped, failed, "base sample")
    empty = pd.DataFrame(columns=["parameter", "S1", "S1_conf", "ST", "ST_conf"])
    if used < 2:
        notes.append("sobol: fewer than 2 complete base samples; no indices computed")
        return Analysis("sobol", empty, notes, used, dropped, failed)
    y = _npv(design, results)[rows]
    si = sobol.analyze(design.problem, y, calc_second_order=False, conf_level=CONF_LEVEL,
                       num_resamples=RESAMPLES, seed=seed)
    table = pd.DataFrame({"parameter": design.columns, "S1": si["S1"], "S1_conf": si["S1_conf"],
                          "ST": si["ST"], "ST_conf": si["ST_conf"]})
    table["base_samples"] = used
    if float(np.var(y)) == 0.0:
        notes.append("sobol: NPV does not vary over the design; the indices are undefined")
    return Analysis("sobol", table, notes, used, dropped, failed)


def morris_table(design: Design, results: pd.DataFrame, *, num_levels: int = 4,
                 seed: int = 0) -> Analysis:
    """Morris mu, mu*, sigma, with bootstrap intervals for mu* (SALib) and sigma (here).

    Elementary effects are SALib's: a step's NPV change divided by the step's share of
    the parameter's range, so mu* and sigma are in USD across the whole range (for an
    NPV linear in a parameter, mu* is exactly |NPV(high) - NPV(low)|).
    """
    from SALib.analyze import morris
    from SALib.analyze.morris import _compute_delta, _compute_elementary_effects

    d = len(design.parameters)
    rows, used, dropped, failed = _complete_blocks(design, _npv(design, results), d + 1)
    notes = _policy_notes("morris", used, dropped, failed, "trajectory")
    empty = pd.DataFrame(columns=["parameter", "mu", "mu_star", "mu_star_conf", "sigma",
                                  "sigma_conf"])
    if used < 2 or design.x is None:
        notes.append("morris: fewer than 2 complete trajectories; no indices computed")
        return Analysis("morris", empty, notes, used, dropped, failed)
    x = np.asarray(design.x)[rows]
    y = _npv(design, results)[rows]
    si = morris.analyze(design.problem, x, y, num_levels=num_levels, conf_level=CONF_LEVEL,
                        num_resamples=RESAMPLES, seed=seed)
    ee = _compute_elementary_effects(x, y, d + 1, _compute_delta(num_levels))  # (d, r)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, ee.shape[1], size=(RESAMPLES, ee.shape[1]))
    boot = ee[:, picks].std(axis=2, ddof=1)  # (d, resamples)
    z = NormalDist().inv_cdf(0.5 + CONF_LEVEL / 2)
    table = pd.DataFrame({"parameter": design.columns, "mu": si["mu"], "mu_star": si["mu_star"],
                          "mu_star_conf": si["mu_star_conf"], "sigma": si["sigma"],
                          "sigma_conf": z * boot.std(axis=1, ddof=1)})
    table["trajectories"] = used
    return Analysis("morris", table, notes, used, dropped, failed)


def analyse(design: Design, results: pd.DataFrame, *, seed: int = 0,
            morris_levels: int = 4) -> dict[str, Analysis]:
    """The analyses that fit the design's method (none for grid, random and lhs)."""
    if design.method == "oat":
        return {"tornado": tornado_table(design, results)}
    if design.method == "sobol":
        return {"sobol": sobol_table(design, results, seed=seed)}
    if design.method == "morris":
        return {"morris": morris_table(design, results, num_levels=morris_levels, seed=seed)}
    return {}
