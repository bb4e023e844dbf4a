"""Hashprice (and energy-price) scenarios for spec v2 part B (docs/scenarios.md).

The model, ``gbm-halving`` (calibrated on calibration.md, "Bitcoin mining" table):

    S(t) = B * H(t) * exp(X(t)),   dX = -sigma^2/2 dt + sigma dW,   X = 0 until period 1 ends
    H(t) = exp( sum_{halvings h < t} ln(d) * (1 - rho * (1 - exp(-(t - h) / tau))) )

- ``sigma = 0.30`` per sqrt(year): the post-April-2024-halving band 35-55 USD/PH/day over
  the 1.5 years May 2024 - Nov 2025 gives 0.23 by the range estimator
  (ln(55/35) / (1.596 * sqrt(1.5))); raised to 0.30 because those figures are monthly or
  quarterly averages, which move less than the daily hashprice (one quarter alone, ~55 in
  Q3-2025 to 35-40 in Nov 2025, moved 0.38 in log).
- drift ``-sigma^2/2``: E[exp(X)] = 1, so between halvings the *expected* hashprice is flat
  and the median drifts down by sigma^2/2 (4.5 %/year), hashrate growth outpacing price.
- halvings: April 2028 (calibration.md "next halving", taken at 2028 + 3.5/12) and every 4
  years (~210,000 blocks) before and after it. ``d = 0.5``: the subsidy halves; fees are
  ignored (a few % of revenue). ``rho = 0.3`` of the log drop is recovered with a time
  constant ``tau = 0.5`` year: after the 2024 halving hashprice rose from its record low
  44.8 (May 2024) to ~55 (Q3-2025 average), ln(55/44.8) = 0.21 = 0.3 ln 2, within about a
  year. Long-run, one halving multiplies hashprice by 0.5^0.7 = 0.62.
- ``B`` makes period 1's mean equal the instance's period-1 hashprice ``S0``; period 1 is
  today's period, the same in every path (so every tree shares its root).

A period's value is the mean of S over its steps (12 a year: months). ``gbm-anchored``
keeps the instance's own hashprice series as the expected path (S_p = series_p * mean of
exp(X) over p) for instances whose halving path is already hand-made. Energy: with a
correlation rho_E, ``energy_price_scale = exp(Y)`` period means, dY = -s_E^2/2 dt + s_E dW_E,
corr(dW, dW_E) = rho_E, s_E = 0.10 (an assumption: calibration.md gives no power-price
time series); E[scale] = 1. Reduction and trees: :mod:`portfolio_opt.scenario_reduce`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InputError, InputIssue
from .instance import Horizon, Instance
from .scenario_reduce import MAX_LEAVES, MAX_REDUCE_PATHS, build_tree, forward_selection

__all__ = ["HALVING_2028", "MODELS", "HashpriceModel", "Paths", "ScenarioSet",
           "expected_path", "halving_factor", "make_scenarios", "model_from_options",
           "run_scenarios", "scenario_document", "simulate", "start_path", "summary"]

HALVING_2028 = 2028 + 3.5 / 12  # mid-April 2028 (calibration.md: "next halving April 2028")
HALVING_INTERVAL = 4.0  # years, 210,000 blocks of ~10 minutes
MODELS = ("gbm-halving", "gbm-anchored")
STEPS_PER_YEAR = 12
MAX_PATHS_WRITTEN = MAX_LEAVES  # without --reduce or --tree, every path is a scenario
HP_DIGITS, SCALE_DIGITS, PROB_DIGITS = 2, 4, 8
Array = NDArray[np.float64]


@dataclass(frozen=True)
class HashpriceModel:
    """The stochastic model and its parameters (defaults: the module docstring's)."""

    kind: str = "gbm-halving"
    volatility: float = 0.30  # sigma of log hashprice, per sqrt(year)
    halving_drop: float = 0.5  # d: hashprice multiplier at a halving
    halving_recovery: float = 0.3  # rho: share of the log drop recovered
    recovery_years: float = 0.5  # tau: time constant of the recovery
    energy_correlation: float | None = None  # rho_E; None: no energy_price_scale
    energy_volatility: float = 0.10  # s_E of log energy scale, per sqrt(year)


@dataclass(frozen=True)
class Paths:
    """N sampled paths: hashprice (N x P) and energy scale (N x P, or None)."""

    hashprice: Array
    energy_scale: Array | None


@dataclass(frozen=True)
class ScenarioSet:
    """The scenarios to write: probabilities and series, one row per scenario."""

    probabilities: list[float]
    hashprice: list[list[float]]
    energy_scale: list[list[float]] | None
    structure: str


def halving_factor(t: Array | float, model: HashpriceModel) -> Array:
    """H(t): the deterministic halving multiplier at calendar time ``t`` (years), up to a
    constant (halvings before ``t - 4`` years, fully absorbed, are left out)."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    first = math.floor((float(t.min()) - HALVING_INTERVAL - HALVING_2028) / HALVING_INTERVAL)
    log_h = np.zeros_like(t)
    h = HALVING_2028 + first * HALVING_INTERVAL
    while h < float(t.max()):
        after = t > h
        recovered = model.halving_recovery * (
            1.0 - np.exp(-(t[after] - h) / model.recovery_years))
        log_h[after] += math.log(model.halving_drop) * (1.0 - recovered)
        h += HALVING_INTERVAL
    return np.exp(log_h)


def _steps(horizon: Horizon) -> tuple[Array, float]:
    """Calendar times of the steps' midpoints, periods x steps, and the step length."""
    ypp = horizon.years_per_period
    m = max(1, math.ceil(ypp * STEPS_PER_YEAR - 1e-9))
    p = np.arange(horizon.periods)[:, None]
    s = np.arange(m)[None, :]
    return horizon.start_year + (p + (s + 0.5) / m) * ypp, ypp / m


def _deterministic(model: HashpriceModel, horizon: Horizon, start: Array) -> Array:
    """The expected level at every step (periods x steps); ``start`` as in simulate."""
    times, _ = _steps(horizon)
    if model.kind == "gbm-anchored":
        return np.repeat(start[:, None], times.shape[1], axis=1)
    h = halving_factor(times.ravel(), model).reshape(times.shape)
    return float(start[0]) / float(h[0].mean()) * h


def expected_path(model: HashpriceModel, horizon: Horizon, start: Array) -> Array:
    """E[hashprice] per period: exactly what :func:`simulate` averages to (no noise)."""
    start = np.asarray(start, dtype=np.float64)
    path = _deterministic(model, horizon, start).mean(axis=1)
    path[0] = start[0]  # not a rounding away
    return path


def simulate(model: HashpriceModel, horizon: Horizon, start: Array, n_paths: int, seed: int
             ) -> Paths:
    """Sample ``n_paths`` paths. ``start``: the instance's hashprice series (gbm-halving
    uses its period 1 only). Deterministic given the seed; the energy shocks come from a
    second stream, so adding energy leaves the hashprice paths unchanged."""
    level = _deterministic(model, horizon, np.asarray(start, dtype=np.float64))
    _, dt = _steps(horizon)
    periods, m = level.shape
    hp_seq, e_seq = np.random.SeedSequence(seed).spawn(2)
    rng, rng_e = np.random.default_rng(hp_seq), np.random.default_rng(e_seq)
    sig, rho = model.volatility, model.energy_correlation
    sig_e = model.energy_volatility
    hp = np.empty((n_paths, periods))
    scale = np.ones((n_paths, periods)) if rho is not None else None
    hp[:, 0] = float(np.asarray(start)[0])
    x, y = np.zeros(n_paths), np.zeros(n_paths)
    for p in range(1, periods):
        acc, acc_e = np.zeros(n_paths), np.zeros(n_paths)
        for s in range(m):
            z = rng.standard_normal(n_paths)
            x += -0.5 * sig * sig * dt + sig * math.sqrt(dt) * z
            acc += level[p, s] * np.exp(x)
            if rho is not None:
                z_e = rho * z + math.sqrt(1.0 - rho * rho) * rng_e.standard_normal(n_paths)
                y += -0.5 * sig_e * sig_e * dt + sig_e * math.sqrt(dt) * z_e
                acc_e += np.exp(y)
        hp[:, p] = acc / m
        if scale is not None:
            scale[:, p] = acc_e / m
    return Paths(hp, scale)


def _features(paths: Paths, s0: float) -> Array:
    """What reduction and clustering compare: hashprice / S0 and the energy scale."""
    parts = [paths.hashprice / max(s0, 1e-9)]
    if paths.energy_scale is not None:
        parts.append(paths.energy_scale)
    return np.hstack(parts)


def _round_probabilities(probs: Array) -> list[float]:
    """Rounded to 8 decimals; the largest absorbs the rest, so they sum to exactly 1."""
    q = [round(float(v), PROB_DIGITS) for v in probs / probs.sum()]
    big = int(np.argmax(q))
    q[big] = round(1.0 - math.fsum(q[:big] + q[big + 1:]), PROB_DIGITS)
    return q


def _rounded(rows: Array, digits: int, floor: float = 0.0) -> list[list[float]]:
    return [[max(round(float(v), digits), floor) for v in row] for row in rows]


def make_scenarios(paths: Paths, s0: float, *, reduce: int | None = None,
                   tree: list[tuple[int, int]] | None = None, structure: str | None = None
                   ) -> ScenarioSet:
    """Scenarios from sampled paths: all of them (probability 1/N each), ``reduce`` of
    them by fast forward selection, or the tree of ``tree`` (multi_stage by default).
    Two-stage scenarios are listed in increasing mean hashprice."""
    n = len(paths.hashprice)
    probs = np.full(n, 1.0 / n)
    feats = _features(paths, s0)
    min_scale = 10.0 ** -SCALE_DIGITS
    if tree:
        leaves = build_tree(paths.hashprice, paths.energy_scale, probs, feats, tree,
                            hp_digits=HP_DIGITS, scale_digits=SCALE_DIGITS)
        escale = None if paths.energy_scale is None else [
            [max(v, min_scale) for v in leaf.energy_scale or []] for leaf in leaves]
        return ScenarioSet(_round_probabilities(np.array([lf.probability for lf in leaves])),
                           [[max(v, 0.0) for v in lf.hashprice] for lf in leaves], escale,
                           structure or "multi_stage")
    if reduce is not None:
        kept, probs = forward_selection(feats, probs, reduce)
    else:
        kept = np.arange(n, dtype=np.intp)
    order = sorted(range(len(kept)), key=lambda i: (paths.hashprice[kept[i]].mean(), i))
    rows = kept[order]
    es = paths.energy_scale
    return ScenarioSet(_round_probabilities(probs[order]),
                       _rounded(paths.hashprice[rows], HP_DIGITS),
                       None if es is None else _rounded(es[rows], SCALE_DIGITS, min_scale),
                       structure or "two_stage")


def start_path(inst: Instance, source: str) -> Array:
    """The hashprice series the model starts from: the market's, or the probability-
    weighted mean of the scenarios of an instance that already has them."""
    if inst.uncertainty is not None:
        sc = inst.uncertainty.scenarios
        p = np.array([s.probability for s in sc])
        rows = np.array([inst.series(s.hashprice_usd_per_ph_day) for s in sc])
        return np.asarray(p / p.sum() @ rows, dtype=np.float64)
    if inst.market.hashprice_usd_per_ph_day is None:
        raise InputError([InputIssue(source, "market", "hashprice_usd_per_ph_day", None,
                                     "expected a hashprice series to start the scenarios "
                                     "from (or an uncertainty block whose mean is used)")])
    return np.array(inst.series(inst.market.hashprice_usd_per_ph_day), dtype=np.float64)


def scenario_document(raw: dict[str, Any], scenarios: ScenarioSet,
                      risk: dict[str, float] | None = None) -> dict[str, Any]:
    """A copy of the instance document with market.hashprice removed (``market`` dropped
    if left empty) and the ``uncertainty`` block of ``scenarios`` (a previous one is
    replaced; its risk is kept unless ``risk`` overrides it)."""
    new = copy.deepcopy(raw)
    market = new.get("market")
    if isinstance(market, dict):
        market.pop("hashprice_usd_per_ph_day", None)
        if not market:
            del new["market"]
    old = new.pop("uncertainty", None)
    merged = dict(old.get("risk") or {}) if isinstance(old, dict) else {}
    merged.update(risk or {})
    width = max(2, len(str(len(scenarios.probabilities))))
    items = []
    for i, (p, hp) in enumerate(zip(scenarios.probabilities, scenarios.hashprice,
                                    strict=True)):
        item: dict[str, Any] = {"id": f"s{i + 1:0{width}d}", "probability": p,
                                "hashprice_usd_per_ph_day": hp}
        if scenarios.energy_scale is not None:
            item["energy_price_scale"] = scenarios.energy_scale[i]
        items.append(item)
    block: dict[str, Any] = {"scenarios": items, "structure": scenarios.structure}
    if merged:
        block["risk"] = merged
    new["uncertainty"] = block
    return new


def _check(ok: bool, option: str, value: Any, expected: str) -> None:
    if not ok:
        raise InputError([InputIssue("<command line>", f"scenarios {option}", "", value,
                                     expected)])


def run_scenarios(instance: Path, out: Path, *, paths: int, seed: int,
                  model: HashpriceModel, reduce: int | None = None, tree: str | None = None,
                  structure: str | None = None, cvar_alpha: float | None = None,
                  cvar_weight: float | None = None) -> str:
    """The ``portfolio-opt scenarios`` command: checks, samples, reduces or builds the
    tree, validates and writes ``out``; returns the summary to print."""
    from .blocks_output import _write_atomic
    from .loader import read_document
    from .outpaths import check_out_file
    from .scenario_reduce import parse_tree
    from .validate import validate_data

    _check(model.kind in MODELS, "--model", model.kind, "expected " + " or ".join(MODELS))
    _check(paths >= 1, "--paths", paths, "expected at least 1 path")
    _check(structure in (None, "two_stage", "multi_stage"), "--structure", structure,
           "expected two_stage or multi_stage")
    _check(reduce is None or tree is None, "--reduce", reduce,
           "expected --reduce or --tree, not both (a tree sets its own scenario count)")
    _check(reduce is None or 1 <= reduce <= paths, "--reduce", reduce,
           f"expected K in 1..--paths ({paths})")
    cap = MAX_REDUCE_PATHS if reduce is not None or tree else MAX_PATHS_WRITTEN
    _check(paths <= cap, "--paths", paths, f"expected at most {cap} paths"
           + ("" if cap == MAX_REDUCE_PATHS else " without --reduce or --tree (each path "
              f"is a scenario); reduce them with --reduce K (up to {MAX_REDUCE_PATHS} paths)"))
    rho = model.energy_correlation
    _check(rho is None or -1 <= rho <= 1, "--energy-correlation", rho,
           "expected a correlation in [-1, 1]")
    _check(model.volatility >= 0 and model.energy_volatility >= 0, "--volatility",
           (model.volatility, model.energy_volatility), "expected volatilities >= 0")
    _check(cvar_alpha is None or 0 <= cvar_alpha < 1, "--cvar-alpha", cvar_alpha,
           "expected a level in [0, 1)")
    _check(cvar_weight is None or 0 <= cvar_weight <= 1, "--cvar-weight", cvar_weight,
           "expected a weight in [0, 1]")
    check_out_file(out, "scenarios", suffixes=(".yaml", ".yml", ".json"), reads=(instance,))
    raw = read_document(instance).data
    inst = validate_data(raw, str(instance))
    start = start_path(inst, str(instance))
    stages = parse_tree(tree, inst.horizon.periods) if tree else None
    sampled = simulate(model, inst.horizon, start, paths, seed)
    scen = make_scenarios(sampled, float(start[0]), reduce=reduce, tree=stages,
                          structure=structure)
    risk = {k: v for k, v in (("cvar_alpha", cvar_alpha), ("cvar_weight", cvar_weight))
            if v is not None}
    doc = scenario_document(raw, scen, risk)
    validate_data(doc, str(out))
    how = (f"tree {tree}" if tree else f"reduced to {reduce} by fast forward selection"
           if reduce is not None else "every path a scenario")
    energy = "" if rho is None else (f", energy scale corr {rho:g} vol "
                                     f"{model.energy_volatility:g}")
    header = (f"# Hashprice scenarios from {instance.name} by `portfolio-opt scenarios` "
              "(docs/scenarios.md):\n"
              f"# model {model.kind}, volatility {model.volatility:g}{energy}; {paths} paths, "
              f"seed {seed}; {how}.\n")
    _write_atomic(doc, out, header)
    return f"wrote {out}: {len(scen.probabilities)} scenarios ({scen.structure}), " \
           f"{how}\n" + summary(scen)


def summary(scen: ScenarioSet) -> str:
    """Per period: the probability-weighted mean hashprice, and the min and max."""
    p = np.array(scen.probabilities)
    hp = np.array(scen.hashprice)
    rows = [("period", [str(i + 1) for i in range(hp.shape[1])]),
            ("mean", [f"{v:.2f}" for v in p @ hp]),
            ("min", [f"{v:.2f}" for v in hp.min(axis=0)]),
            ("max", [f"{v:.2f}" for v in hp.max(axis=0)])]
    if scen.energy_scale is not None:
        rows.append(("scale", [f"{v:.4f}" for v in p @ np.array(scen.energy_scale)]))
    width = max(8, *(len(c) for _, cells in rows for c in cells))
    lines = [f"{name:<7}" + "".join(f"{c:>{width}}" for c in cells) for name, cells in rows]
    return "\n".join([*lines, "(hashprice in USD/PH/day over the scenarios; scale: the "
                       "mean energy_price_scale)"])


def model_from_options(kind: str = "gbm-halving", volatility: float | None = None,
                       energy_correlation: float | None = None,
                       energy_volatility: float | None = None) -> HashpriceModel:
    """The model of the command line's options (None: the default parameter)."""
    base = HashpriceModel(kind=kind, energy_correlation=energy_correlation)
    return replace(base,
                   volatility=base.volatility if volatility is None else volatility,
                   energy_volatility=(base.energy_volatility if energy_volatility is None
                                      else energy_volatility))
