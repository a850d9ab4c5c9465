"""A study's objectives and constraints, as text and as values of a trial.

An objective is a metric and a direction: ``val_accuracy:max``, ``params:min``, or a bare name
whose direction follows KerasTuner's rule (accuracies, AUC, precision, recall and F1 are
maximised, everything else minimised). A study with several objectives searches their Pareto
front. A constraint bounds a metric: ``params<=20000``, ``latency_ms<2``, ``val_accuracy>=0.9``;
a trial that breaks one is *infeasible*: kept in the study, never on its front, and shown to
Optuna's constraint-aware samplers (TPE, NSGA-II) as such through ``trial.set_constraint``.

Either may name a metric the model logs (its value at the trial's best epoch, judged by the
first objective) or one of the harness's cost metrics (:data:`COST_METRICS`, measured once per
trial by :mod:`search.engine.costs`).
"""

from __future__ import annotations

import re

from search.errors import UsageError
from search.records.constraints import Constraint, parse_constraint
from search.records.keys import COST_METRICS

__all__ = ["COST_METRICS", "Constraint", "check_objectives", "default_direction", "parse_constraint", "parse_objective"]

DIRECTIONS = ("min", "max")
_MAXIMISED = ("acc", "auc", "precision", "recall", "f1")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")


def default_direction(name: str) -> str:
    """``max`` for accuracy-like metrics (as KerasTuner infers it), else ``min``."""
    return "max" if name not in COST_METRICS and any(k in name for k in _MAXIMISED) else "min"


def parse_objective(text: str) -> tuple[str, str]:
    """``NAME`` or ``NAME:min|max`` -> ``(name, direction)``."""
    name, sep, direction = text.strip().partition(":")
    name, direction = name.strip(), direction.strip().lower()
    if not _NAME.match(name) or (sep and direction not in DIRECTIONS):
        raise UsageError(f"Invalid --objective {text!r}; expected METRIC or METRIC:min|max "
                         "(e.g. val_accuracy:max, latency_ms:min).")
    return name, direction or default_direction(name)


def check_objectives(objectives: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> None:
    """Several objectives must name different metrics."""
    names = [name for name, _ in objectives]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"Objective {twice[0]!r} is given twice; each objective names another metric.")
