"""The only module that calls MLflow.

Layout: one experiment per study (named after it); one parent run per ``search run``
invocation holding the study settings; one child run per trial (nested under the
parent) with every hyperparameter as a param, every epoch's metrics with their step,
and tags linking the KerasTuner trial id, the Optuna trial number and the final state.

Uses ``MlflowClient`` throughout (no fluent global state) and ends every run it starts:
COMPLETE → FINISHED, PRUNED → KILLED, FAIL → FAILED with the reason as a tag.
"""

from __future__ import annotations

import math
import time
from typing import Any

from search.listeners import TrialListener
from search.storage import mask_password

# Tags on trial runs (and the prefix of every tag the project writes).
TAG_STUDY = "search.study"
TAG_ROLE = "search.role"
TAG_KT_TRIAL = "search.kt_trial_id"
TAG_OPTUNA_NUMBER = "search.optuna_trial_number"
TAG_STATE = "search.state"
TAG_FAIL_REASON = "search.fail_reason"
TAG_PRUNED_BY = "search.pruned_by"
TAG_RETRY_OF = "search.retry_of"
PARENT_TAG = "mlflow.parentRunId"

_RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def _client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Tracker(TrialListener):
    """Logs a study's invocation and its trials to MLflow.

    Args:
        tracking_uri: MLflow tracking URI (``sqlite:///...`` or a server URL).
        study_name: the study, also the experiment name.
        artifact_root: where the experiment keeps artifacts when it is created here.
    """

    def __init__(self, tracking_uri: str, study_name: str, artifact_root: str | None = None) -> None:
        self.client = _client(tracking_uri)
        self.study_name = study_name
        experiment = self.client.get_experiment_by_name(study_name)
        if experiment is None:
            location = f"{artifact_root.rstrip('/')}/{study_name}" if artifact_root else None
            self.experiment_id = self.client.create_experiment(study_name, artifact_location=location)
        else:
            self.experiment_id = experiment.experiment_id
        self.parent_run_id: str | None = None
        self._runs: dict[str, str] = {}  # KT trial id -> MLflow run id of its current attempt
        self._logged: dict[str, set[str]] = {}  # run id -> names of params logged

    # -- the parent run ------------------------------------------------------------------
    def start_parent(self, params: dict[str, Any], run_name: str | None = None) -> str:
        """Starts the parent run of one ``search run`` invocation and logs its settings."""
        from mlflow.entities import Param

        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name or f"{self.study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
            tags={TAG_STUDY: self.study_name, TAG_ROLE: "study"},
        )
        self.parent_run_id = run.info.run_id
        safe = [Param(k, mask_password(str(v))[:6000]) for k, v in sorted(params.items())]
        self.client.log_batch(self.parent_run_id, params=safe)
        return self.parent_run_id

    def end_parent(self, status: str = "FINISHED", summary: dict[str, float] | None = None) -> None:
        """Logs the study summary on the parent run and ends it with ``status``."""
        if self.parent_run_id is None:
            return
        from mlflow.entities import Metric

        if summary:
            metrics = [Metric(k, float(v), _now_ms(), 0) for k, v in summary.items() if _finite(v)]
            self.client.log_batch(self.parent_run_id, metrics=metrics)
        self.client.set_terminated(self.parent_run_id, status=status)
        self.parent_run_id = None

    # -- trial runs (TrialListener) ------------------------------------------------------
    def trial_started(self, oracle: Any, trial: Any, optuna_trial: Any) -> None:
        from mlflow.entities import Param

        number = optuna_trial.number
        tags = {
            TAG_STUDY: self.study_name,
            TAG_ROLE: "trial",
            TAG_KT_TRIAL: trial.trial_id,
            TAG_OPTUNA_NUMBER: str(number),
        }
        retry_of = optuna_trial.user_attrs.get("retry_of") if hasattr(optuna_trial, "user_attrs") else None
        if retry_of is not None:
            tags[TAG_RETRY_OF] = str(retry_of)
        if self.parent_run_id:
            tags[PARENT_TAG] = self.parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=f"trial-{number:04d}", tags=tags)
        run_id = run.info.run_id
        self._runs[trial.trial_id] = run_id
        self._log_params(run_id, trial.hyperparameters.values)
        optuna_trial.set_user_attr("mlflow_run_id", run_id)

    def _log_params(self, run_id: str, values: dict[str, Any]) -> None:
        from mlflow.entities import Param

        logged = self._logged.setdefault(run_id, set())
        params = [Param(k, str(v)[:6000]) for k, v in sorted(values.items()) if k not in logged]
        if params:
            self.client.log_batch(run_id, params=params)
            logged.update(p.key for p in params)

    def epoch_ended(self, oracle: Any, trial_id: str, step: int, logs: dict[str, float]) -> None:
        from mlflow.entities import Metric

        run_id = self._runs.get(trial_id)
        if run_id is None:
            return
        ts = _now_ms()
        # Non-finite values are logged too: a NaN loss curve is what the user needs to see.
        metrics = [Metric(k, float(v), ts, step) for k, v in logs.items()]
        self.client.log_batch(run_id, metrics=metrics)

    def trial_ended(
        self, oracle: Any, trial: Any, number: int, state: Any, value: float | None, reason: str | None
    ) -> None:
        from mlflow.entities import Metric, RunTag

        run_id = self._runs.pop(trial.trial_id, None)
        if run_id is None:
            return
        self._log_params(run_id, trial.hyperparameters.values)  # those first declared in fit()
        self._logged.pop(run_id, None)
        name = getattr(state, "name", str(state))
        tags = [RunTag(TAG_STATE, name)]
        if name == "FAIL" and reason:
            tags.append(RunTag(TAG_FAIL_REASON, reason[:5000]))
        if name == "PRUNED" and reason:
            tags.append(RunTag(TAG_PRUNED_BY, reason))
        metrics = []
        if value is not None and _finite(value):
            metrics.append(Metric(f"best_{oracle.objective.name}", float(value), _now_ms(), 0))
        self.client.log_batch(run_id, metrics=metrics, tags=tags)
        self.client.set_terminated(run_id, status=_RUN_STATUS.get(name, "FAILED"))

    def trial_lost(self, oracle: Any, frozen_trial: Any, reason: str) -> None:
        """Closes the MLflow run of a trial whose process died (it would stay RUNNING)."""
        run_id = frozen_trial.user_attrs.get("mlflow_run_id")
        if run_id:
            self.close_run(run_id, "FAILED", reason)

    def close_run(self, run_id: str, status: str, reason: str) -> bool:
        """Ends run ``run_id`` with ``status`` if it is still RUNNING; True if it was."""
        from mlflow.entities import RunTag

        if self.client.get_run(run_id).info.status != "RUNNING":
            return False
        tags = [RunTag(TAG_STATE, "FAIL"), RunTag(TAG_FAIL_REASON, reason)]
        self.client.log_batch(run_id, tags=tags)
        self.client.set_terminated(run_id, status=status)
        return True

    def trial_run_id(self, trial_id: str) -> str | None:
        """The MLflow run id of the running attempt of KerasTuner trial ``trial_id``."""
        return self._runs.get(trial_id)

    def log_trial_metrics(self, trial_id: str, metrics: dict[str, float], step: int = 0) -> None:
        """Logs extra metrics on the trial's run."""
        from mlflow.entities import Metric

        run_id = self._runs.get(trial_id)
        if run_id and metrics:
            ts = _now_ms()
            self.client.log_batch(run_id, metrics=[Metric(k, float(v), ts, step) for k, v in metrics.items()])

    def set_trial_tags(self, trial_id: str, tags: dict[str, str]) -> None:
        """Sets tags on the trial's run."""
        from mlflow.entities import RunTag

        run_id = self._runs.get(trial_id)
        if run_id and tags:
            self.client.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def log_trial_artifact(self, trial_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Logs a file or a folder on the trial's run."""
        run_id = self._runs.get(trial_id)
        if run_id:
            self._log_artifact(run_id, local_path, artifact_path)

    def log_parent_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        """Logs a file or a folder on the parent (study) run."""
        if self.parent_run_id:
            self._log_artifact(self.parent_run_id, local_path, artifact_path)

    def _log_artifact(self, run_id: str, local_path: str, artifact_path: str | None) -> None:
        from pathlib import Path

        if Path(local_path).is_dir():
            self.client.log_artifacts(run_id, local_path, artifact_path)
        else:
            self.client.log_artifact(run_id, local_path, artifact_path)

    def close_open_runs(self, status: str = "KILLED", reason: str = "interrupted") -> None:
        """Ends every trial run still open (on interrupt or crash), then nothing is RUNNING."""
        from mlflow.entities import RunTag

        for run_id in self._runs.values():
            self.client.log_batch(run_id, tags=[RunTag(TAG_STATE, "FAIL"), RunTag(TAG_FAIL_REASON, reason)])
            self.client.set_terminated(run_id, status=status)
        self._runs.clear()


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def mlflow_runs(tracking_uri: str, study_name: str) -> list[Any]:
    """All runs of a study's experiment (parent and trials)."""
    client = _client(tracking_uri)
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], max_results=50000)
