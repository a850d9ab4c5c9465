"""The failure-aware TPE sampler: a trial failed by a NaN/inf loss tells TPE its region is bad.

Optuna's samplers learn only from COMPLETE and PRUNED trials: TPE ignores FAIL trials
entirely, constraint or not (``TPESampler._sample`` reads COMPLETE/PRUNED/RUNNING
trials, and ``constraints_func`` is not even evaluated for FAIL). A trial whose loss
became NaN is FAIL (Optuna's own convention for a NaN objective), so on its own it
would not keep TPE away from the configuration that produced it.

The trial doctor therefore also sets the Optuna constraint ``finite = 1`` (violated,
:data:`search.records.keys.CONSTRAINT_FINITE`) on such a trial, and
:class:`FailureAwareTPESampler` shows TPE every FAIL trial that carries a violated
constraint as an infeasible observation. TPE puts infeasible trials in its "bad" group
(after the worst complete ones), so its density of good configurations falls there. The
trial stays FAIL in the study, and ``study.best_trial`` is unaffected
(only COMPLETE trials count; those without constraints are feasible).

It may also be given *priors*: finished trials of another study of the same space
(``search run --warm-start``), shown to TPE beside the study's own, so it models the
space from its first trial. They live only in the sampler's view, never in the study.
"""

from __future__ import annotations

import copy
from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState


def _as_infeasible(trial: FrozenTrial) -> FrozenTrial:
    shown = copy.copy(trial)
    shown.state = TrialState.PRUNED  # TPE reads COMPLETE/PRUNED; infeasibility is checked first
    return shown


def _violates(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and any(v > 0 for v in trial.constraints.values())


class _FailuresShownAsInfeasible:
    """A read view of a study in which constrained FAIL trials look like infeasible ones,
    and the priors like finished trials of its own."""

    def __init__(self, study: optuna.Study, priors: Sequence[FrozenTrial] = ()) -> None:
        self._study = study
        self._priors = priors

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        if states is not None and TrialState.PRUNED in states:
            failed = self._study._get_trials(deepcopy=False, states=(TrialState.FAIL,), use_cache=use_cache)
            shown = [_as_infeasible(t) for t in failed if _violates(t)]
            trials = sorted([*trials, *shown], key=lambda t: t.number)
        priors = [t for t in self._priors if states is None or t.state in states]
        return [*priors, *trials] if priors else trials

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)


class FailureAwareTPESampler(optuna.samplers.TPESampler):
    """A ``TPESampler`` that also learns from FAIL trials carrying a violated constraint.

    Args:
        priors: finished trials of another study of the same space (numbered below 0, so
            they never meet a number of this study's), seen as if they were this study's.
        **kwargs: as ``optuna.samplers.TPESampler``.
    """

    def __init__(self, *, priors: Sequence[FrozenTrial] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.priors = list(priors)

    def _view(self, study: optuna.Study) -> _FailuresShownAsInfeasible:
        return _FailuresShownAsInfeasible(study, self.priors)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return super().infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return super().sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return super().sample_independent(self._view(study), trial, param_name, param_distribution)
