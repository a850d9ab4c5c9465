"""A study of several objectives read back: its Pareto front, feasibility and hypervolume.

The front holds the COMPLETE, feasible trials no other such trial dominates (at least as good
in every objective and better in one), as Optuna's ``study.best_trials`` defines it; it is
computed here from any list of trials, so the front *as it was* after each trial can be drawn.
The hypervolume is the volume the front dominates up to a reference point (larger is better);
compared across studies only with the same reference point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from search.records import keys

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

Objectives = Sequence[tuple[str, str]]  # (metric, "min"|"max")


def describe_objectives(objectives: Objectives) -> str:
    """``val_accuracy (max), params (min)``."""
    return ", ".join(f"{name} ({direction})" for name, direction in objectives)


def values_text(objectives: Objectives, values: Sequence[float] | None) -> str:
    """``val_accuracy=0.9511 params=1234``."""
    if not values:
        return ""
    return " ".join(f"{name}={value:.6g}" for (name, _), value in zip(objectives, values))


def finished(trials: Iterable[FrozenTrial], n: int) -> list[FrozenTrial]:
    """COMPLETE trials with ``n`` finite values."""
    return [t for t in trials if t.state.name == "COMPLETE" and t.values is not None and len(t.values) == n
            and all(math.isfinite(v) for v in t.values)]


def _losses(trials: Sequence[FrozenTrial], objectives: Objectives) -> np.ndarray:
    """Each trial's values turned into quantities to minimise."""
    signs = np.array([-1.0 if d == "max" else 1.0 for _, d in objectives])
    return np.array([t.values for t in trials], dtype="float64").reshape(len(trials), len(objectives)) * signs


def front(trials: Iterable[FrozenTrial], objectives: Objectives) -> list[FrozenTrial]:
    """The Pareto front of ``trials`` (COMPLETE, feasible, non-dominated), in trial order."""
    done = [t for t in finished(trials, len(objectives)) if keys.is_feasible(t)]
    if not done:
        return []
    losses = _losses(done, objectives)
    keep = []
    for i, row in enumerate(losses):
        dominated = np.any(np.all(losses <= row, axis=1) & np.any(losses < row, axis=1))
        keep.append(not dominated)
    return [t for t, k in zip(done, keep) if k]


def reference_point(trials: Iterable[FrozenTrial], objectives: Objectives) -> np.ndarray | None:
    """The worst value of each objective among the finished feasible trials, 10% of its range further
    (so the extreme trials of a front count), in minimise form; None without a trial."""
    done = [t for t in finished(trials, len(objectives)) if keys.is_feasible(t)]
    if not done:
        return None
    losses = _losses(done, objectives)
    worst, best = losses.max(axis=0), losses.min(axis=0)
    span = np.where(worst > best, worst - best, np.maximum(np.abs(worst), 1.0))
    return worst + 0.1 * span


def hypervolume(trials: Iterable[FrozenTrial], objectives: Objectives, reference: np.ndarray) -> float:
    """The volume the front of ``trials`` dominates up to ``reference`` (minimise form)."""
    from optuna._hypervolume import compute_hypervolume

    on_front = front(trials, objectives)
    if not on_front:
        return 0.0
    losses = _losses(on_front, objectives)
    losses = losses[np.all(losses < reference, axis=1)]
    if not len(losses):
        return 0.0
    return float(compute_hypervolume(losses, np.asarray(reference, dtype="float64"), assume_pareto=True))


def hypervolume_history(trials: Sequence[FrozenTrial], objectives: Objectives,
                        reference: np.ndarray) -> list[tuple[int, float]]:
    """``(trial number, hypervolume of the front of the trials up to it)`` after each finished trial."""
    ordered = sorted((t for t in trials if t.state.is_finished()), key=lambda t: t.number)
    out, seen, last = [], [], 0.0
    for t in ordered:
        seen.append(t)
        if t.state.name == "COMPLETE" and keys.is_feasible(t):
            last = hypervolume(seen, objectives, reference)
        out.append((t.number, last))
    return out
