"""``search compare``: one space under Optuna's samplers and KerasTuner's own tuners, side by side."""

from search.compare._config import KT_METHODS, METHOD_NAMES, OPTUNA_METHODS, CompareConfig
from search.compare._run import CompareResult, MethodResult, compare

__all__ = ["KT_METHODS", "METHOD_NAMES", "OPTUNA_METHODS", "CompareConfig", "CompareResult", "MethodResult", "compare"]
