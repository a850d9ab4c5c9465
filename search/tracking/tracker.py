"""The tracker: a study's invocations and trials as MLflow runs.

Layout: one experiment per study (named after it); one parent run per ``search run``
invocation holding the study settings; one child run per trial (nested under the
parent) with every hyperparameter as a param, every epoch's metrics with their step,
and tags linking the KerasTuner trial id, the Optuna trial number and the final state.
Every run it starts is ended: COMPLETE -> FINISHED, PRUNED -> KILLED, FAIL -> FAILED with
the reason as a tag.

An MLflow write costs more than a short epoch (``tests/perf/README.md``), so a trial's
metrics, and what its hooks log, are written together: the first epoch at once (the run
shows its curves from the start), then at most every :data:`FLUSH_SECONDS`, and all of them
when the trial ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.engine.hooks import TrialListener
from search.records import keys
from search.tracking.client import MAX_TAG_CHARS, as_metrics, as_params, client, now_ms

if TYPE_CHECKING:
    import optuna
    from keras_tuner.engine.trial import Trial
    from mlflow.entities import Metric, Run
    from optuna.trial import FrozenTrial, TrialState

    from search.engine.oracle import OptunaOracle

_RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
FLUSH_SECONDS = 5.0  # a trial's metrics are written at most this often (and when FLUSH_METRICS wait)
FLUSH_METRICS = 500


class Tracker(TrialListener):
    """Logs a study's invocation and its trials to MLflow.

    Args:
        tracking_uri: MLflow tracking URI (``sqlite:///...`` or a server URL).
        study_name: the study, also the experiment name.
        artifact_root: where the experiment keeps artifacts when it is created here.
    """

    def __init__(self, tracking_uri: str, study_name: str, artifact_root: str | None = None) -> None:
        self.client = client(tracking_uri)
        self.tracking_uri = tracking_uri
        self.study_name = study_name
        self.experiment_id = self._experiment(tracking_uri, study_name, artifact_root)
        self.parent_run_id: str | None = None
        self.artifact_errors = 0
        self._runs: dict[str, str] = {}  # KT trial id -> MLflow run id of its current attempt
        self._logged: dict[str, set[str]] = {}  # run id -> names of params logged
        self._buffered: dict[str, list[Metric]] = {}  # run id -> metrics not written yet (see epoch_ended)
        self._tags: dict[str, dict[str, str]] = {}  # run id -> hook tags not written yet (see set_trial_tags)
        self._flushed: dict[str, float] = {}  # run id -> time.monotonic() of its last metrics write
        self._front: dict[int, bool] = {}  # trial number -> on the Pareto front, as last tagged here

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
                study_name, artifact_location=location, tags={keys.TAG_EXPERIMENT_KIND: "custom_model_development"}
            )
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(study_name).experiment_id  # another process created it since

    # -- the parent run ------------------------------------------------------------------
    def start_parent(self, params: dict[str, Any], run_name: str | None = None, role: str = keys.ROLE_STUDY) -> str:
        """Starts the parent run of one ``search run`` invocation (or of ``role``) and logs its settings."""
        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name or f"{self.study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
            tags={keys.TAG_STUDY: self.study_name, keys.TAG_ROLE: role},
        )
        self.parent_run_id = run.info.run_id
        self.client.log_batch(self.parent_run_id, params=as_params(params))
        return self.parent_run_id

    def join_parent(self, run_id: str) -> None:
        """Nests this process's trial runs under an existing parent run (workers)."""
        self.parent_run_id = run_id

    def reopen_parent(self, run_id: str) -> bool:
        """Makes parent run ``run_id`` of this experiment RUNNING again and logs under it (a resumed
        command's); False, and nothing changed, when it is gone."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return False
        if run.info.experiment_id != self.experiment_id or run.info.lifecycle_stage != "active":
            return False
        self.client.update_run(run_id, status="RUNNING")
        self.parent_run_id = run_id
        return True

    def end_parent(self, status: str = "FINISHED", summary: dict[str, float] | None = None) -> None:
        """Logs the study summary on the parent run and ends it with ``status``."""
        if self.parent_run_id is None:
            return
        if summary:
            self.client.log_batch(self.parent_run_id, metrics=as_metrics(summary, now_ms()))
        self.client.set_terminated(self.parent_run_id, status=status)
        self.parent_run_id = None

    def save_trials_view(self, objective: str, direction: str, params: list[str]) -> str:
        """Stores the study's trials view in the UI (:mod:`search.tracking.views`) and returns its link."""
        from search.tracking import views

        views.save_view(self.client, self.experiment_id, objective, direction, params)
        return views.trials_link(self.experiment_id, self.tracking_uri)

    # -- baselines (search baseline) -----------------------------------------------------
    def latest_parent_run(self) -> Run | None:
        """The most recent ``search run`` parent run of this study (None if there is none)."""
        runs = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{keys.TAG_ROLE}` = '{keys.ROLE_STUDY}'",
            order_by=["attributes.start_time DESC"], max_results=1,
        )
        return runs[0] if runs else None

    def log_baseline(self, parent_run_id: str, name: str, metrics: dict[str, float], *, run_name: str,
                     protocol: str, params: str, prefix: str, folds: dict[str, list[float]] | None = None) -> str:
        """Logs one baseline as a finished child run of ``parent_run_id``, and its metrics on that parent.

        ``folds`` (metric -> one value per fold) are logged with the fold as the step.
        """
        tags = {keys.TAG_ROLE: keys.ROLE_BASELINE, keys.TAG_BASELINE: name, keys.TAG_PROTOCOL: protocol,
                keys.TAG_BASELINE_PARAMS: params[:MAX_TAG_CHARS]}
        series = {f"{key}_fold": list(enumerate(values)) for key, values in (folds or {}).items()}
        run_id = self._finished_child(parent_run_id, run_name, tags, metrics, series)
        on_parent = {f"{prefix}{k}": v for k, v in metrics.items() if not k.startswith("best_")}
        self.client.log_batch(parent_run_id, metrics=as_metrics(on_parent, now_ms()))
        return run_id

    def log_child_run(self, *, run_name: str, params: dict[str, Any], metrics: dict[str, float],
                      series: dict[str, list[tuple[int, float]]] | None = None, role: str = keys.ROLE_CHILD,
                      tags: dict[str, str] | None = None) -> str:
        """Logs a finished child run of the parent run: params, metrics, ``series`` (key -> (step, value)), tags."""
        return self._finished_child(self.parent_run_id, run_name, {**(tags or {}), keys.TAG_ROLE: role}, metrics,
                                    series or {}, params)

    def _finished_child(self, parent_run_id: str | None, run_name: str, tags: dict[str, str],
                        metrics: dict[str, float], series: dict[str, list[tuple[int, float]]],
                        params: dict[str, Any] | None = None) -> str:
        """Creates a child run of ``parent_run_id`` with everything logged in one batch, and ends it FINISHED."""
        tags = {keys.TAG_STUDY: self.study_name, **tags}
        if parent_run_id:
            tags[keys.TAG_PARENT_RUN] = parent_run_id
        run_id = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags).info.run_id
        ts = now_ms()
        logged = as_metrics(metrics, ts)
        for key, points in series.items():
            logged += [m for step, v in points for m in as_metrics({key: v}, ts, int(step))]
        self.client.log_batch(run_id, metrics=logged, params=as_params(params or {}))
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    # -- trial runs (TrialListener) ------------------------------------------------------
    def trial_started(self, oracle: OptunaOracle, trial: Trial, optuna_trial: optuna.Trial) -> None:
        number = optuna_trial.number
        tags = {
            keys.TAG_STUDY: self.study_name,
            keys.TAG_ROLE: keys.ROLE_TRIAL,
            keys.TAG_KT_TRIAL: trial.trial_id,
            keys.TAG_OPTUNA_NUMBER: str(number),
        }
        attrs = optuna_trial.user_attrs if hasattr(optuna_trial, "user_attrs") else {}
        if attrs.get(keys.RETRY_OF) is not None:
            tags[keys.TAG_RETRY_OF] = str(attrs[keys.RETRY_OF])
        if attrs.get(keys.DEVICE):
            tags[keys.TAG_DEVICE] = attrs[keys.DEVICE]
        if self.parent_run_id:
            tags[keys.TAG_PARENT_RUN] = self.parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=f"trial-{number:04d}", tags=tags)
        run_id = run.info.run_id
        self._runs[trial.trial_id] = run_id
        self._log_params(run_id, trial.hyperparameters.values)
        optuna_trial.set_user_attr(keys.MLFLOW_RUN_ID, run_id)

    def _log_params(self, run_id: str, values: dict[str, Any]) -> None:
        logged = self._logged.setdefault(run_id, set())
        params = as_params({k: v for k, v in values.items() if k not in logged}, mask=False)
        if params:
            self.client.log_batch(run_id, params=params)
            logged.update(p.key for p in params)

    def epoch_ended(self, oracle: OptunaOracle, trial_id: str, step: int, logs: dict[str, float]) -> None:
        run_id = self._runs.get(trial_id)
        if run_id is None:
            return
        # Non-finite values are logged too: a NaN loss curve is what the user needs to see.
        buffered = self._buffered.setdefault(run_id, [])
        buffered.extend(as_metrics(logs, now_ms(), step, keep_nonfinite=True))
        now = time.monotonic()
        if step == 0 or now - self._flushed.get(run_id, 0.0) >= FLUSH_SECONDS or len(buffered) >= FLUSH_METRICS:
            self._write(run_id)
            self._flushed[run_id] = now

    def trial_ended(
        self, oracle: OptunaOracle, trial: Trial, number: int, state: TrialState, value: float | None,
        reason: str | None,
    ) -> None:
        run_id = self._runs.pop(trial.trial_id, None)
        if run_id is None:
            return
        self._flushed.pop(run_id, None)
        self._log_params(run_id, trial.hyperparameters.values)  # those first declared in fit()
        self._logged.pop(run_id, None)
        name = getattr(state, "name", str(state))
        tags = {keys.TAG_STATE: name}
        if name == "FAIL" and reason:
            tags[keys.TAG_FAIL_REASON] = reason[:MAX_TAG_CHARS]
        if name == "PRUNED" and reason:
            tags[keys.TAG_PRUNED_BY] = reason
        objectives = getattr(oracle, "objectives", None) or [getattr(oracle, "objective", None)]
        values = value if isinstance(value, (list, tuple)) else [value]
        best = {f"best_{o.name}": v for o, v in zip(objectives, values) if v is not None}
        feasible = oracle.feasible(trial.trial_id) if hasattr(oracle, "feasible") else None
        if feasible is not None:
            tags[keys.TAG_FEASIBLE] = str(feasible).lower()
        self._write(run_id, as_metrics(best, now_ms()), tags)
        self.client.set_terminated(run_id, status=_RUN_STATUS.get(name, "FAILED"))
        if len(objectives) > 1 and name == "COMPLETE":
            self.mark_front(oracle.study, [(o.name, o.direction) for o in objectives])

    def mark_front(self, study: optuna.Study, objectives: Sequence[tuple[str, str]], every: bool = False) -> None:
        """Tags the study's trial runs ``search.pareto`` = true on its Pareto front, false off it: those
        whose membership changed since this process last looked, or ``every`` one."""
        from search.records.pareto import finished, front

        trials = study.get_trials(deepcopy=False)
        on = {t.number for t in front(trials, objectives)}
        for t in finished(trials, len(objectives)):
            run_id = t.user_attrs.get(keys.MLFLOW_RUN_ID)
            member = t.number in on
            if run_id and (every or self._front.get(t.number) != member):
                self.client.set_tag(run_id, keys.TAG_PARETO, str(member).lower())
            self._front[t.number] = member

    def trial_lost(self, oracle: OptunaOracle, frozen_trial: FrozenTrial, reason: str) -> None:
        """Closes the MLflow run of a trial whose process died (it would stay RUNNING)."""
        run_id = frozen_trial.user_attrs.get(keys.MLFLOW_RUN_ID)
        if run_id:
            self.close_run(run_id, "FAILED", reason)

    def close_run(self, run_id: str, status: str, reason: str) -> bool:
        """Ends run ``run_id`` with ``status`` if it is still RUNNING; True if it was."""
        if self.client.get_run(run_id).info.status != "RUNNING":
            return False
        self._flushed.pop(run_id, None)
        self._write(run_id, tags={keys.TAG_STATE: "FAIL", keys.TAG_FAIL_REASON: reason})
        self.client.set_terminated(run_id, status=status)
        return True

    def trial_run_id(self, trial_id: str) -> str | None:
        """The MLflow run id of the running attempt of KerasTuner trial ``trial_id``."""
        return self._runs.get(trial_id)

    def log_trial_metrics(self, trial_id: str, metrics: dict[str, float], step: int = 0) -> None:
        """Logs extra metrics on the trial's run, with its epoch metrics (or when it ends).

        Hooks log every epoch; their metrics join the epoch metrics' writes instead of
        writing on their own. A run ended otherwise (by ``close_run`` or ``close_open_runs``)
        still gets them.
        """
        run_id = self._runs.get(trial_id)
        if run_id and metrics:
            self._buffered.setdefault(run_id, []).extend(as_metrics(metrics, now_ms(), step, keep_nonfinite=True))

    def set_trial_tags(self, trial_id: str, tags: dict[str, str]) -> None:
        """Sets tags on the trial's run, with its next metrics write (or when it ends).

        Like hook metrics (see :meth:`log_trial_metrics`), hook tags join the epoch
        metrics' writes instead of writing on their own. The gradient audit's tags, set
        before the first epoch, go with that epoch's metrics, which are written at once.
        """
        run_id = self._runs.get(trial_id)
        if run_id and tags:
            self._tags.setdefault(run_id, {}).update((k, str(v)[:MAX_TAG_CHARS]) for k, v in tags.items())

    def _write(self, run_id: str, metrics: Sequence[Metric] = (), tags: dict[str, str] | None = None) -> None:
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
            self.client.log_batch(self.parent_run_id, tags=[RunTag(k, str(v)[:MAX_TAG_CHARS]) for k, v in tags.items()])

    def _log_artifact(self, run_id: str, local_path: str, artifact_path: str | None) -> bool:
        """Logs an artifact; a full disk or an unreachable store is reported, not raised.

        A trial must not be lost because a picture could not be stored: the failure is
        recorded as the run's ``search.artifact_error`` tag and printed once.
        """
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
                self.client.set_tag(run_id, keys.TAG_ARTIFACT_ERROR, reason)
            except Exception:  # noqa: BLE001 - the tag is a courtesy
                pass
            return False

    def close_open_runs(self, status: str = "KILLED", reason: str = "interrupted") -> None:
        """Ends every trial run still open (on interrupt or crash), then nothing is RUNNING."""
        for run_id in self._runs.values():
            self._write(run_id, tags={keys.TAG_STATE: "FAIL", keys.TAG_FAIL_REASON: reason})
            self.client.set_terminated(run_id, status=status)
        self._runs.clear()
        self._flushed.clear()

