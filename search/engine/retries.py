"""Retries in Optuna: a trial runs again as a new Optuna trial with the same values.

A trial is retried when KerasTuner retries it (``max_retries_per_trial``, or a restarted
``search run`` finding it interrupted) and when a live worker adopts the trial of a dead
one (no heartbeat for the grace period). The old Optuna trial ends FAIL; the new one
carries the same KerasTuner trial id and values and ``retry_of`` = the old number, so it
costs no budget.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from search.records import keys

if TYPE_CHECKING:
    import keras_tuner
    import optuna
    from optuna.trial import FrozenTrial

INTERRUPTED = "interrupted: the process running it ended"


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameter values as JSON takes them (NumPy scalars become Python numbers)."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()}


def same_values_again(
    study: optuna.Study, space: keras_tuner.HyperParameters, trial_id: str, values: dict[str, Any], old: int | None
) -> optuna.Trial:
    """Fails Optuna trial ``old`` if it still runs and starts a new RUNNING trial with ``values``."""
    from search.engine import distributions

    params, dists = distributions.params_for_values(space, values)
    attrs = {keys.KT_TRIAL_ID: trial_id, keys.HP: jsonable(values), keys.RETRY_OF: -1 if old is None else old}
    return start_again(study, params, dists, attrs, old)


def start_again(study: optuna.Study, params: dict[str, Any], dists: dict[str, Any], user_attrs: dict[str, Any],
                old: int | None) -> optuna.Trial:
    """Fails Optuna trial ``old`` if it still runs and starts a new RUNNING trial with ``params``."""
    import optuna
    from optuna.trial import FrozenTrial, TrialState

    if old is not None and study.get_trials(deepcopy=False)[old].state == TrialState.RUNNING:
        study.tell(old, state=TrialState.FAIL, skip_if_finished=True)
    template = FrozenTrial(
        number=-1, state=TrialState.RUNNING, value=None, datetime_start=datetime.now(),
        datetime_complete=None, params=params, distributions=dists, user_attrs=user_attrs,
        system_attrs={}, intermediate_values={}, trial_id=-1,
    )
    # Optuna has no public "ask with these values" that another worker cannot take first
    # (enqueue_trial can be popped by any worker), so the trial is created directly.
    return optuna.Trial(study, study._storage.create_new_trial(study._study_id, template_trial=template))


def fail_interrupted(study: optuna.Study, frozen: FrozenTrial) -> None:
    """Fails a RUNNING trial whose process ended, with :data:`INTERRUPTED` as its reason."""
    import optuna
    from optuna.trial import TrialState

    optuna.Trial(study, frozen._trial_id).set_user_attr(keys.FAIL_REASON, INTERRUPTED)
    study.tell(frozen.number, state=TrialState.FAIL, skip_if_finished=True)


def retried_already(trials: list[FrozenTrial], number: int) -> bool:
    """Whether some trial of ``trials`` is a retry of trial ``number``."""
    return any(t.user_attrs.get(keys.RETRY_OF) == number for t in trials)
