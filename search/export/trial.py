"""Which trial to export, and what the study recorded about it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from search.errors import UsageError


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


def select_trial(study: Any, number: int | None, notify: Callable[[str], None] = to_stderr) -> Any:
    """The best COMPLETE trial, or trial ``number``: failed and running trials are refused,
    a pruned one is allowed with a warning (its best epoch before it stopped is exported)."""
    from optuna.trial import TrialState

    from search.results import best

    if number is None:
        best(study)  # raises NoCompletedTrialsError
        return study.best_trial
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    if number not in by_number:
        known = f"0 to {max(by_number)}" if by_number else "none"
        raise UsageError(f"Unknown trial {number} in study {study.study_name!r}; trials there: {known}.")
    t = by_number[number]
    if t.state == TrialState.FAIL:
        reason = t.user_attrs.get("fail_reason") or "no reason recorded"
        raise UsageError(f"Trial {number} of study {study.study_name!r} failed ({reason.splitlines()[0]}); "
                         "only COMPLETE or PRUNED trials can be exported.")
    if t.state not in (TrialState.COMPLETE, TrialState.PRUNED):
        raise UsageError(f"Trial {number} of study {study.study_name!r} is {t.state.name}; "
                         "only COMPLETE or PRUNED trials can be exported.")
    if t.state == TrialState.PRUNED:
        notify(f"warning: trial {number} was pruned ({t.user_attrs.get('pruned_by') or 'by the pruner'}); "
               "exporting the best epoch it reached.")
    return t


def trial_info(study: Any, t: Any) -> TrialInfo:
    """What the export needs from the Optuna study and trial (user attributes set by ``search run``)."""
    attrs = study.user_attrs
    if "space_path" not in attrs:
        raise UsageError(f"Study {study.study_name!r} was not created by `search run` (it has no space_path); "
                         "it cannot be exported.")
    steps = max(t.intermediate_values) + 1 if t.intermediate_values else 0
    return TrialInfo(
        study=study.study_name, number=t.number, state=t.state.name, value=t.value,
        values=dict(t.user_attrs.get("hp", t.params)),
        kt_trial_id=str(t.user_attrs.get("kt_trial_id", f"{t.number:04d}")),
        mlflow_run_id=t.user_attrs.get("mlflow_run_id"), space_path=attrs["space_path"],
        settings=dict(attrs.get("settings") or {}), objective=attrs.get("objective", "val_loss"),
        direction=attrs.get("direction", "min"), epochs=int(attrs.get("epochs", 1)), steps_run=steps,
        trial_dir=t.user_attrs.get("trial_dir"),
    )
