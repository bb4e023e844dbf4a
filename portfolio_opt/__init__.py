"""portfolio_opt: how many MW to keep hashing and how many to convert to AI/HPC leasing.

The data path reads in one direction: instance file -> validated :class:`Instance` ->
network graph -> Pyomo MILP -> HiGHS -> :class:`Result` (pandas DataFrames and files).

>>> import portfolio_opt
>>> result = portfolio_opt.solve("instances/tutorial.yaml")  # doctest: +SKIP
>>> result.status, result.objective_npv_usd  # doctest: +SKIP
"""

from __future__ import annotations

from .api import Model, build, solve
from .constants import Status
from .errors import InputError, InputIssue, PortfolioOptError, SolverError
from .instance import AI, BTC, Contract, Grid, Horizon, Instance, Limits, Link, Market, Site, Source
from .loader import load_instance
from .results import Result

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
