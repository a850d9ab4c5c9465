"""``search reconcile``: repair the state a crash left behind, and say what changed.

1. Optuna: a RUNNING trial whose heartbeat is older than the grace period (or that never
   beat, and started longer ago than that) is failed, and a retry with the same values
   is queued (a WAITING trial with ``retry_of``, taken by the next worker; it does not
   use up the budget).
2. MLflow: a trial run still RUNNING whose Optuna trial has finished is closed with
   the matching status; a parent run still RUNNING when no trial of the study runs is
   closed KILLED.
3. KerasTuner: trials a local ``search run`` folder still holds as running are reported;
   the next ``search run`` of the study retries them (or skips those already retried).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from search import storage as storage_mod
from search.engine.heartbeat import LOST, intervals
from search.records import keys
from search.records.studies import require_study
from search.study.create import open_study_storage
from search.tracking.client import mlflow_runs
from search.tracking.tracker import Tracker

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from search.engine.heartbeat import StaleTrials
    from search.storage import Location

_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
REASON = f"{LOST} (found by reconcile)"


def reconcile(study_name: str, *, home: str | None = None, storage: str | None = None,
              tracking_uri: str | None = None) -> list[str]:
    """Repairs study ``study_name``; returns one line per change."""
    loc = storage_mod.resolve(home, storage, tracking_uri)
    ostorage, stale = open_study_storage(loc.storage_url)
    study = require_study(study_name, loc, ostorage)
    changes = _fail_stale(study, stale)
    changes += _close_runs(study, loc)
    changes += _kerastuner(study, loc)
    return changes


def _fail_stale(study: optuna.Study, stale: StaleTrials) -> list[str]:
    import optuna
    from optuna.trial import TrialState

    failed: list[FrozenTrial] = stale.collect(study, REASON)  # trials with an old heartbeat
    grace = timedelta(seconds=intervals()[1])
    now = datetime.now()
    beating = _trials_with_heartbeat(study)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # Never beat at all (a storage without heartbeats, or killed before the first beat).
        if t._trial_id not in beating and t.datetime_start and now - t.datetime_start > grace:
            optuna.Trial(study, t._trial_id).set_user_attr(keys.FAIL_REASON, REASON)
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(t)
    changes = []
    for t in failed:
        hp = t.user_attrs.get(keys.HP)
        study.enqueue_trial(t.params, user_attrs={keys.RETRY_OF: t.number, keys.HP: hp}, skip_if_exists=False)
        changes.append(f"optuna: trial {t.number} RUNNING -> FAIL ({REASON}); retry queued with the same values")
    return changes


def _trials_with_heartbeat(study: optuna.Study) -> set[int]:
    storage = study._storage
    if not hasattr(storage, "engine"):
        return set()
    import sqlalchemy

    with storage.engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT trial_id FROM trial_heartbeats"))
        return {row[0] for row in rows}


def _close_runs(study: optuna.Study, loc: Location) -> list[str]:
    from optuna.trial import TrialState

    runs = [r for r in mlflow_runs(loc.tracking_uri, study.study_name) if r.info.status == "RUNNING"]
    if not runs:
        return []
    tracker = Tracker(loc.tracking_uri, study.study_name, loc.artifact_root)
    trials = study.get_trials(deepcopy=False)
    by_run = {t.user_attrs.get(keys.MLFLOW_RUN_ID): t for t in trials}
    any_running = any(t.state == TrialState.RUNNING for t in trials)
    changes = []
    for run in runs:
        role = run.data.tags.get(keys.TAG_ROLE)
        trial = by_run.get(run.info.run_id)
        if role == keys.ROLE_TRIAL and (trial is None or trial.state != TrialState.RUNNING):
            state = trial.state.name if trial is not None else "FAIL"
            status = _STATUS.get(state, "FAILED")
            reason = (trial.user_attrs.get(keys.FAIL_REASON) if trial is not None else None) or "closed by reconcile"
            tracker.close_run(run.info.run_id, status, reason)
            changes.append(f"mlflow: run {run.info.run_name} RUNNING -> {status}")
        elif role != keys.ROLE_TRIAL and not any_running:
            tracker.close_run(run.info.run_id, "KILLED", "ended without closing its run (crash); closed by reconcile")
            changes.append(f"mlflow: parent run {run.info.run_name} RUNNING -> KILLED")
    return changes


def _kerastuner(study: optuna.Study, loc: Location) -> list[str]:
    path = loc.kt_dir / study.study_name / "oracle.json"
    if not path.is_file():
        return []
    ongoing = json.loads(path.read_text()).get("ongoing_trials", {})
    return [
        f"kerastuner: trial {trial_id} was running in {path.parent}; the next `search run` retries it"
        for trial_id in ongoing.values()
    ]
