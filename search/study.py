"""``run_study``: create or resume a study and run its trials, closing everything it opens."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from search import storage as storage_mod
from search.config import StudyConfig
from search.errors import StudyFailedError, UsageError

DEFAULT_TRIALS = 10
# Study user attributes written when `search run` creates a study.
STUDY_ATTRS = ("space", "space_path", "space_sha256", "settings", "objective", "direction", "epochs", "max_trials")


@dataclass(frozen=True)
class StudyResult:
    """What a ``search run`` left in the study."""

    study: str
    complete: int
    pruned: int
    failed: int
    running: int
    best_value: float | None
    best_trial: int | None
    best_params: dict[str, Any] | None
    parent_run_id: str | None
    storage: str
    tracking_uri: str


def _create_or_load(config: StudyConfig, space: Any, name: str, loc: Any, settings: dict, epochs: int):
    import optuna

    from search.samplers import make_pruner, make_sampler

    ostorage = storage_mod.open_storage(loc.storage_url)
    direction = "maximize" if space.direction == "max" else "minimize"
    existing = name in {s.study_name for s in optuna.get_all_study_summaries(ostorage, include_best_trial=False)}
    sampler = make_sampler("random" if config.sampler == "grid" else config.sampler, config.seed)
    pruner = make_pruner(config.pruner, epochs)
    if existing:
        study = optuna.load_study(study_name=name, storage=ostorage, sampler=sampler, pruner=pruner)
        _check_resume(study, space, settings, config)
        if study.direction.name.lower() != direction:
            raise UsageError(f"Study {name!r} was created to {study.direction.name.lower()}, not {direction}.")
    else:
        study = optuna.create_study(study_name=name, storage=ostorage, sampler=sampler, pruner=pruner, direction=direction)
        attrs = {
            "space": space.name, "space_path": str(space.path), "space_sha256": space.source_hash,
            "settings": settings, "objective": space.objective, "direction": space.direction,
            "epochs": epochs, "max_trials": config.trials or DEFAULT_TRIALS,
        }
        for key, value in attrs.items():
            study.set_user_attr(key, value)
    if config.trials is not None and study.user_attrs.get("max_trials") != config.trials:
        study.set_user_attr("max_trials", config.trials)
    return study, existing


def _check_resume(study: Any, space: Any, settings: dict, config: StudyConfig) -> None:
    attrs = study.user_attrs
    if attrs.get("space") not in (None, space.name):
        raise UsageError(f"Study {study.study_name!r} belongs to space {attrs['space']!r}, not {space.name!r}.")
    if attrs.get("settings") is not None and attrs["settings"] != settings:
        raise UsageError(
            f"Study {study.study_name!r} was created with settings {attrs['settings']}, not {settings}; "
            "use another --study name for other settings."
        )
    if attrs.get("space_sha256") not in (None, space.source_hash) and not config.allow_space_change:
        raise UsageError(
            f"Space {space.name!r} changed since study {study.study_name!r} was created "
            f"({space.path}); pass --allow-space-change to resume it anyway, or use another --study name."
        )


def _settings_params(config: StudyConfig, space: Any, name: str, loc: Any, settings: dict, fixed: dict, epochs: int, budget: int) -> dict:
    return {
        "study": name, "space": space.name, "space_path": str(space.path), "sampler": config.sampler,
        "pruner": config.pruner, "seed": config.seed, "storage": loc.storage_url,
        "trials": budget, "epochs": epochs, "timeout": config.timeout, "objective": space.objective,
        "direction": space.direction, **{f"setting.{k}": v for k, v in settings.items()},
        **{f"fixed.{k}": v for k, v in fixed.items()},
    }


def run_study(config: StudyConfig) -> StudyResult:
    """Creates (or resumes) the study and runs trials until its budget or timeout.

    Everything is checked before anything is written: a bad space, option, ``--set``
    or data leaves every store untouched. Whatever happens after, no Optuna trial
    and no MLflow run is left RUNNING.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from search.data import load_data
    from search.sets import resolve_sets
    from search.spaces import load_space

    space = load_space(config.space)
    name = config.study or space.name
    loc = storage_mod.resolve(config.home, config.storage, config.tracking_uri)
    settings, fixed = resolve_sets(space, config.sets)
    space = space.with_settings(settings)  # an OBJECTIVE(settings) function resolves here
    epochs = config.epochs or space.epochs
    data = load_data(space, config.seed, settings)

    study, _ = _create_or_load(config, space, name, loc, settings, epochs)
    budget = int(study.user_attrs.get("max_trials", DEFAULT_TRIALS))
    return _search(config, space, study, loc, settings, fixed, epochs, budget, data)


def _search(config, space, study, loc, settings, fixed, epochs, budget, data) -> StudyResult:
    import keras_tuner

    from search import distributions
    from search.hooks import default_listeners, default_trial_hooks
    from search.oracle import OptunaOracle
    from search.progress import StudyProgress
    from search.samplers import make_sampler
    from search.tracking import Tracker
    from search.tuner import Tuner

    name = study.study_name
    tracker = Tracker(loc.tracking_uri, name, loc.artifact_root)
    tracker.start_parent(_settings_params(config, space, name, loc, settings, fixed, epochs, budget))
    progress = StudyProgress(budget, epochs, done=_count_used(study)) if config.progress else None
    hp = keras_tuner.HyperParameters()
    for key, value in {**settings, **fixed}.items():
        hp.Fixed(key, value)
    status, reason = "FAILED", "crashed"
    oracle = None
    try:
        oracle = OptunaOracle(
            objective=keras_tuner.Objective(space.objective, space.direction),
            max_trials=budget, study=study, hyperparameters=hp, timeout=config.timeout,
            listeners=[tracker, *([progress] if progress else []), *default_listeners(study, tracker)],
            seed=config.seed,
            max_consecutive_failed_trials=config.max_consecutive_failures,
        )
        tuner = Tuner(
            oracle=oracle, hypermodel=space.hypermodel(), directory=str(loc.kt_dir),
            project_name=name, overwrite=False, seed=config.seed,
            trial_hooks=default_trial_hooks(space), space=space, tracker=tracker,
        )
        if config.sampler == "grid":
            study.sampler = make_sampler("grid", config.seed, grid=distributions.grid(oracle.hyperparameters))
        started = time.monotonic()
        if progress:
            with progress:
                tuner.search(**data.fit_kwargs(), epochs=epochs, verbose=0)
        else:
            tuner.search(**data.fit_kwargs(), epochs=epochs, verbose=0)
        status, reason = "FINISHED", ""
        tracker_summary = {"search_seconds": time.monotonic() - started}
    except KeyboardInterrupt:
        status, reason = "KILLED", "interrupted (KeyboardInterrupt)"
        raise
    except RuntimeError as e:
        if "consecutive failures" not in str(e):
            raise
        reason = str(e).splitlines()[0]
        raise StudyFailedError(f"Study {name!r} stopped: {reason}") from None
    finally:
        if oracle is not None:
            oracle.abort_running(reason or "interrupted")
        tracker.close_open_runs(status="KILLED" if status == "KILLED" else "FAILED", reason=reason or "interrupted")
        result = summarize(study, tracker.parent_run_id, loc)
        summary = {"complete": result.complete, "pruned": result.pruned, "failed": result.failed}
        if result.best_value is not None:
            summary[f"best_{space.objective}"] = result.best_value
        if status == "FINISHED":
            summary.update(tracker_summary)
        tracker.end_parent(status, summary)
    return result


def _count_used(study: Any) -> int:
    from search.oracle import ATTR_RETRY_OF

    return sum(1 for t in study.get_trials(deepcopy=False) if ATTR_RETRY_OF not in t.user_attrs)


def summarize(study: Any, parent_run_id: str | None, loc: Any) -> StudyResult:
    """Counts the study's trials by state and finds its best completed trial."""
    from optuna.trial import TrialState

    counts = {s: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state] += 1
    best = None
    if counts[TrialState.COMPLETE]:
        best = study.best_trial
    return StudyResult(
        study=study.study_name,
        complete=counts[TrialState.COMPLETE],
        pruned=counts[TrialState.PRUNED],
        failed=counts[TrialState.FAIL],
        running=counts[TrialState.RUNNING],
        best_value=None if best is None else best.value,
        best_trial=None if best is None else best.number,
        best_params=None if best is None else best.user_attrs.get("hp", best.params),
        parent_run_id=parent_run_id,
        storage=storage_mod.mask_password(loc.storage_url),
        tracking_uri=storage_mod.mask_password(loc.tracking_uri),
    )


def result_dict(result: StudyResult) -> dict[str, Any]:
    return asdict(result)
