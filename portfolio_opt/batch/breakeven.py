"""Breakevens: the parameter values at which the optimal plan flips between BTC and AI,
or between alternative structures of one offer.

For one parameter path and a range [lo, hi], a site is "in AI" at a value x when the
optimal plan at x serves more than :data:`AI_TOL` IT MW there summed over the periods;
the portfolio is in AI when its total is. A contract of a ``group`` (alternative
structures of one offer, spec v2 A) is "accepted" when the plan serves more than
:data:`AI_TOL` IT MW of it summed over the periods: a flip between an operator-funded and
a tenant-funded structure need not change any site's AI state, so it is tracked per
contract. When the parameter is one price block's price (spec v2 C,
``sites[x].grid.price_usd_per_mwh[peak]``), each mining site is also tracked in that block:
"hashing" when its BTC MW there, summed over the periods, is above :data:`AI_TOL`, else
"curtailed" (rows of kind ``btc``). A flip is a change of such a state between two values.
The search is deliberately plain, so that each number it reports can be checked:

1. solve a coarse grid of ``grid`` points spanning [lo, hi] and bracket every change of
   state between neighbours (a site can flip more than once; each flip is a row);
2. bisect each bracket until it is at most ``tol`` wide (absolute, in the parameter's
   unit; default ``rel_tol * (hi - lo)``); the reported breakeven is the bracket's middle,
   so it is within ``tol / 2`` of the flip. Each midpoint is checked for every site, so
   a midpoint that shows another site entering and leaving AI inside one grid interval
   starts a bracket for that pair of flips too; this repeats until every change of state
   between neighbouring solved values is at most ``tol`` wide;
3. optionally (``verify=True``, the default) solve the instance cold with
   :func:`portfolio_opt.solve` at breakeven - tol and breakeven + tol and record whether
   the plans there are on the stated sides.

Every solve of steps 1-2 goes through one :class:`~portfolio_opt.scenario.ScenarioEngine`,
so a value is a parameter update and a warm re-solve, not a rebuild. The decisions are
taken with the ``exact`` profile by default: near a breakeven the two plans' NPVs differ by
little, and a looser gap would let HiGHS return either of them. Two flips of one site
closer together than the grid spacing can still hide each other when no solved value
falls between them (the site shows the same state at both grid points): use a larger
``grid`` where that matters.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError, InputIssue
from ..instance import Instance

__all__ = [
    "AI_TOL",
    "BREAKEVEN_COLUMNS",
    "PORTFOLIO",
    "SCAN_COLUMNS",
    "BreakevenResult",
    "find_breakevens",
    "grouped_contracts",
    "price_block",
    "run_breakeven",
]

log = logging.getLogger(__name__)

AI_TOL = 1e-6  # IT MW-periods: above this a site counts as serving AI
PORTFOLIO = "portfolio"  # the row label for the whole portfolio
# ``site`` names the entity: a site id, ``portfolio``, or a grouped contract's id; ``kind``
# says which (site, portfolio, contract, btc). A contract's direction is accepted /
# declined; a btc row's (a mining site in the price block ``block``) hashing / curtailed,
# and its ``ai_it_mw_periods*`` columns hold that site's BTC MW in the block summed over
# the periods instead.
BREAKEVEN_COLUMNS = [
    "site", "direction", "breakeven", "tolerance", "bracket_low", "bracket_high",
    "ai_it_mw_periods_below", "ai_it_mw_periods_above", "npv_below_usd", "npv_above_usd",
    "solves", "verified", "kind", "block",
]
SCAN_COLUMNS = ["value", "phase", "status", "objective_npv_usd", "site", "ai_it_mw_periods",
                "kind", "block"]
Entity = tuple[str, str]  # (kind, id): ("site", "a"), ("portfolio", "portfolio"), ...
_PORTFOLIO: Entity = ("portfolio", PORTFOLIO)
# (state False, state True); else to_btc / to_ai
_DIRECTIONS = {"contract": ("declined", "accepted"), "btc": ("curtailed", "hashing")}
FILES = {"table": "breakevens.csv", "scan": "breakeven_scan.csv", "meta": "breakeven.json"}


@dataclass
class _Point:
    """One solved value: status, NPV and IT MW-periods per entity (site, portfolio, grouped
    contract)."""

    value: float
    phase: str
    status: str
    npv: float | None
    ai: dict[Entity, float]  # entity -> IT MW-periods; empty without a plan

    def state(self, who: Entity) -> bool | None:
        return None if not self.ai else self.ai[who] > AI_TOL


@dataclass
class BreakevenResult:
    """The table of flips, every solved value, and how the search was set up."""

    param: str
    lo: float
    hi: float
    tol: float
    scale: bool
    grid: int
    profile: str
    table: pd.DataFrame
    scan: pd.DataFrame
    total_solves: int
    rebuilds: int
    message: str
    periods: int = 1
    notes: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {
            "param": self.param, "range": [self.lo, self.hi], "tolerance": self.tol,
            "scale": self.scale, "grid_points": self.grid, "periods": self.periods,
            "solver_profile": self.profile,
            "ai_threshold_it_mw_periods": AI_TOL, "flips": len(self.table),
            "total_solves": self.total_solves, "model_rebuilds": self.rebuilds,
            "message": self.message, "notes": self.notes,
        }

    def write(self, out_dir: str | Path) -> list[Path]:
        """breakevens.csv, breakeven_scan.csv and breakeven.json, each written atomically."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        texts = {
            FILES["table"]: self.table.to_csv(index=False, float_format="%.10g"),
            FILES["scan"]: self.scan.to_csv(index=False, float_format="%.10g"),
            FILES["meta"]: json.dumps(self.meta(), indent=2, allow_nan=False) + "\n",
        }
        written = []
        for name, text in texts.items():
            target = out / name
            tmp = target.with_name(f".{name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
            written.append(target)
        return written


def _bad(field_name: str, value: Any, expected: str) -> InputError:
    return InputError([InputIssue("<command line>", "breakeven", field_name, value, expected)])


def _check_args(lo: float, hi: float, tol: float | None, rel_tol: float, grid: int) -> None:
    issues = []
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        issues.append(InputIssue("<command line>", "breakeven", "range", [lo, hi],
                                 "expected two finite numbers LO < HI"))
    if tol is not None and not (math.isfinite(tol) and tol > 0):
        issues.append(InputIssue("<command line>", "breakeven", "tol", tol,
                                 "expected an absolute tolerance > 0"))
    if tol is None and not (math.isfinite(rel_tol) and 0 < rel_tol < 1):
        issues.append(InputIssue("<command line>", "breakeven", "tol", rel_tol,
                                 "expected a fraction of HI - LO between 0 and 1, e.g. 0.001"))
    if grid < 2:
        issues.append(InputIssue("<command line>", "breakeven", "grid", grid,
                                 "expected at least 2 grid points"))
    if issues:
        raise InputError(issues)


class _Search:
    """The solves of one breakeven search, cached by value."""

    def __init__(self, base: Instance, param: str, scale: bool, engine: Any,
                 block: str | None = None) -> None:
        self.base = base
        self.param = param
        self.scale = scale
        self.engine = engine
        self.block = block
        self.points: dict[float, _Point] = {}
        self.sites = [s.id for s in base.sites if s.ai is not None]
        self.entities = _entities(base, block)

    def variant(self, x: float) -> Instance:
        from .paths import apply_overrides

        return apply_overrides(self.base, {self.param: x}, scale=self.scale,
                               source=f"<{self.param} = {x:.10g}>")

    def at(self, x: float, phase: str) -> _Point:
        if x in self.points:
            return self.points[x]
        result = self.engine.solve(self.variant(x))
        ai = _served(result, self.entities, self.block) if result.has_plan else {}
        point = _Point(x, phase, str(result.status), result.objective_npv_usd, ai)
        log.debug("%s = %.10g: %s, NPV %s", self.param, x, point.status, point.npv)
        self.points[x] = point
        return point

    def refine(self, tol: float, max_solves: int) -> set[tuple[Entity, float]]:
        """Bisect until every change of state between neighbouring solved values is <= tol.

        Every entity's state is checked against every solved value, not only the grid:
        a midpoint solved for one site can reveal that another site flips twice inside
        a grid interval, and that pair of flips is then bracketed too. Returns the
        brackets that could not be narrowed (a value without a plan inside them, or the
        ``max_solves`` cap).
        """
        stuck: set[tuple[Entity, float]] = set()
        while True:
            todo = [(who, a, b) for who, a, b in self.changes()
                    if b.value - a.value > tol and (who, a.value) not in stuck]
            if not todo:
                return stuck
            for who, a, b in todo:
                if len(self.points) >= max_solves:
                    stuck.add((who, a.value))
                    continue
                mid = self.at(0.5 * (a.value + b.value), "bisect")
                if mid.state(who) is None:  # no plan here: report the bracket as is
                    stuck.add((who, a.value))

    def changes(self) -> list[tuple[Entity, _Point, _Point]]:
        """(entity, below, above) for every change of state between neighbouring values."""
        pts = [self.points[x] for x in sorted(self.points)]
        out = []
        for who in self.entities:
            for a, b in itertools.pairwise(pts):
                sa, sb = a.state(who), b.state(who)
                if sa is not None and sb is not None and sa != sb:
                    out.append((who, a, b))
        return out

    def scan(self) -> pd.DataFrame:
        rows = []
        for x in sorted(self.points):
            p = self.points[x]
            for who in self.entities:
                rows.append((p.value, p.phase, p.status, p.npv, who[1], p.ai.get(who),
                             who[0], self.block if who[0] == "btc" else None))
        return pd.DataFrame(rows, columns=SCAN_COLUMNS)


def grouped_contracts(instance: Instance) -> list[str]:
    """Contracts whose ``group`` holds another contract: alternatives of one offer."""
    sizes: dict[str, int] = {}
    for c in instance.contracts:
        if c.group is not None:
            sizes[c.group] = sizes.get(c.group, 0) + 1
    return [c.id for c in instance.contracts if c.group is not None and sizes[c.group] > 1]


def _entities(base: Instance, block: str | None) -> list[Entity]:
    """The portfolio, every AI site, every grouped contract and, for a block's price,
    every mining site (its hashing in that block)."""
    sites = [s.id for s in base.sites if s.ai is not None]
    out: list[Entity] = [_PORTFOLIO, *(("site", s) for s in sites),
                         *(("contract", c) for c in grouped_contracts(base))]
    if block is not None:
        out += [("btc", s.id) for s in base.sites if s.btc is not None]
    return out


def price_block(base: Instance, param: str) -> str | None:
    """The price block a parameter path names (``...price_usd_per_mwh[peak]``), or None."""
    from .paths import resolve

    blocks = {loc.block for loc in resolve(base, param, source="<command line>",
                                           entity="breakeven --param")}
    return next(iter(blocks)) if len(blocks) == 1 else None


def _served(result: Any, entities: list[Entity], block: str | None = None
            ) -> dict[Entity, float]:
    """IT MW-periods of every entity in a plan: AI served per site (and in all), and
    served per contract; for btc entities the BTC MW-periods hashing in ``block``."""
    at_site = result.site_periods.groupby("site")["ai_served_it_mw"].sum()
    per_contract = result.contract_site_periods.groupby("contract")["it_mw"].sum()
    hashing: Any = {}
    if block is not None and result.site_period_blocks is not None:
        spb = result.site_period_blocks
        hashing = spb[spb["block"] == block].groupby("site")["btc_mw"].sum()
    out: dict[Entity, float] = {}
    for kind, name in entities:
        if kind == "site":
            out[kind, name] = float(at_site.get(name, 0.0))
        elif kind == "contract":
            out[kind, name] = float(per_contract.get(name, 0.0))
        elif kind == "btc":
            out[kind, name] = float(hashing.get(name, 0.0))
    out[_PORTFOLIO] = float(sum(v for (k, _), v in out.items() if k == "site"))
    return out


def _side_ok(base: Instance, param: str, scale: bool, x: float, who: Entity, want: bool,
             profile: str, block: str | None = None) -> bool:
    """A cold single solve at ``x`` has ``who`` on the side ``want`` (True = in AI,
    accepted for a contract, hashing in ``block`` for a btc entity)."""
    from ..api import solve
    from .paths import apply_overrides

    inst = apply_overrides(base, {param: x}, scale=scale, source=f"<{param} = {x:.10g}>")
    result = solve(inst, profile=profile, threads=1, marginal_values=False)
    if not result.has_plan:
        return False
    sites = [s.id for s in base.sites if s.ai is not None]
    entities = [*(("site", s) for s in sites), who]
    return (_served(result, entities, block)[who] > AI_TOL) == want


def run_breakeven(
    source: str | Path | Instance,
    param: str,
    lo: float,
    hi: float,
    *,
    tol: float | None = None,
    rel_tol: float = 1e-3,
    grid: int = 9,
    scale: bool = False,
    profile: str | Path = "exact",
    time_limit: float | None = None,
    verify: bool = True,
    max_solves: int = 400,
) -> BreakevenResult:
    """Find every flip of every AI site and of the portfolio for ``param`` in [lo, hi].

    ``lo``/``hi`` are absolute values of the parameter (a series gets the same number in
    every period), or factors on the base value with ``scale=True`` (a series scales
    element-wise, keeping its shape). Raises :class:`InputError` for an unknown path, a
    bad range, or a value at which the instance breaks a rule of the format.
    """
    from ..loader import load_instance
    from ..scenario import ScenarioEngine

    base = source if isinstance(source, Instance) else load_instance(source)
    _check_args(float(lo), float(hi), tol, rel_tol, grid)
    tol = rel_tol * (hi - lo) if tol is None else float(tol)
    block = price_block(base, param)
    engine = ScenarioEngine(base, profile=profile, time_limit=time_limit, threads=1,
                            explain_infeasible=False,
                            source=str(source) if not isinstance(source, Instance) else
                            f"<instance {base.name}>")
    search = _Search(base, param, scale, engine, block)
    for x in (lo, hi):  # a value the format refuses is an input error, before any solve
        search.variant(x)
    xs = [lo + (hi - lo) * i / (grid - 1) for i in range(grid)]
    xs[-1] = hi
    points = [search.at(x, "grid") for x in xs]
    notes: list[str] = []
    for p in points:
        if p.status not in ("optimal",):
            notes.append(f"{param} = {p.value:.10g}: status {p.status}"
                         + ("" if p.ai else "; brackets next to it are not searched"))
    stuck = search.refine(tol, max_solves)
    if stuck:
        notes.append(f"{len(stuck)} bracket(s) wider than the tolerance: a value without a "
                     f"plan inside, or the cap of {max_solves} solves")
    rows = []
    for who, below, above in search.changes():
        x = 0.5 * (below.value + above.value)
        k = bisect.bisect_right(xs, x)  # the grid interval [xs[k-1], xs[k]] holding x
        inside = sum(1 for v in search.points if xs[k - 1] < v < xs[k])
        ok: bool | None = None
        if verify:
            lo_x, hi_x = max(lo, x - tol), min(hi, x + tol)
            ok = (_side_ok(base, param, scale, lo_x, who, bool(below.state(who)),
                           str(profile), block)
                  and _side_ok(base, param, scale, hi_x, who, bool(above.state(who)),
                               str(profile), block))
            if not ok:
                label = who[1] if who == _PORTFOLIO else f"{who[0]} '{who[1]}'"
                notes.append(f"{label}: cold solves at {lo_x:.10g} / {hi_x:.10g} do not "
                             "confirm the flip (a tie, or another flip within tol)")
        leaves, enters = _DIRECTIONS.get(who[0], ("to_btc", "to_ai"))
        rows.append((who[1], enters if above.state(who) else leaves, x, tol, below.value,
                     above.value, below.ai[who], above.ai[who], below.npv, above.npv, inside,
                     ok, who[0], block if who[0] == "btc" else None))
    table = pd.DataFrame(rows, columns=BREAKEVEN_COLUMNS)
    what = f"{param} in [{lo:.10g}, {hi:.10g}]" + (" (factors on the base)" if scale else "")
    if table.empty:
        grouped = " nor any grouped contract's acceptance" if any(
            k == "contract" for k, _ in search.entities) else ""
        if block is not None:
            grouped += f" nor any mining site's hashing in block '{block}'"
        message = (f"no flip in {what}: no site's AI plan{grouped} changes between the "
                   f"{grid} grid points ({len(search.points)} solves)")
    else:
        message = (f"{len(table)} flip(s) in {what}, each to within {tol:.6g} "
                   f"({len(search.points)} solves, {engine.stats.rebuilds} model build(s))")
    log.info(message)
    return BreakevenResult(param, float(lo), float(hi), float(tol), scale, grid, str(profile),
                           table, search.scan(), len(search.points), engine.stats.rebuilds,
                           message, base.horizon.periods, notes)


def find_breakevens(
    source: str | Path | Instance,
    param: str,
    lo: float,
    hi: float,
    tol: float | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """The table of :func:`run_breakeven` (columns :data:`BREAKEVEN_COLUMNS`).

    ``table.attrs`` carries the search's setup (tolerance, solves, message, notes): an
    empty table means no flip in the range, and ``attrs['message']`` says so.
    """
    result = run_breakeven(source, param, lo, hi, tol=tol, **kwargs)
    table = result.table
    table.attrs.update(result.meta())
    return table
