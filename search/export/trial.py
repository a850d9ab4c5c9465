"""Which trial to export, and what the study recorded about it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search.errors import UsageError
from search.records import keys
from search.records.table import best_trial

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


def to_stderr(message: str) -> None:
    """The default ``notify``: one line on stderr."""
    print(message, file=sys.stderr)


@dataclass(frozen=True)
class TrialInfo:
    """Everything about one Optuna trial an export needs."""

    study: str
    number: int
    state: str
    value: float | None
    values: dict[str, Any]  # the KerasTuner hyperparameter values (settings included)
    kt_trial_id: str
    mlflow_run_id: str | None
    space_path: str
    settings: dict[str, Any]
    objective: str
    direction: str
    epochs: int
    steps_run: int  # epochs reported before the trial ended (pruned trials stop early)
    trial_dir: str | None = None  # the KerasTuner folder it ran in (workers keep their own)


def select_trial(study: optuna.Study, number: int | None, notify: Callable[[str], None] = to_stderr) -> FrozenTrial:
    """The best COMPLETE trial, or trial ``number``: failed and running trials are refused,
    a pruned one is allowed with a warning (its best epoch before it stopped is exported)."""
    from optuna.trial import TrialState

    if number is None:
        return best_trial(study)
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    if number not in by_number:
        known = f"0 to {max(by_number)}" if by_number else "none"
        raise UsageError(f"Unknown trial {number} in study {study.study_name!r}; trials there: {known}.")
    t = by_number[number]
    if t.state == TrialState.FAIL:
        reason = t.user_attrs.get(keys.FAIL_REASON) or "no reason recorded"
        raise UsageError(f"Trial {number} of study {study.study_name!r} failed ({reason.splitlines()[0]}); "
                         "only COMPLETE or PRUNED trials can be exported.")
    if t.state not in (TrialState.COMPLETE, TrialState.PRUNED):
        raise UsageError(f"Trial {number} of study {study.study_name!r} is {t.state.name}; "
                         "only COMPLETE or PRUNED trials can be exported.")
    if t.state == TrialState.PRUNED:
        notify(f"warning: trial {number} was pruned ({t.user_attrs.get(keys.PRUNED_BY) or 'by the pruner'}); "
               "exporting the best epoch it reached.")
    return t


def trial_info(study: optuna.Study, t: FrozenTrial) -> TrialInfo:
    """What the export needs from the Optuna study and trial (user attributes set by ``search run``)."""
    attrs = study.user_attrs
    if keys.STUDY_SPACE_PATH not in attrs:
        raise UsageError(f"Study {study.study_name!r} was not created by `search run` (it has no space_path); "
                         "it cannot be exported.")
    steps = max(t.intermediate_values) + 1 if t.intermediate_values else 0
    return TrialInfo(
        study=study.study_name, number=t.number, state=t.state.name, value=t.values[0] if t.values else None,
        values=keys.values_of(t),
        kt_trial_id=str(t.user_attrs.get(keys.KT_TRIAL_ID, f"{t.number:04d}")),
        mlflow_run_id=t.user_attrs.get(keys.MLFLOW_RUN_ID), space_path=attrs[keys.STUDY_SPACE_PATH],
        settings=dict(attrs.get(keys.STUDY_SETTINGS) or {}), objective=attrs.get(keys.STUDY_OBJECTIVE, "val_loss"),
        direction=attrs.get(keys.STUDY_DIRECTION, "min"), epochs=int(attrs.get(keys.STUDY_EPOCHS, 1)), steps_run=steps,
        trial_dir=t.user_attrs.get(keys.TRIAL_DIR),
    )
