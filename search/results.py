"""Reading a study back: the trials table and the best trial."""

from __future__ import annotations

import math
from typing import Any

from search import storage as storage_mod
from search.errors import NoCompletedTrialsError, StudyNotFoundError


def open_study(name: str, loc: storage_mod.Location):
    """Loads study ``name`` from the location's storage, or says which studies exist."""
    return require_study(name, loc, storage_mod.open_storage(loc.storage_url))


def require_study(name: str, loc: storage_mod.Location, ostorage: Any):
    """Loads study ``name`` from an open storage, or says which studies exist there."""
    import optuna

    names = sorted(s.study_name for s in optuna.get_all_study_summaries(ostorage, include_best_trial=False))
    if name not in names:
        listed = ", ".join(names) if names else "none"
        raise StudyNotFoundError(
            f"Unknown study {name!r} in {storage_mod.mask_password(loc.storage_url)}; studies there: {listed}."
        )
    return optuna.load_study(study_name=name, storage=ostorage)


def _row(t: Any) -> dict[str, Any]:
    duration = None
    if t.datetime_start and t.datetime_complete:
        duration = (t.datetime_complete - t.datetime_start).total_seconds()
    reason = t.user_attrs.get("fail_reason") or t.user_attrs.get("pruned_by")
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "params": t.user_attrs.get("hp", t.params),
        "duration_s": None if duration is None else round(duration, 3),
        "mlflow_run_id": t.user_attrs.get("mlflow_run_id"),
        "kt_trial_id": t.user_attrs.get("kt_trial_id"),
        "reason": reason,
        "gradients": _gradients(t.user_attrs),
        "events": ", ".join(f"{e['event']}@{e['epoch']}" for e in t.user_attrs.get("events", [])) or None,
    }


def _gradients(attrs: dict[str, Any]) -> str | None:
    """The doctor's gradient audit in a few words: ``no gradient: bump/sigma`` (None if clean)."""
    parts = [f"{label}: {', '.join(v.split(' (')[0] for v in attrs[key])}" for key, label in (
        ("no_gradient", "no gradient"), ("zero_gradient", "zero gradient"),
        ("nonfinite_gradient", "non-finite gradient")) if attrs.get(key)]
    return "; ".join(parts) or None


COLUMNS = ["number", "state", "value", "params", "duration_s", "mlflow_run_id", "kt_trial_id", "reason",
           "gradients", "events"]


def trials_records(study: Any) -> list[dict[str, Any]]:
    """The study's trials as JSON-ready dicts, one per trial, with full-precision values."""
    return [_row(t) for t in study.get_trials(deepcopy=False)]


def trials_frame(study: Any):
    """A pandas DataFrame of the study's trials, one row each."""
    import pandas as pd

    return pd.DataFrame(trials_records(study), columns=COLUMNS)


def best(study: Any) -> dict[str, Any]:
    """The best COMPLETE trial (pruned and failed trials never count)."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise NoCompletedTrialsError(f"Study {study.study_name!r} has no completed trial yet.")
    t = study.best_trial
    return {
        "study": study.study_name,
        "trial": t.number,
        "value": t.value if t.value is None or math.isfinite(t.value) else str(t.value),
        "objective": study.user_attrs.get("objective"),
        "direction": study.direction.name.lower(),
        "params": t.user_attrs.get("hp", t.params),
        "mlflow_run_id": t.user_attrs.get("mlflow_run_id"),
        "kt_trial_id": t.user_attrs.get("kt_trial_id"),
    }
