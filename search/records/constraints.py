"""A study's constraints: ``METRIC<=BOUND`` (also ``<``, ``>=``, ``>``) as text and as Optuna's constraint value.

A trial that breaks one is *infeasible*: it stays in the study and is never on its front or its best trial;
Optuna's constraint-aware samplers (TPE, NSGA-II) read the value set with ``trial.set_constraint``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from search.errors import UsageError

_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_./-]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``; feasible when it holds."""

    metric: str
    op: str
    bound: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"

    def violation(self, value: float | None) -> float:
        """Optuna's constraint value: ``<= 0`` when ``value`` satisfies it, else by how much it
        misses (a strict bound met with equality misses by a hair; no value misses by 1)."""
        if value is None or not math.isfinite(value):
            return 1.0
        gap = value - self.bound if self.op in ("<=", "<") else self.bound - value
        if self.op in ("<", ">") and gap == 0:
            return 1e-12
        return float(gap)


def parse_constraint(text: str) -> Constraint:
    """``METRIC<=BOUND`` (also ``<``, ``>=``, ``>``) -> :class:`Constraint`."""
    match = _CONSTRAINT.match(text or "")
    bound = None
    if match:
        try:
            bound = float(match.group(3))
        except ValueError:
            bound = None
    if bound is None or not math.isfinite(bound):
        raise UsageError(f"Invalid constraint {text!r}; expected METRIC<=BOUND, METRIC>=BOUND, METRIC<BOUND or "
                         "METRIC>BOUND with a finite number (e.g. params<=20000, latency_ms<2).")
    return Constraint(match.group(1), match.group(2), bound)
