"""The trial loop of one process, shared by ``search run``, ``search worker`` and ``--workers``.

:func:`execute` assembles a run: the MLflow tracker and its parent run, the oracle with its
listeners (tracking, progress, study plots), the tuner with its trial hooks (the space's
own, the trial doctor's, the pictures, the export's checkpoint), heartbeats and the
KerasTuner folder; it runs trials until the budget, the local limit or the timeout, and
closes everything it opened, whatever happens: no Optuna trial and no MLflow run is left
RUNNING.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

from search.errors import StudyFailedError
from search.records import keys
from search.records.summary import StudyResult, count_used, summarize
from search.study.plan import worker_id
from search.study.progress import StudyProgress
from search.tracking.tracker import Tracker

if TYPE_CHECKING:
    import optuna

    from search.engine.heartbeat import Heartbeat
    from search.engine.hooks import TrialHook, TrialListener
    from search.engine.oracle import OptunaOracle
    from search.engine.tuner import Tuner
    from search.space import Space
    from search.storage import Location
    from search.study.plan import Plan

WORKERS_DIR_SUFFIX = ".workers"
TARGET_REACHED = "target reached"  # the parent run's search.stopped once a trial reached --target


def default_trial_hooks(space: Space) -> list[TrialHook]:
    """The hooks ``search run`` attaches to every trial of ``space``, in the order they run:
    the space's own, the gradient audit, divergence/jump events, pictures, then the numerics
    sentinel (the others see a non-finite epoch before it fails the trial), the cost metrics
    (measured once training ends), and last the export's best checkpoint and probe batch."""
    from search.doctor import GradientAuditHook, NumericsSentinelHook, TrainingEventsHook
    from search.engine.costs import CostsHook
    from search.export.hook import BestCheckpointHook
    from search.plots import TrialPlotsHook

    return [*space.trial_hooks(), GradientAuditHook(), TrainingEventsHook(), TrialPlotsHook(),
            NumericsSentinelHook(), CostsHook(), BestCheckpointHook()]


def default_listeners(study: optuna.Study, tracker: Tracker, study_plots: str = "all") -> list[TrialListener]:
    """The listeners ``search run`` attaches to the oracle besides tracking and progress.

    ``study_plots``: "all" (redrawn during the study and after its last trial), "periodic"
    (not after the last trial: the caller draws them) or "none".
    """
    from search.plots import StudyPlots

    return [] if study_plots == "none" else [StudyPlots(study, tracker, final=study_plots == "all")]


def kt_project(loc: Location, study: str, worker: bool) -> tuple[str, str, IO[str] | None]:
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


def end_parent(tracker: Tracker, study: optuna.Study, loc: Location, objective: str, status: str,
               extra: dict[str, float] | None = None) -> StudyResult:
    """Summarizes the study and ends the invocation's parent run with that summary and ``status``
    (tagged ``search.stopped = target reached`` once a trial reached the study's target)."""
    result = summarize(study, tracker.parent_run_id, loc)
    if result.several:  # the front as it is now, whichever process changed it last
        tracker.mark_front(study, result.objectives, every=True)
    if result.target_reached:
        tracker.set_parent_tags({keys.TAG_STOPPED: TARGET_REACHED})
    tracker.end_parent(status, {**result.metrics(objective), **(extra or {})})
    link = tracker.save_trials_view(objective, result.direction, keys.param_names(study.get_trials(deepcopy=False)))
    return replace(result, trials_link=link)


@dataclass
class _Ending:
    """How the search ended: the parent run's status, the reason open trials fail with."""

    status: str = "FAILED"
    reason: str = "crashed"
    extra: dict[str, float] = field(default_factory=dict)


def execute(plan: Plan) -> StudyResult:
    """Runs trials until the budget, the local limit or the timeout; closes all it opens."""
    _quiet_kerastuner()
    name = plan.study.study_name
    tracker = _tracker(plan)
    progress = _progress(plan)
    heartbeat = _heartbeat(plan.study)
    directory, project, lock = kt_project(plan.loc, name, plan.worker)
    ending, oracle = _Ending(), None
    try:
        oracle = _oracle(plan, tracker, progress, heartbeat)
        tuner = _tuner(plan, oracle, tracker, directory, project)
        ending.extra = _search(plan, tuner, progress)
        ending.status, ending.reason = "FINISHED", ""
    except KeyboardInterrupt:
        ending.status, ending.reason = "KILLED", "interrupted (Ctrl-C or SIGTERM)"
        raise
    except RuntimeError as e:
        if "consecutive failures" not in str(e):
            raise
        ending.reason = str(e).splitlines()[0]
        raise StudyFailedError(f"Study {name!r} stopped: {ending.reason}") from None
    finally:
        if oracle is not None:
            oracle.abort_running(ending.reason or "interrupted")
        if heartbeat is not None:
            heartbeat.stop()
        if lock is not None:
            lock.close()
        tracker.close_open_runs(status="KILLED" if ending.status == "KILLED" else "FAILED",
                                reason=ending.reason or "interrupted")
        result = _close_parent(plan, tracker, ending)
    return result


def _quiet_kerastuner() -> None:
    if not os.environ.get("SEARCH_DEBUG"):
        # KerasTuner prints every failed trial's traceback while DEBUG is on (its default);
        # the reason is already in the progress line, Optuna and MLflow. No public switch.
        from keras_tuner.src import config as kt_config

        kt_config.DEBUG = False


def _tracker(plan: Plan) -> Tracker:
    """The invocation's tracker, with its parent run started (or a worker's joined)."""
    tracker = Tracker(plan.loc.tracking_uri, plan.study.study_name, plan.loc.artifact_root)
    if plan.join_parent_run:
        tracker.join_parent(plan.join_parent_run)
    else:
        tracker.start_parent(plan.parent_params)
        plan.study.set_user_attr(keys.STUDY_PARENT_RUN_ID, tracker.parent_run_id)
    return tracker


def _progress(plan: Plan) -> StudyProgress | None:
    return StudyProgress(plan.budget, plan.setup.epochs, done=count_used(plan.study)) if plan.progress else None


def _heartbeat(study: optuna.Study) -> Heartbeat | None:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    from search.engine.heartbeat import Heartbeat, intervals

    return Heartbeat(study._storage, intervals()[0]) if is_heartbeat_enabled(study._storage) else None


def _oracle(plan: Plan, tracker: Tracker, progress: StudyProgress | None, heartbeat: Heartbeat | None) -> OptunaOracle:
    import keras_tuner

    from search.engine.oracle import OptunaOracle
    from search.space.sets import fixed_space
    from search.study.devices import device_label

    from search.engine.objectives import parse_constraint

    space, setup = plan.space, plan.setup
    listeners = [tracker, *([progress] if progress else []), *default_listeners(plan.study, tracker, plan.study_plots)]
    objectives = [keras_tuner.Objective(name, direction) for name, direction in space.objectives]
    return OptunaOracle(
        objective=objectives if space.several else objectives[0], max_trials=plan.budget, study=plan.study,
        constraints=[parse_constraint(c) for c in space.constraints],
        hyperparameters=fixed_space(space, setup.settings, setup.fixed),  # conditional --set values stay conditional
        timeout=plan.timeout, listeners=listeners, seed=setup.seed,
        max_consecutive_failed_trials=plan.max_consecutive_failures, heartbeat=heartbeat, stale_trials=plan.stale,
        max_local_trials=plan.max_local_trials, worker_name=worker_id(), target=plan.target, device=device_label(),
    )


def _tuner(plan: Plan, oracle: OptunaOracle, tracker: Tracker, directory: str, project: str) -> Tuner:
    from search.engine import distributions
    from search.engine.samplers import make_sampler
    from search.engine.tuner import Tuner

    tuner = Tuner(
        oracle=oracle, hypermodel=plan.space.hypermodel(), directory=directory, project_name=project,
        overwrite=False, seed=plan.setup.seed, trial_hooks=default_trial_hooks(plan.space), space=plan.space,
        tracker=tracker,
    )
    if plan.sampler == "grid":  # the grid is known once the oracle holds the whole space
        plan.study.sampler = make_sampler("grid", plan.setup.seed, grid=distributions.grid(oracle.hyperparameters))
    return tuner


def _search(plan: Plan, tuner: Tuner, progress: StudyProgress | None) -> dict[str, float]:
    """Runs the tuner's search (under the progress display); returns ``search_seconds``."""
    started = time.monotonic()
    fit_kwargs: dict[str, Any] = {**plan.setup.data.fit_kwargs(), "epochs": plan.setup.epochs, "verbose": 0}
    if progress:
        with progress:
            tuner.search(**fit_kwargs)
    else:
        tuner.search(**fit_kwargs)
    return {"search_seconds": time.monotonic() - started}


def _close_parent(plan: Plan, tracker: Tracker, ending: _Ending) -> StudyResult:
    """Ends the parent run this process started (a worker's belongs to ``search run``)."""
    if plan.join_parent_run:
        return summarize(plan.study, tracker.parent_run_id, plan.loc)
    return end_parent(tracker, plan.study, plan.loc, plan.space.objective, ending.status, ending.extra)
