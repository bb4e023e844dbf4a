"""Designs: the list of scenarios a batch solves, deterministic for a batch file and seed.

A scenario is an id (its position in the design, stable across reruns, which is what
makes resuming safe) and the value of every parameter. Sampled methods use SALib's
samplers (and numpy's generator for ``random``) with the batch's seed; their matrix
``x`` (one row per scenario, one column per parameter) is what the analyses read back.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .paths import Change
from .spec import Batch, Parameter

__all__ = ["Design", "Scenario", "make_design"]


@dataclass(frozen=True)
class Scenario:
    """One scenario: the changes to the base and the results-table value per parameter."""

    id: int
    changes: tuple[Change, ...]
    columns: dict[str, float]
    varied: str | None = None  # oat: the one parameter moved (None: the base scenario)
    block: int = 0  # sobol: base sample; morris: trajectory; else the scenario itself


@dataclass
class Design:
    method: str
    parameters: list[Parameter]
    scenarios: list[Scenario]
    x: np.ndarray | None = None  # sampled methods: the sample matrix, rows = scenarios
    problem: dict[str, Any] = field(default_factory=dict)  # SALib problem definition

    @property
    def columns(self) -> list[str]:
        return [p.path for p in self.parameters]

    def __len__(self) -> int:
        return len(self.scenarios)


def _change(p: Parameter, value: float | tuple[float, ...]) -> Change:
    x: float | list[float] = list(value) if isinstance(value, tuple) else value
    if p.kind == "integer" and isinstance(x, float):
        x = float(round(x))
    return (p.path, x, p.mode == "scale")


def _oat(params: list[Parameter]) -> list[Scenario]:
    """The base, then each parameter at each level with every other one at its base."""
    base_cols = {p.path: p.base_column for p in params}
    out = [Scenario(0, (), dict(base_cols))]
    for p in params:
        for k, level in enumerate(p.levels):
            cols = {**base_cols, p.path: p.column_value(k)}
            out.append(Scenario(len(out), (_change(p, level),), cols, varied=p.path,
                                block=len(out)))
    return out


def _grid(params: list[Parameter]) -> list[Scenario]:
    out: list[Scenario] = []
    for combo in itertools.product(*(range(len(p.levels)) for p in params)):
        changes = tuple(_change(p, p.levels[k]) for p, k in zip(params, combo, strict=True))
        cols = {p.path: p.column_value(k) for p, k in zip(params, combo, strict=True)}
        out.append(Scenario(len(out), changes, cols, block=len(out)))
    return out


def _sample_matrix(batch: Batch, problem: dict[str, Any]) -> tuple[np.ndarray, int]:
    """(matrix, rows per block) from the batch's sampler."""
    from SALib.sample import latin, morris, sobol

    spec = batch.spec
    n = int(spec.samples or 0)
    d = len(batch.parameters)
    if spec.method == "random":
        rng = np.random.default_rng(spec.seed)
        lo, hi = np.array(problem["bounds"]).T
        return lo + (hi - lo) * rng.random((n, d)), 1
    if spec.method == "lhs":
        return np.asarray(latin.sample(problem, n, seed=spec.seed)), 1
    if spec.method == "sobol":
        x = sobol.sample(problem, n, calc_second_order=False, seed=spec.seed)
        return np.asarray(x), d + 2
    x = morris.sample(problem, n, num_levels=spec.morris_levels, seed=spec.seed)
    return np.asarray(x), d + 1


def make_design(batch: Batch) -> Design:
    """All scenarios of ``batch`` in a fixed order (ids 0, 1, ...)."""
    params = batch.parameters
    method = batch.spec.method
    if method == "oat":
        return Design(method, params, _oat(params))
    if method == "grid":
        return Design(method, params, _grid(params))
    problem = {"num_vars": len(params), "names": [p.path for p in params],
               "bounds": [list(p.bounds) for p in params]}
    x, per_block = _sample_matrix(batch, problem)
    scenarios = []
    for i, row in enumerate(x):
        values = [float(v) for v in row]
        changes = tuple(_change(p, v) for p, v in zip(params, values, strict=True))
        cols = {p.path: v for p, v in zip(params, values, strict=True)}
        scenarios.append(Scenario(i, changes, cols, block=i // per_block))
    return Design(method, params, scenarios, x=x, problem=problem)

