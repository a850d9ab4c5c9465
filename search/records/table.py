"""``search trials`` and ``search best``: the trials table and the best trial, read back from the study."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from search.errors import NoCompletedTrialsError
from search.records import keys

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from optuna.trial import FrozenTrial

COLUMNS = ["number", "state", "value", "params", "duration_s", "mlflow_run_id", "kt_trial_id", "reason",
           "gradients", "events", "device"]


def _row(t: FrozenTrial) -> dict[str, Any]:
    duration = None
    if t.datetime_start and t.datetime_complete:
        duration = (t.datetime_complete - t.datetime_start).total_seconds()
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "params": keys.values_of(t),
        "duration_s": None if duration is None else round(duration, 3),
        "mlflow_run_id": t.user_attrs.get(keys.MLFLOW_RUN_ID),
        "kt_trial_id": t.user_attrs.get(keys.KT_TRIAL_ID),
        "reason": keys.reason_of(t),
        "gradients": keys.findings_of(t.user_attrs),
        "events": ", ".join(f"{e['event']}@{e['epoch']}" for e in t.user_attrs.get(keys.EVENTS, [])) or None,
        "device": t.user_attrs.get(keys.DEVICE),
    }


def trials_records(study: optuna.Study) -> list[dict[str, Any]]:
    """The study's trials as JSON-ready dicts, one per trial, with full-precision values."""
    return [_row(t) for t in study.get_trials(deepcopy=False)]


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """A pandas DataFrame of the study's trials, one row each."""
    import pandas as pd

    return pd.DataFrame(trials_records(study), columns=COLUMNS)


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The best COMPLETE trial (pruned and failed trials never count), or a clear error when there is none."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise NoCompletedTrialsError(f"Study {study.study_name!r} has no completed trial yet.")
    return study.best_trial


def best(study: optuna.Study) -> dict[str, Any]:
    """The best COMPLETE trial as ``search best`` shows it."""
    t = best_trial(study)
    return {
        "study": study.study_name,
        "trial": t.number,
        "value": t.value if t.value is None or math.isfinite(t.value) else str(t.value),
        "objective": study.user_attrs.get(keys.STUDY_OBJECTIVE),
        "direction": study.direction.name.lower(),
        "params": keys.values_of(t),
        "mlflow_run_id": t.user_attrs.get(keys.MLFLOW_RUN_ID),
        "kt_trial_id": t.user_attrs.get(keys.KT_TRIAL_ID),
    }


def render_trials(study: optuna.Study, fmt: str = "table") -> str:
    """``search trials``: the table (``table``), ``csv`` (params as JSON) or ``json``; ends with a newline."""
    import json

    if fmt == "json":
        return json.dumps(trials_records(study), indent=2, default=str) + "\n"
    frame = trials_frame(study)
    if fmt == "csv":
        return frame.assign(params=frame["params"].map(json.dumps)).to_csv(index=False)
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.max_colwidth", 80):
        on_gpu = frame["device"].astype(str).str.startswith("gpu").any()
        hidden = ["kt_trial_id"] + ([] if on_gpu else ["device"])  # a CPU-only study: no device column
        return frame.drop(columns=hidden).to_string(index=False) + "\n"


def render_best(study: optuna.Study, fmt: str = "table") -> str:
    """``search best``: the best trial's summary and params (``table``) or ``json``; ends with a newline."""
    import json

    result = best(study)
    if fmt == "json":
        return json.dumps(result, indent=2, default=str) + "\n"
    shown = ("study", "trial", "objective", "direction", "value", "mlflow_run_id")
    lines = [f"{key:<14}{result[key]}" for key in shown]
    lines += [f"  {key:<24}{value}" for key, value in result["params"].items()]
    return "\n".join(lines) + "\n"
