"""Re-solving many variants of one base instance: the engine behind batches and breakevens.

:class:`ScenarioEngine` keeps one Pyomo model in one persistent HiGHS instance. A variant
whose structure matches the model's (same sets, same sparse index sets, same integer
bounds pattern) is solved by updating mutable parameters and re-solving; any other
variant triggers a rebuild. ``engine.stats`` counts both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .instance import Instance
from .results import Result

__all__ = ["EngineStats", "ScenarioEngine"]


@dataclass
class EngineStats:
    solves: int = 0
    rebuilds: int = 0
    updates: int = 0
    build_seconds: float = 0.0
    update_seconds: float = 0.0
    solve_seconds: float = 0.0


class ScenarioEngine:
    """Solve variants of a base instance, re-using the built model where the structure allows.

    >>> engine = ScenarioEngine(base, threads=1)          # doctest: +SKIP
    >>> result = engine.solve(variant_instance)           # doctest: +SKIP
    """

    def __init__(
        self,
        base: Instance,
        *,
        profile: str | Path = "default",
        time_limit: float | None = None,
        mip_gap: float | None = None,
        threads: int | None = 1,
        source: str = "<scenario>",
        explain_infeasible: bool = True,
    ) -> None:
        """``explain_infeasible=False`` skips the diagnosis of infeasible variants (several
        re-solves each): batches and breakeven searches only need the status."""
        from .solver import solver_options

        self.base = base
        self.source = source
        self.options = solver_options(profile, time_limit=time_limit, mip_gap=mip_gap,
                                      threads=threads)
        self.profile = str(profile)
        self.explain = explain_infeasible
        self.stats = EngineStats()
        self._model: Any = None  # api.Model of the current structure
        self._engine: Any = None  # solver.PersistentHighs holding it
        self._signature: Any = None

    def solve(self, instance: Instance | None = None) -> Result:
        """Solve ``instance`` (default: the base). Raises InputError if it is invalid."""
        from .api import build, result_from_solve
        from .model import prepare
        from .model.params import structure_signature, update_parameters
        from .solver import PersistentHighs
        from .validate import check_instance

        inst = self.base if instance is None else instance
        check_instance(inst, self.source)
        t0 = time.perf_counter()
        data = prepare(inst)
        signature = structure_signature(data)
        if self._model is not None and signature == self._signature:
            update_parameters(self._model.pyomo, data)
            self._model.data = data
            self._model.instance = inst
            self.stats.updates += 1
            self.stats.update_seconds += time.perf_counter() - t0
            build_seconds = time.perf_counter() - t0
        else:
            self._model = build(inst, mutable=True, data=data)
            self._engine = PersistentHighs(self._model.pyomo, fixed_structure=True)
            self._signature = signature
            self.stats.rebuilds += 1
            build_seconds = time.perf_counter() - t0
            self.stats.build_seconds += build_seconds
        self._model.build_seconds = build_seconds
        result = result_from_solve(self._model, self._engine, self.options, self.profile,
                                   explain=self.explain)
        self.stats.solves += 1
        self.stats.solve_seconds += result.solve_seconds
        return result
