"""The Pyomo MILP: data preparation, variables, constraint families and the objective."""

from .build import CONSTRAINT_FAMILIES, build_model
from .data import MONEY_SCALE, Formulation, ModelData, prepare

__all__ = [
    "CONSTRAINT_FAMILIES",
    "MONEY_SCALE",
    "Formulation",
    "ModelData",
    "build_model",
    "prepare",
]
