"""The Pyomo MILP: data preparation, variables, constraint families and the objective."""

from .build import CONSTRAINT_FAMILIES, build_model
from .data import MONEY_SCALE, ModelData, prepare

__all__ = ["CONSTRAINT_FAMILIES", "MONEY_SCALE", "ModelData", "build_model", "prepare"]
