"""Run trials of one study in this process: the loop shared by ``search run`` and ``search worker``."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search import storage as storage_mod

WORKERS_DIR_SUFFIX = ".workers"


@dataclass
class Plan:
    """Everything one process needs to run trials of a study."""

    study: Any  # optuna.Study, opened with heartbeats
    stale: Any  # search.heartbeat.StaleTrials fed by the storage
    space: Any
    loc: storage_mod.Location
    settings: dict[str, Any]
    fixed: dict[str, Any]
    epochs: int
    budget: int
    data: Any
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    timeout: float | None = None
    max_local_trials: int | None = None
    join_parent_run: str | None = None  # workers nest their trials under the study's parent run
    parent_params: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    max_consecutive_failures: int = 10
    worker: bool = False
    # "all": redrawn while the study runs and after its last trial; "periodic": not after
    # the last (the caller draws them); "none": never (local workers of `run --workers`)
    study_plots: str = "all"


def worker_id() -> str:
    """``host-pid``: names a worker's KerasTuner folder and tags its trials."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _kt_project(loc: storage_mod.Location, study: str, worker: bool) -> tuple[str, str, Any]:
    """KerasTuner ``(directory, project_name, lock)`` for this process.

    ``search run`` keeps one folder per study so a re-run reloads it and retries the
    interrupted trial; it is locked while in use. Workers (and a second concurrent
    ``search run`` of the same study) get a folder of their own, since KerasTuner's
    state is per process.
    """
    loc.kt_dir.mkdir(parents=True, exist_ok=True)
    if not worker:
        lock = open(loc.kt_dir / f"{study}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return str(loc.kt_dir), study, lock
        except BlockingIOError:
            lock.close()
    return str(loc.kt_dir / f"{study}{WORKERS_DIR_SUFFIX}"), worker_id(), None


def execute(plan: Plan) -> Any:
    """Runs trials until the budget, the local limit or the timeout; closes all it opens."""
    import keras_tuner

    from search import distributions
    from search.errors import StudyFailedError
    from search.heartbeat import Heartbeat, intervals
    from search.hooks import default_listeners, default_trial_hooks
    from search.oracle import OptunaOracle
    from search.progress import StudyProgress
    from search.samplers import make_sampler
    from search.sets import fixed_space
    from search.study import count_used, summarize
    from search.tracking import Tracker
    from search.tuner import Tuner

    if not os.environ.get("SEARCH_DEBUG"):
        # KerasTuner prints every failed trial's traceback while DEBUG is on (its default);
        # the reason is already in the progress line, Optuna and MLflow. No public switch.
        from keras_tuner.src import config as kt_config

        kt_config.DEBUG = False
    study, space = plan.study, plan.space
    name = study.study_name
    tracker = Tracker(plan.loc.tracking_uri, name, plan.loc.artifact_root)
    if plan.join_parent_run:
        tracker.join_parent(plan.join_parent_run)
    else:
        tracker.start_parent(plan.parent_params)
        study.set_user_attr("parent_run_id", tracker.parent_run_id)
    progress = StudyProgress(plan.budget, plan.epochs, done=count_used(study)) if plan.progress else None
    hp = fixed_space(space, plan.settings, plan.fixed)  # conditional --set values stay conditional
    heartbeat = Heartbeat(study._storage, intervals()[0]) if _has_heartbeat(study) else None
    directory, project, lock = _kt_project(plan.loc, name, plan.worker)
    status, reason, oracle, extra = "FAILED", "crashed", None, {}
    try:
        oracle = OptunaOracle(
            objective=keras_tuner.Objective(space.objective, space.direction),
            max_trials=plan.budget, study=study, hyperparameters=hp, timeout=plan.timeout,
            listeners=[tracker, *([progress] if progress else []), *default_listeners(study, tracker, plan.study_plots)],
            seed=plan.seed, max_consecutive_failed_trials=plan.max_consecutive_failures,
            heartbeat=heartbeat, stale_trials=plan.stale, max_local_trials=plan.max_local_trials,
            worker_name=worker_id(),
        )
        tuner = Tuner(
            oracle=oracle, hypermodel=space.hypermodel(), directory=directory,
            project_name=project, overwrite=False, seed=plan.seed,
            trial_hooks=default_trial_hooks(space), space=space, tracker=tracker,
        )
        if plan.sampler == "grid":
            study.sampler = make_sampler("grid", plan.seed, grid=distributions.grid(oracle.hyperparameters))
        started = time.monotonic()
        if progress:
            with progress:
                tuner.search(**plan.data.fit_kwargs(), epochs=plan.epochs, verbose=0)
        else:
            tuner.search(**plan.data.fit_kwargs(), epochs=plan.epochs, verbose=0)
        status, reason = "FINISHED", ""
        extra = {"search_seconds": time.monotonic() - started}
    except KeyboardInterrupt:
        status, reason = "KILLED", "interrupted (Ctrl-C or SIGTERM)"
        raise
    except RuntimeError as e:
        if "consecutive failures" not in str(e):
            raise
        reason = str(e).splitlines()[0]
        raise StudyFailedError(f"Study {name!r} stopped: {reason}") from None
    finally:
        if oracle is not None:
            oracle.abort_running(reason or "interrupted")
        if heartbeat is not None:
            heartbeat.stop()
        if lock is not None:
            lock.close()
        tracker.close_open_runs(status="KILLED" if status == "KILLED" else "FAILED", reason=reason or "interrupted")
        result = summarize(study, tracker.parent_run_id, plan.loc)
        if not plan.join_parent_run:
            summary = {"complete": result.complete, "pruned": result.pruned, "failed": result.failed, **extra}
            if result.best_value is not None:
                summary[f"best_{space.objective}"] = result.best_value
            tracker.end_parent(status, summary)
    return result


def _has_heartbeat(study: Any) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(study._storage)


def space_for_study(attrs: dict[str, Any]) -> Any:
    """The space a study was created with: its file, else the shipped space of that name."""
    from search.errors import SpaceError
    from search.spaces import load_space

    path = attrs.get("space_path")
    if path and Path(path).is_file():
        return load_space(path)
    if attrs.get("space"):
        return load_space(attrs["space"])
    raise SpaceError("The study records no space; it was not created by `search run`.")
