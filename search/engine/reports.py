"""Epoch values on their way to Optuna: written before the pruner reads them, in bursts otherwise.

An Optuna report is a storage write, and a small model's epoch may be shorter than a
handful of them (``tests/perf/README.md``). A value the pruner cannot act on yet waits:
the first epoch of an attempt goes at once (its curve shows from the start), later ones
go together before the pruner is asked, at most :data:`FLUSH_SECONDS` after they were
reported, and when the attempt ends. Pruning decisions are the same as with one write
per epoch: every value is in the storage before the pruner looks.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

FLUSH_SECONDS = 5.0


class EpochReports:
    """The per-epoch values of the trials running in this process that Optuna has not seen yet."""

    def __init__(self, flush_seconds: float | None = None) -> None:
        self.flush_seconds = FLUSH_SECONDS if flush_seconds is None else flush_seconds
        self._waiting: dict[str, list[tuple[int, float]]] = {}  # KT trial id -> (step, value)
        self._sent_at: dict[str, float] = {}  # KT trial id -> time.monotonic() of its last burst

    def add(self, trial_id: str, otrial: optuna.Trial, step: int, value: float, urgent: bool) -> None:
        """Keeps ``value`` for ``step``; writes what waits when ``urgent`` (the pruner is about
        to read it), at the attempt's first epoch, or when the last burst is old enough."""
        self._waiting.setdefault(trial_id, []).append((step, value))
        now = time.monotonic()
        if urgent or now - self._sent_at.get(trial_id, -math.inf) >= self.flush_seconds:
            self.flush(trial_id, otrial)
            self._sent_at[trial_id] = now

    def flush(self, trial_id: str, otrial: optuna.Trial | None, last: bool = False) -> None:
        """Writes the waiting values of ``trial_id`` to ``otrial``, in order (drops them when it is
        None); ``last``: the attempt ends, so the next one's first epoch goes at once."""
        for step, value in self._waiting.pop(trial_id, []):
            if otrial is not None:
                otrial.report(value, step)
        if last:
            self._sent_at.pop(trial_id, None)


def pruner_may_act(pruner: optuna.pruners.BasePruner, step: int) -> bool:
    """False where Optuna's ``pruner`` is sure to say "go on" at ``step``: the no-op pruner, the
    median and percentile pruners' warm-up steps, and the ASHA pruner's steps between rungs. ``should_prune`` reads every finished
    trial before it looks at the step, so asking it there costs for nothing."""
    import optuna

    from search.engine.asha import AshaPruner

    if type(pruner) is optuna.pruners.NopPruner:
        return False
    if isinstance(pruner, AshaPruner):
        return pruner.is_rung(step)
    if type(pruner) in (optuna.pruners.MedianPruner, optuna.pruners.PercentilePruner):
        return step >= getattr(pruner, "_n_warmup_steps", 0)
    return True
