"""What a worker process does with a chunk of scenarios: the same code for every runner.

Each process keeps one :class:`~portfolio_opt.scenario.ScenarioEngine` per base instance
for its whole life, so the first scenario builds the model and every later one with the
same structure is a parameter update and a warm re-solve. A scenario never escapes as an
exception: it comes back as a row whose status says what happened.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..constants import Status
from ..errors import InputError
from .columns import INVALID, RISK_COLUMNS
from .paths import Change

__all__ = ["KILL_ENV", "ChunkTask", "EngineKey", "Outcome", "expected_site_periods",
           "run_chunk", "solve_one"]

log = logging.getLogger(__name__)

# Test hook: "3:1,5" makes a worker SIGKILL itself when it starts scenario 3 on its first
# attempt and scenario 5 on every attempt. Read in the worker, never in the parent.
KILL_ENV = "PORTFOLIO_OPT_TEST_KILL_SCENARIO"


@dataclass(frozen=True)
class EngineKey:
    """What a worker's engine depends on: the base instance and the solver settings."""

    base_sha256: str
    profile: str
    time_limit: float | None
    mip_gap: float | None


@dataclass
class ChunkTask:
    """Scenarios to solve in order: (id, changes, attempt). Picklable, self-contained."""

    key: EngineKey
    base: dict[str, Any]  # the base instance as a plain dump (workers need no files)
    source: str
    scenarios: list[tuple[int, tuple[Change, ...], int]]


@dataclass
class Outcome:
    """One solved (or failed) scenario: its results row and its site-period rows."""

    row: dict[str, Any]
    site_periods: list[dict[str, Any]] = field(default_factory=list)


class _State:
    """Per-process cache: the engine and the parsed base of the last key seen."""

    key: EngineKey | None = None
    engine: Any = None
    base: Any = None
    dump: dict[str, Any] | None = None


def _ensure(task: ChunkTask) -> None:
    if _State.key == task.key:
        return
    from ..scenario import ScenarioEngine
    from ..validate import validate_data

    k = task.key
    _State.base = validate_data(task.base, task.source)
    _State.dump = _State.base.model_dump(by_alias=True, exclude_none=True)
    _State.engine = ScenarioEngine(_State.base, profile=k.profile, time_limit=k.time_limit,
                                   mip_gap=k.mip_gap, threads=1, source=task.source,
                                   explain_infeasible=False)
    _State.key = k


def _kill_hook(scenario: int, attempt: int) -> None:
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    for item in spec.split(","):
        sid, _, upto = item.strip().partition(":")
        if sid and int(sid) == scenario and (not upto or attempt <= int(upto)):
            log.warning("test hook %s: killing worker %d on scenario %d (attempt %d)",
                        KILL_ENV, os.getpid(), scenario, attempt)
            os.kill(os.getpid(), signal.SIGKILL)


def _highs_clock(engine: Any) -> tuple[int, float]:
    """(identity, cumulative run time) of the engine's HiGHS object.

    HiGHS's run clock accumulates over the runs of one object, so a scenario's own solve
    time is the difference across its solve; reading the clock here keeps that right
    whatever ``Result.solve_seconds`` reports.
    """
    held = getattr(engine, "_engine", None)
    if held is None:
        return 0, 0.0
    return id(held), float(held.highs.getRunTime())


def _empty_row(sid: int, periods: int) -> dict[str, Any]:
    from .columns import period_columns

    row: dict[str, Any] = {"scenario": sid, "objective_npv_usd": None, "mip_gap": None,
                           "objective_bound_usd": None, "solve_seconds": 0.0,
                           "build_seconds": 0.0, "model_built": False, "message": ""}
    row.update({c: None for c in period_columns(periods)})
    return row


def solve_one(task: ChunkTask, sid: int, changes: tuple[Change, ...]) -> Outcome:
    """Apply ``changes`` to the base, solve through the cached engine, make the rows."""
    from .paths import apply_changes

    t0 = time.perf_counter()
    _ensure(task)
    engine, base = _State.engine, _State.base
    periods = base.horizon.periods
    row = _empty_row(sid, periods)
    sp: list[dict[str, Any]] = []
    try:
        variant = apply_changes(base, list(changes), source=f"scenario {sid}",
                                base_dump=_State.dump)
        before = _highs_clock(engine)
        rebuilds = engine.stats.rebuilds
        result = engine.solve(variant)
        after = _highs_clock(engine)
        row["model_built"] = engine.stats.rebuilds > rebuilds
    except InputError as exc:
        row.update(status=INVALID, message="; ".join(str(i) for i in exc.issues))
    except Exception as exc:  # a scenario that raises is a row, and the engine is rebuilt
        log.exception("scenario %d raised", sid)
        _State.key = None
        row.update(status=str(Status.ERROR), message=f"{type(exc).__name__}: {exc}")
    else:
        same = before[0] == after[0] and before[0] != 0
        row.update(status=str(result.status), objective_npv_usd=result.objective_npv_usd,
                   mip_gap=result.mip_gap, objective_bound_usd=result.objective_bound_usd,
                   solve_seconds=after[1] - before[1] if same else result.solve_seconds,
                   build_seconds=result.build_seconds, message=result.message)
        if result.risk is not None:  # spec v2 B: the base has scenarios
            row.update({k: result.risk.get(k) for k in RISK_COLUMNS})
        if result.has_plan:
            df = expected_site_periods(result)
            by_t = df.groupby("period")[["btc_mw", "ai_served_it_mw"]].sum()
            for t in range(1, periods + 1):
                row[f"btc_mw_p{t}"] = float(by_t.at[t, "btc_mw"])
                row[f"ai_it_mw_p{t}"] = float(by_t.at[t, "ai_served_it_mw"])
            sp = [{"scenario": sid, **r} for r in df[_SITE_COLS].to_dict("records")]
    row["wall_seconds"] = time.perf_counter() - t0
    return Outcome(row, sp)


_SITE_COLS = ["site", "period", "btc_mw", "ai_served_it_mw", "halls_started"]


def expected_site_periods(result: Any) -> Any:
    """The plan's site-period rows; with scenarios (spec v2 B; a leading ``scenario``
    column), one row per site and period holding the probability-weighted mean over the
    scenarios (``halls_started`` too: a whole number unless halls differ by scenario
    under multi_stage)."""
    df = result.site_periods
    if "scenario" not in df.columns or result.scenarios is None:
        return df
    prob = dict(zip(result.scenarios["scenario"], result.scenarios["probability"],
                    strict=True))
    weighted = df[_SITE_COLS[2:]].mul(df["scenario"].map(prob).astype(float), axis=0)
    weighted[["site", "period"]] = df[["site", "period"]]
    out = weighted.groupby(["site", "period"], sort=False, as_index=False)[_SITE_COLS[2:]].sum()
    halls = out["halls_started"].round(9)
    if (halls == halls.round()).all():
        out["halls_started"] = halls.round().astype("int64")
    return out


def iter_chunk(task: ChunkTask) -> Iterator[Outcome]:
    """Solve a chunk's scenarios in order, yielding each as soon as it is done."""
    for sid, changes, attempt in task.scenarios:
        _kill_hook(sid, attempt)
        out = solve_one(task, sid, changes)
        out.row["attempts"] = attempt
        yield out


# A Dask worker may run tasks on several threads; one engine serves one scenario at a time.
_LOCK = threading.Lock()


def run_chunk(task: ChunkTask, on_done: Callable[[Outcome], None] | None = None
              ) -> list[Outcome]:
    """Solve a whole chunk and return its outcomes (the Dask task; also used locally)."""
    outs = []
    with _LOCK:
        for out in iter_chunk(task):
            if on_done is not None:
                on_done(out)
            outs.append(out)
    return outs
