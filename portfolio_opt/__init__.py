"""portfolio_opt: how many MW to keep hashing and how many to convert to AI/HPC leasing.

The data path reads in one direction: instance file -> validated :class:`Instance` ->
network graph -> Pyomo MILP -> HiGHS -> :class:`Result` (pandas DataFrames and files).

>>> import portfolio_opt
>>> result = portfolio_opt.solve("instances/tutorial.yaml")  # doctest: +SKIP
>>> result.status, result.objective_npv_usd  # doctest: +SKIP

Names are imported on first use, so the command line starts without loading Pyomo or
pandas for commands that do not need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Model, build, solve
    from .constants import Status
    from .errors import InputError, InputIssue, PortfolioOptError, SolverError
    from .instance import (
        AI,
        BTC,
        Contract,
        Grid,
        Horizon,
        Instance,
        Limits,
        Link,
        Market,
        Site,
        Source,
    )
    from .loader import load_instance
    from .results import Result

_EXPORTS = {
    "Model": "api",
    "build": "api",
    "solve": "api",
    "Status": "constants",
    "InputError": "errors",
    "InputIssue": "errors",
    "PortfolioOptError": "errors",
    "SolverError": "errors",
    "AI": "instance",
    "BTC": "instance",
    "Contract": "instance",
    "Grid": "instance",
    "Horizon": "instance",
    "Instance": "instance",
    "Limits": "instance",
    "Link": "instance",
    "Market": "instance",
    "Site": "instance",
    "Source": "instance",
    "load_instance": "loader",
    "Result": "results",
}

__all__ = [
    "AI",
    "BTC",
    "Contract",
    "Grid",
    "Horizon",
    "InputError",
    "InputIssue",
    "Instance",
    "Limits",
    "Link",
    "Market",
    "Model",
    "PortfolioOptError",
    "Result",
    "Site",
    "SolverError",
    "Source",
    "Status",
    "build",
    "load_instance",
    "solve",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'portfolio_opt' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
