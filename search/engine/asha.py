"""``AshaPruner``: asynchronous successive halving with rungs at epochs 1, η, η², ...

ASHA (Li et al., MLSys 2020) judges a trial at each rung against every trial that reached
that rung before it, and never waits for anyone: at the rung's epoch the trial goes on
if its value there is among the best ``1/η`` of the values recorded at that epoch (its
own included); while fewer than η trials reached the rung, only if it is the best. So a
configuration that is not promising costs one epoch, several workers share one study
without waiting on each other, and a resumed study judges by the values already stored.

Optuna's ``SuccessiveHalvingPruner`` follows the same rule, but its first rung comes after
``min_resource`` steps *completed past the first* (step 1, the second epoch, at best);
this one counts epochs from 1, so its first rung is the first epoch (step 0).
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState

REDUCTION_FACTOR = 3


class AshaPruner(optuna.pruners.BasePruner):
    """Prunes at epochs 1, η, η², ... (steps 0, η - 1, η² - 1, ...) the trials outside the best 1/η.

    Args:
        reduction_factor: η (at least 2): the rungs' spacing and the share that goes on.
        max_resource: the epochs of a full trial, if known: its last epoch is no rung (a trial
            that trained them all is judged by its value, not stopped).
    """

    def __init__(self, reduction_factor: int = REDUCTION_FACTOR, max_resource: int | None = None) -> None:
        if reduction_factor < 2:
            raise ValueError(f"reduction_factor must be at least 2, got {reduction_factor}.")
        self.reduction_factor = reduction_factor
        self.max_resource = max_resource

    def is_rung(self, step: int) -> bool:
        """Whether ``step`` (0-based) ends a rung's epoch: step + 1 is a power of η, before the last epoch."""
        if self.max_resource is not None and step >= self.max_resource - 1:
            return False
        epochs = step + 1
        while epochs % self.reduction_factor == 0:
            epochs //= self.reduction_factor
        return epochs == 1

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or not self.is_rung(step):
            return False
        value = trial.intermediate_values[step]
        if not math.isfinite(value):
            return True
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        at_rung = [t.intermediate_values[step] for t in study.get_trials(deepcopy=False, states=states)
                   if t.number != trial.number and step in t.intermediate_values]
        values = sorted([v for v in at_rung if math.isfinite(v)] + [value],
                        reverse=study.direction == optuna.study.StudyDirection.MAXIMIZE)
        cutoff = values[max(1, len(values) // self.reduction_factor) - 1]
        worse = value < cutoff if study.direction == optuna.study.StudyDirection.MAXIMIZE else value > cutoff
        return worse
