"""``search compare``: spaces under Optuna's samplers, ``search run``'s default and KerasTuner's own tuners, side by side."""

from search.compare._config import DEFAULT_METHOD, KT_METHODS, METHOD_NAMES, OPTUNA_METHODS, CompareConfig, Method
from search.compare._run import CompareResult, MethodResult, SuiteResult, compare
from search.compare._summary import Summary

__all__ = ["DEFAULT_METHOD", "KT_METHODS", "METHOD_NAMES", "OPTUNA_METHODS", "CompareConfig", "CompareResult", "Method",
           "MethodResult", "Summary", "SuiteResult", "compare"]
