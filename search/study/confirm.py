"""``search confirm STUDY``: the best trials retrained with fresh seeds, to see which is truly best.

Which trials: the ``--top K`` COMPLETE, feasible trials by value (with several objectives, the
Pareto front, ``study.best_trials``), or the ``--trials`` named. Each is trained again ``--seeds S``
times, with ``--cv`` on every fold of the space's ``fold`` setting, for the study's epochs through
the space's own ``fit``, from its recorded configuration.

Seeds: retrain s (0, 1, ...) of a trial trains with ``keras.utils.set_random_seed(study seed +
1000 · (s + 1) + KerasTuner trial id)``: fresh (a study's own trials train with ``seed + id``),
different per trial, and the same every time, so a resumed run and one spread over ``--workers``
train the same retrains (with the same values when each process has as many TensorFlow threads: on
one thread and on two, reductions may differ in the last bits, which training can grow). Only the
training seed is fresh: the data are ``load_data`` with the study's seed and settings, so every
retrain of a trial sees the split the search saw; ``--cv`` varies the split over the folds
(``S × folds`` retrains a trial, all of them in its figures).

What is compared: the objective at the retrain's best epoch, the value the search recorded for a
trial, so the difference to the search value is the optimism of picking the best trials; the
final epoch's value is shown beside it. The statistics (t interval, bootstrap P(best), Welch's
t-test for the verdict) are :mod:`search.study.confirm_stats`'.

Records: a parent run tagged ``search.role=confirm`` (the same one when the same request
resumes), one finished child run per retrain, one study attribute per finished retrain (what a
resume skips) and the summary as the study attribute ``confirmed`` (:mod:`search.records.confirmed`).

Time: :mod:`search.study.confirm_pool` (``--workers``, the recorder thread, Ctrl-C) and
:mod:`search.study.confirm_train` (a lean retrain) keep it near the bare retrains' own
(``tests/perf/confirm_overhead.py``). A retrain is identified by trial, seed and fold: one already
recorded is never trained again, so Ctrl-C keeps what finished and the same command resumes.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search import storage as storage_mod
from search.errors import Interrupted, NoCompletedTrialsError, UsageError
from search.records import keys
from search.records.confirmed import retrain_key, retrains
from search.study.confirm_train import FOLD_SETTING, Job, Task

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from search.study.confirm_pool import RetrainPool
    from search.study.confirm_result import ConfirmResult
    from search.tracking.tracker import Tracker

DEFAULT_TOP = 5
DEFAULT_SEEDS = 5
SEED_STRIDE = 1000  # retrain s of a trial: study seed + SEED_STRIDE * (s + 1) + its KerasTuner trial id


def check_options(top: int | None, seeds: int, trials: str | None, workers: int) -> list[int] | None:
    """The option checks that need no store; returns the ``--trials`` numbers (None without)."""
    for name, value in (("--top", top), ("--seeds", seeds), ("--workers", workers)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value}.")
    if trials is None:
        return None
    if top is not None:
        raise UsageError(f"--top {top} and --trials {trials} exclude each other; pass one.")
    try:
        numbers = [int(part) for part in trials.split(",")]
    except ValueError:
        raise UsageError(f"Invalid --trials {trials!r}; expected trial numbers such as 3,7,12.") from None
    return list(dict.fromkeys(numbers))


def select_trials(study: optuna.Study, top: int | None, numbers: list[int] | None) -> list[FrozenTrial]:
    """The trials to confirm: ``numbers``, else the Pareto front (several objectives), else the ``top`` best."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE and keys.is_feasible(t)]
    if not done:
        raise NoCompletedTrialsError(f"Study {study.study_name!r} has no completed trial yet.")
    if numbers is not None:
        by_number = {t.number: t for t in trials}
        completed = ", ".join(str(t.number) for t in done)
        for n in numbers:
            if n not in by_number or by_number[n].state != TrialState.COMPLETE:
                what = "no such trial" if n not in by_number else f"trial {n} is {by_number[n].state.name}"
                raise UsageError(f"Invalid --trials {n}: {what} in study {study.study_name!r}; only COMPLETE "
                                 f"trials can be confirmed: {completed}.")
        return [by_number[n] for n in numbers]
    if len(study.directions) > 1:
        return sorted(study.best_trials, key=lambda t: t.number)
    finite = [t for t in done if t.value is not None and math.isfinite(t.value)]
    sign = -1.0 if keys.study_objectives(study)[0][1] == "max" else 1.0
    return sorted(finite, key=lambda t: (sign * t.value, t.number))[:top or DEFAULT_TOP]


def retrain_seed(study_seed: int, kt_trial_id: str, s: int) -> int:
    """The training seed of retrain ``s`` (0, 1, ...) of a trial (see the module's docstring)."""
    return study_seed + SEED_STRIDE * (s + 1) + int(kt_trial_id)


def _check_cv(study: optuna.Study, cv: bool) -> None:
    """``--cv`` needs a ``fold`` setting, which the study's stored settings hold when its space has one."""
    if cv and FOLD_SETTING not in (study.user_attrs.get(keys.STUDY_SETTINGS) or {}):
        name = study.user_attrs.get(keys.STUDY_SPACE, study.study_name)
        raise UsageError(f"--cv needs a space with a {FOLD_SETTING!r} setting; space {name!r} has none.")


@dataclass(frozen=True)
class Retrains:
    """What one confirmation trains: the job they share, every retrain, and those not recorded yet."""

    job: Job
    tasks: list[Task]
    todo: list[Task]
    folds: list[Any] | None  # --cv: the space's folds
    direction: str


def plan_retrains(study: optuna.Study, chosen: list[FrozenTrial], seeds: int, cv: bool) -> Retrains:
    """The retrains of ``chosen``: seed-major (an interrupted run has every trial's first seeds), the
    space loaded (not TensorFlow) for its epochs and folds."""
    from search.study.plan import space_for_study

    attrs = study.user_attrs
    space = space_for_study(attrs)
    folds = list(space.settings[FOLD_SETTING]) if cv else None
    objective, direction = keys.study_objectives(study)[0]
    seed = int(attrs.get(keys.STUDY_SEED) or 0)
    settings = dict(attrs.get(keys.STUDY_SETTINGS) or {})
    job = Job(str(space.path), settings, int(attrs.get(keys.STUDY_EPOCHS) or space.epochs), seed, objective)
    tasks = [Task(t.number, keys.values_of(t), retrain_seed(seed, _kt_id(t), s), fold)
             for s in range(seeds) for fold in (folds or [settings.get(FOLD_SETTING)]) for t in chosen]
    done = retrains(attrs)
    todo = [task for task in tasks if retrain_key(task.number, task.seed, task.fold) not in done]
    return Retrains(job, tasks, todo, folds, direction)


def confirm(study_name: str, *, top: int | None = None, seeds: int = DEFAULT_SEEDS, cv: bool = False,
            trials: str | None = None, workers: int = 1, home: str | None = None, storage: str | None = None,
            tracking_uri: str | None = None) -> ConfirmResult:
    """Retrains the chosen trials of ``study_name`` (see the module docstring), records and compares them.

    ``workers``: processes in all, this one included, never more than there are retrains to train.

    Raises:
        UsageError, StudyNotFoundError, NoCompletedTrialsError: bad input, before anything is written.
        Interrupted: Ctrl-C; what finished is recorded and the same command resumes.
    """
    from search.records.studies import open_study

    numbers = check_options(top, seeds, trials, workers)
    loc = storage_mod.resolve(home, storage, tracking_uri)
    study = open_study(study_name, loc)
    chosen = select_trials(study, top, numbers)
    _check_cv(study, cv)
    plan = plan_retrains(study, chosen, seeds, cv)
    workers = min(workers, max(1, len(plan.todo)))
    pool = None
    if workers > 1:
        from search.study.confirm_pool import RetrainPool

        pool = RetrainPool(workers)  # they import TensorFlow while this process does
    try:
        return _confirm(study, loc, chosen, seeds, plan, workers, pool)
    finally:
        if pool is not None:
            pool.stop()


def _confirm(study: optuna.Study, loc: storage_mod.Location, chosen: list[FrozenTrial], seeds: int, plan: Retrains,
             workers: int, pool: RetrainPool | None) -> ConfirmResult:
    from search._quiet import quiet_imports
    from search.study.confirm_result import summarize
    from search.study.workers import limit_threads

    quiet_imports()
    if workers > 1:
        limit_threads(workers)
    job, folds, numbers = plan.job, plan.folds, ",".join(str(t.number) for t in chosen)
    params = {keys.PARAM_STUDY: study.study_name, keys.PARAM_TRIALS: numbers, "seeds": seeds, "cv": bool(folds),
              "folds": ",".join(map(str, folds)) if folds else "-", keys.STUDY_EPOCHS: job.epochs,
              keys.STUDY_OBJECTIVE: job.objective, keys.STUDY_SEED: job.data_seed, keys.PARAM_WORKERS: workers}
    request = f"trials={numbers} seeds={seeds} cv={bool(folds)}"
    with _parent_run(study, loc, request, params) as (tracker, run_id, summary):
        _train_and_record(study, tracker, job, plan.direction, chosen, plan.todo, len(plan.tasks), pool)
        result = summarize(study, chosen, plan.tasks, job.objective, plan.direction, seeds, folds, job.epochs)
        study.set_user_attr(keys.STUDY_CONFIRMED, result.stored())
        summary.update(result.metrics())
    result.trained, result.parent_run_id = len(plan.todo), run_id
    result.tracking_uri = storage_mod.mask_password(loc.tracking_uri)
    return result


def _kt_id(t: FrozenTrial) -> str:
    return str(t.user_attrs.get(keys.KT_TRIAL_ID, t.number))


@contextlib.contextmanager
def _parent_run(study: optuna.Study, loc: storage_mod.Location, request: str,
                params: dict[str, Any]) -> Iterator[tuple[Tracker, str, dict[str, float]]]:
    """The confirmation's parent run, RUNNING while the block runs: the run of an earlier invocation of
    the same ``request`` (the same trials, seeds and folds), else a new one. Ended FINISHED with the
    summary the block fills in, KILLED on Ctrl-C, FAILED on an error."""
    from search.tracking.tracker import Tracker

    tracker = Tracker(loc.tracking_uri, study.study_name, loc.artifact_root)
    runs = dict(study.user_attrs.get(keys.STUDY_CONFIRM_RUNS) or {})
    if not (request in runs and tracker.reopen_parent(runs[request])):
        runs[request] = tracker.start_parent(params, run_name=f"confirm-{time.strftime('%Y%m%d-%H%M%S')}",
                                             role=keys.ROLE_CONFIRM)
        study.set_user_attr(keys.STUDY_CONFIRM_RUNS, runs)
    summary: dict[str, float] = {}
    status = "FAILED"
    try:
        yield tracker, runs[request], summary
        status = "FINISHED"
    except (Interrupted, KeyboardInterrupt):
        status = "KILLED"
        raise
    finally:
        tracker.end_parent(status, summary if status == "FINISHED" else None)


def _train_and_record(study: optuna.Study, tracker: Tracker, job: Job, direction: str, chosen: list[FrozenTrial],
                      todo: list[Task], total: int, pool: RetrainPool | None) -> None:
    """Trains ``todo`` here and in ``pool``, each retrain recorded as it finishes; on Ctrl-C, the
    workers are stopped and what finished is recorded before :class:`Interrupted` is raised."""
    from search.study.confirm_pool import ConfirmProgress, Recorder, train_all

    recorded = [total - len(todo)]
    with ConfirmProgress(total, recorded[0], job.objective) as display:
        def on_recorded(outcome: Any, best: float) -> None:
            recorded[0] += 1
            display.recorded(outcome, best)

        recorder = Recorder(study, tracker, job, direction, {t.number: keys.values_of(t) for t in chosen},
                            on_recorded)
        try:
            train_all(job, todo, recorder, pool)
        except KeyboardInterrupt:
            stopped = True
        else:
            stopped = False
        finally:
            if pool is not None:
                pool.stop()
            recorder.close()
    if stopped:
        raise Interrupted(f"interrupted; {recorded[0]} of {total} retrains are recorded and no run is left RUNNING; "
                          "run the same command again to resume.")
