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
from collections.abc import Sequence
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
TAG_ARTIFACT_ERROR = "search.artifact_error"
TAG_BASELINE = "search.baseline"
TAG_PROTOCOL = "search.protocol"
TAG_BASELINE_PARAMS = "search.baseline_params"
PARENT_TAG = "mlflow.parentRunId"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"

_RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
# A trial's epoch metrics are written at most every FLUSH_SECONDS (and when FLUSH_METRICS
# are waiting, and at trial end): see Tracker.epoch_ended.
FLUSH_SECONDS = 5.0
FLUSH_METRICS = 500


def check_tracking(uri: str) -> None:
    """Fails fast, with one line, when an MLflow tracking server cannot be reached."""
    import os
    import urllib.request

    from search.errors import StorageError
    from search.storage import mask_password

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
            response.read()
    except Exception as e:  # noqa: BLE001 - any failure means unreachable
        reason = getattr(e, "reason", e)
        raise StorageError(
            f"Cannot reach the MLflow tracking server {mask_password(uri)}: {reason}; "
            "start it (see README, 'Many machines') or pass another --tracking-uri."
        ) from None


def _client(tracking_uri: str, registry: bool = False):
    """An ``MlflowClient`` on ``tracking_uri`` (and its model registry with ``registry``).

    On a database store MLflow creates its tables on first use; two processes doing that at
    once on a new store collided (two `search run`s started together on a fresh home: one
    of the two failed in 8 of 8 pairs). On the databases :func:`search.storage.schema_lock`
    locks, the store is opened here under that lock. A local SQLite store is also put in
    WAL mode.
    """
    from mlflow import MlflowClient

    from search.storage import schema_lock, sqlite_fast

    kwargs = {"registry_uri": tracking_uri} if registry else {}
    if not tracking_uri.startswith(("sqlite:///", "postgresql")):
        return MlflowClient(tracking_uri=tracking_uri, **kwargs)
    if tracking_uri.startswith("sqlite:///"):
        # WAL: several local workers write here; before MLflow opens its first connection
        sqlite_fast(tracking_uri.removeprefix("sqlite:///"))
    with schema_lock(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri, **kwargs)  # opens the store
        client.search_experiments(max_results=1)  # and its tables exist, whatever MLflow opens lazily
    return client


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
        self.experiment_id = self._experiment(tracking_uri, study_name, artifact_root)
        self.parent_run_id: str | None = None
        self.artifact_errors = 0
        self._runs: dict[str, str] = {}  # KT trial id -> MLflow run id of its current attempt
        self._logged: dict[str, set[str]] = {}  # run id -> names of params logged
        self._buffered: dict[str, list[Any]] = {}  # run id -> metrics not written yet (see epoch_ended)
        self._tags: dict[str, dict[str, str]] = {}  # run id -> hook tags not written yet (see set_trial_tags)
        self._flushed: dict[str, float] = {}  # run id -> time.monotonic() of its last metrics write

    def _experiment(self, tracking_uri: str, study_name: str, artifact_root: str | None) -> str:
        """The id of the study's experiment, created if missing."""
        from mlflow.exceptions import MlflowException

        experiment = self.client.get_experiment_by_name(study_name)
        if experiment is not None:
            return experiment.experiment_id
        # A tracking server stores (or proxies) artifacts itself, so workers on other
        # machines can log them; a local store keeps them under the home folder.
        remote = tracking_uri.startswith(("http://", "https://"))
        location = f"{artifact_root.rstrip('/')}/{study_name}" if artifact_root and not remote else None
        try:
            # MLflow 3's UI opens an experiment in its GenAI view unless told it holds model training runs.
            return self.client.create_experiment(
                study_name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: "custom_model_development"}
            )
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(study_name).experiment_id  # another process created it since

    # -- the parent run ------------------------------------------------------------------
    def start_parent(self, params: dict[str, Any], run_name: str | None = None, role: str = "study") -> str:
        """Starts the parent run of one ``search run`` invocation (or ``search baseline``: role) and logs its settings."""
        from mlflow.entities import Param

        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name or f"{self.study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
            tags={TAG_STUDY: self.study_name, TAG_ROLE: role},
        )
        self.parent_run_id = run.info.run_id
        safe = [Param(k, mask_password(str(v))[:6000]) for k, v in sorted(params.items())]
        self.client.log_batch(self.parent_run_id, params=safe)
        return self.parent_run_id

    def join_parent(self, run_id: str) -> None:
        """Nests this process's trial runs under an existing parent run (workers)."""
        self.parent_run_id = run_id

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

    # -- baselines (search baseline) -----------------------------------------------------
    def latest_parent_run(self) -> Any | None:
        """The most recent ``search run`` parent run of this study (None if there is none)."""
        runs = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{TAG_ROLE}` = 'study'",
            order_by=["attributes.start_time DESC"], max_results=1,
        )
        return runs[0] if runs else None

    def log_baseline(self, parent_run_id: str, name: str, metrics: dict[str, float], *, run_name: str,
                     protocol: str, params: str, prefix: str, folds: dict[str, list[float]] | None = None) -> str:
        """Logs one baseline as a finished child run of ``parent_run_id``, and its metrics on that parent.

        ``folds`` (metric -> one value per fold) are logged with the fold as the step.
        """
        from mlflow.entities import Metric

        tags = {TAG_STUDY: self.study_name, TAG_ROLE: "baseline", TAG_BASELINE: name,
                TAG_PROTOCOL: protocol, TAG_BASELINE_PARAMS: params[:5000], PARENT_TAG: parent_run_id}
        run_id = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags).info.run_id
        ts = _now_ms()
        logged = [Metric(k, float(v), ts, 0) for k, v in metrics.items() if _finite(v)]
        for key, values in (folds or {}).items():
            logged += [Metric(f"{key}_fold", float(v), ts, step) for step, v in enumerate(values) if _finite(v)]
        self.client.log_batch(run_id, metrics=logged)
        self.client.set_terminated(run_id, status="FINISHED")
        on_parent = [Metric(f"{prefix}{k}", float(v), ts, 0) for k, v in metrics.items()
                     if _finite(v) and not k.startswith("best_")]
        self.client.log_batch(parent_run_id, metrics=on_parent)
        return run_id

    def log_child_run(self, *, run_name: str, params: dict[str, Any], metrics: dict[str, float],
                      series: dict[str, list[tuple[int, float]]] | None = None, role: str = "child") -> str:
        """Logs a finished child run of the parent run: params, metrics, and ``series`` (key -> (step, value))."""
        from mlflow.entities import Metric, Param

        tags = {TAG_STUDY: self.study_name, TAG_ROLE: role}
        if self.parent_run_id:
            tags[PARENT_TAG] = self.parent_run_id
        run_id = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags).info.run_id
        ts = _now_ms()
        logged = [Metric(k, float(v), ts, 0) for k, v in metrics.items() if _finite(v)]
        for key, points in (series or {}).items():
            logged += [Metric(key, float(v), ts, int(step)) for step, v in points if _finite(v)]
        safe = [Param(k, mask_password(str(v))[:6000]) for k, v in sorted(params.items())]
        self.client.log_batch(run_id, metrics=logged, params=safe)
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    # -- trial runs (TrialListener) ------------------------------------------------------
    def trial_started(self, oracle: Any, trial: Any, optuna_trial: Any) -> None:
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
        buffered = self._buffered.setdefault(run_id, [])
        buffered.extend(Metric(k, float(v), ts, step) for k, v in logs.items())
        # One write per FLUSH_SECONDS, not per epoch: an MLflow write at the end of an epoch
        # costs ~10 ms (SQLite store, 2 cores), 5% of a 0.2 s epoch, and every 1 s it still
        # cost ~1 ms an epoch of ~60 ms. The first epoch goes at once (the run shows its
        # curves from the start); the rest by trial end at the latest.
        now = time.monotonic()
        if step == 0 or now - self._flushed.get(run_id, 0.0) >= FLUSH_SECONDS or len(buffered) >= FLUSH_METRICS:
            self._write(run_id)
            self._flushed[run_id] = now

    def trial_ended(
        self, oracle: Any, trial: Any, number: int, state: Any, value: float | None, reason: str | None
    ) -> None:
        from mlflow.entities import Metric

        run_id = self._runs.pop(trial.trial_id, None)
        if run_id is None:
            return
        self._flushed.pop(run_id, None)
        self._log_params(run_id, trial.hyperparameters.values)  # those first declared in fit()
        self._logged.pop(run_id, None)
        name = getattr(state, "name", str(state))
        tags = {TAG_STATE: name}
        if name == "FAIL" and reason:
            tags[TAG_FAIL_REASON] = reason[:5000]
        if name == "PRUNED" and reason:
            tags[TAG_PRUNED_BY] = reason
        metrics = []
        if value is not None and _finite(value):
            metrics.append(Metric(f"best_{oracle.objective.name}", float(value), _now_ms(), 0))
        self._write(run_id, metrics, tags)
        self.client.set_terminated(run_id, status=_RUN_STATUS.get(name, "FAILED"))

    def trial_lost(self, oracle: Any, frozen_trial: Any, reason: str) -> None:
        """Closes the MLflow run of a trial whose process died (it would stay RUNNING)."""
        run_id = frozen_trial.user_attrs.get("mlflow_run_id")
        if run_id:
            self.close_run(run_id, "FAILED", reason)

    def close_run(self, run_id: str, status: str, reason: str) -> bool:
        """Ends run ``run_id`` with ``status`` if it is still RUNNING; True if it was."""
        if self.client.get_run(run_id).info.status != "RUNNING":
            return False
        self._flushed.pop(run_id, None)
        self._write(run_id, tags={TAG_STATE: "FAIL", TAG_FAIL_REASON: reason})
        self.client.set_terminated(run_id, status=status)
        return True

    def trial_run_id(self, trial_id: str) -> str | None:
        """The MLflow run id of the running attempt of KerasTuner trial ``trial_id``."""
        return self._runs.get(trial_id)

    def log_trial_metrics(self, trial_id: str, metrics: dict[str, float], step: int = 0) -> None:
        """Logs extra metrics on the trial's run, with its epoch metrics (or when it ends).

        Hooks log every epoch; they join the epoch metrics' writes (at most one every
        ``FLUSH_SECONDS``, see :meth:`epoch_ended`) instead of writing on their own, which
        cost 0.3 s per 4-epoch trial on 2 cores (SQLite store). A run ended otherwise (by
        ``close_run`` or ``close_open_runs``) still gets them.
        """
        from mlflow.entities import Metric

        run_id = self._runs.get(trial_id)
        if run_id and metrics:
            ts = _now_ms()
            self._buffered.setdefault(run_id, []).extend(Metric(k, float(v), ts, step) for k, v in metrics.items())

    def set_trial_tags(self, trial_id: str, tags: dict[str, str]) -> None:
        """Sets tags on the trial's run, with its next metrics write (or when it ends).

        Like hook metrics (see :meth:`log_trial_metrics`), hook tags join the epoch
        metrics' writes instead of writing on their own: ~7 ms a write (SQLite store,
        2 cores), two or three a trial. The gradient audit's tags, set before the first
        epoch, go with that epoch's metrics, which are written at once.
        """
        run_id = self._runs.get(trial_id)
        if run_id and tags:
            self._tags.setdefault(run_id, {}).update((k, str(v)[:5000]) for k, v in tags.items())

    def _write(self, run_id: str, metrics: Sequence[Any] = (), tags: dict[str, str] | None = None) -> None:
        """Writes the run's buffered metrics and tags, then ``metrics`` and ``tags`` (which
        win over a buffered tag of the same key), in as few batches as MLflow accepts."""
        from mlflow.entities import RunTag
        from mlflow.utils.validation import MAX_ENTITIES_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

        pending = {**self._tags.pop(run_id, {}), **(tags or {})}
        run_tags = [RunTag(k, v) for k, v in pending.items()]
        values = [*self._buffered.pop(run_id, ()), *metrics]
        while run_tags or values:
            batch_tags, run_tags = run_tags[:MAX_PARAMS_TAGS_PER_BATCH], run_tags[MAX_PARAMS_TAGS_PER_BATCH:]
            room = MAX_ENTITIES_PER_BATCH - len(batch_tags)
            batch_values, values = values[:room], values[room:]
            self.client.log_batch(run_id, metrics=batch_values, tags=batch_tags)

    def log_trial_artifact(self, trial_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Logs a file or a folder on the trial's run."""
        run_id = self._runs.get(trial_id)
        if run_id:
            self._log_artifact(run_id, local_path, artifact_path)

    def log_parent_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        """Logs a file or a folder on the parent (study) run."""
        if self.parent_run_id:
            self._log_artifact(self.parent_run_id, local_path, artifact_path)

    def set_parent_tags(self, tags: dict[str, str]) -> None:
        """Sets tags on the parent (study) run."""
        from mlflow.entities import RunTag

        if self.parent_run_id and tags:
            self.client.log_batch(self.parent_run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def _log_artifact(self, run_id: str, local_path: str, artifact_path: str | None) -> bool:
        """Logs an artifact; a full disk or an unreachable store is reported, not raised.

        A trial must not be lost because a picture could not be stored: the failure is
        recorded as the run's ``search.artifact_error`` tag and printed once.
        """
        import sys
        from pathlib import Path

        from mlflow.exceptions import MlflowException

        try:
            if Path(local_path).is_dir():
                self.client.log_artifacts(run_id, local_path, artifact_path)
            else:
                self.client.log_artifact(run_id, local_path, artifact_path)
            return True
        except (OSError, MlflowException) as e:
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
            self.artifact_errors += 1
            if self.artifact_errors == 1:
                print(f"warning: could not store artifact {Path(local_path).name}: {reason}", file=sys.stderr)
            try:
                self.client.set_tag(run_id, TAG_ARTIFACT_ERROR, reason)
            except Exception:  # noqa: BLE001 - the tag is a courtesy
                pass
            return False

    def close_open_runs(self, status: str = "KILLED", reason: str = "interrupted") -> None:
        """Ends every trial run still open (on interrupt or crash), then nothing is RUNNING."""
        for run_id in self._runs.values():
            self._write(run_id, tags={TAG_STATE: "FAIL", TAG_FAIL_REASON: reason})
            self.client.set_terminated(run_id, status=status)
        self._runs.clear()
        self._flushed.clear()


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


class ModelStore:
    """What ``search export`` reads from and writes to MLflow: trial artifacts, models, the registry.

    Args:
        tracking_uri: MLflow tracking URI; the model registry lives in the same store.
    """

    def __init__(self, tracking_uri: str) -> None:
        import os

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars on the CLI's stderr
        self.tracking_uri = tracking_uri
        self.client = _client(tracking_uri, registry=True)

    def download_artifacts(self, run_id: str, path: str, dst: str) -> str | None:
        """Downloads artifact folder ``path`` of run ``run_id`` into ``dst``; None when absent."""
        from mlflow.exceptions import MlflowException

        try:
            if not self.client.list_artifacts(run_id, path):
                return None
            return self.client.download_artifacts(run_id, path, dst)
        except (MlflowException, OSError):
            return None

    def parent_params(self, run_id: str) -> dict[str, str]:
        """Params of the parent (study) run of trial run ``run_id`` ({} when there is none)."""
        from mlflow.exceptions import MlflowException

        try:
            parent = self.client.get_run(run_id).data.tags.get(PARENT_TAG)
            return dict(self.client.get_run(parent).data.params) if parent else {}
        except MlflowException:
            return {}

    def log_pyfunc(self, run_id: str, name: str, save: Any, tags: dict[str, str] | None = None) -> tuple[str, str]:
        """Logs an MLflow model on run ``run_id`` (a ``LoggedModel`` of the run's experiment).

        ``save(path, mlflow_model)`` writes the model folder (``mlflow.pyfunc.save_model``).
        The run keeps its status: MLflow's ``log_model`` would need the run active again.

        Returns:
            ``(model_id, model_uri)``.
        """
        import tempfile
        from pathlib import Path

        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model

        run = self.client.get_run(run_id)
        logged = self.client.create_logged_model(
            run.info.experiment_id, name=name, source_run_id=run_id, tags=tags,
            params={k: v[:6000] for k, v in run.data.params.items()}, model_type="keras",
        )
        try:
            with tempfile.TemporaryDirectory(prefix="search-model-") as tmp:
                local = str(Path(tmp) / "model")
                save(local, Model(artifact_path=logged.artifact_location, run_id=run_id,
                                  model_uuid=logged.model_id, model_id=logged.model_id))
                self.client.log_model_artifacts(logged.model_id, local)
            self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
            self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        except BaseException:
            self.delete_model(logged.model_id)
            raise
        return logged.model_id, f"models:/{logged.model_id}"

    def download_model(self, model_id: str, dst: str) -> str:
        """Downloads logged model ``model_id``'s folder into ``dst``."""
        import mlflow.artifacts

        location = self.client.get_logged_model(model_id).artifact_location
        return mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=dst)

    def log_model_file(self, model_id: str, local_path: str) -> None:
        """Adds a file to a logged model's folder (the export manifest)."""
        self.client.log_model_artifact(model_id, local_path)

    def delete_model(self, model_id: str) -> None:
        """Deletes a logged model (an export that failed verification)."""
        from mlflow.entities import LoggedModelStatus
        from mlflow.exceptions import MlflowException

        try:
            self.client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
            self.client.delete_logged_model(model_id)
        except MlflowException:
            pass

    def register(self, model_id: str, run_id: str, name: str, alias: str) -> str:
        """Registers logged model ``model_id`` as a new version of ``name`` and points ``alias`` at it.

        Returns:
            The version number.
        """
        from mlflow.exceptions import MlflowException

        import mlflow

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)
        # The SQL registry resolves a models:/ source with a client on the *global* tracking URI
        # (a TODO in mlflow/store/model_registry/sqlalchemy_store.py); point it here meanwhile.
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            version = self.client.create_model_version(name, f"models:/{model_id}", run_id=run_id, model_id=model_id)
        finally:
            mlflow.set_tracking_uri(previous)
        self.client.set_registered_model_alias(name, alias, version.version)
        return str(version.version)
