"""``run_study``: create or resume a study and run its trials, closing everything it opens."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from search import storage as storage_mod
from search.config import StudyConfig
from search.errors import UsageError
from search.runner import Plan, execute
from search.tracking import check_tracking

DEFAULT_TRIALS = 10
# Study user attributes written when `search run` creates a study.
STUDY_ATTRS = (
    "space", "space_path", "space_sha256", "space_fingerprint", "settings", "fixed", "objective", "direction",
    "epochs", "max_trials", "sampler", "pruner", "seed", "parent_run_id",
)


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


def open_study_storage(url: str):
    """Opens the storage with heartbeats on (RDB storages) and a stale-trial collector."""
    from search.heartbeat import StaleTrials, intervals

    heartbeat = intervals() if not url.startswith("journal:") else None
    return storage_mod.open_storage(url, heartbeat=heartbeat), StaleTrials()


def _create_or_load(config: StudyConfig, space: Any, name: str, loc: Any, settings: dict, fixed: dict, epochs: int):
    import optuna

    from search.samplers import make_pruner, make_sampler

    ostorage, stale = open_study_storage(loc.storage_url)
    direction = "maximize" if space.direction == "max" else "minimize"
    existing = name in {s.study_name for s in optuna.get_all_study_summaries(ostorage, include_best_trial=False)}
    sampler = make_sampler("random" if config.sampler == "grid" else config.sampler, config.seed)
    pruner = make_pruner(config.pruner, epochs)
    fingerprint = space_fingerprint(space, settings)
    if not existing:
        try:
            study = optuna.create_study(study_name=name, storage=ostorage, sampler=sampler, pruner=pruner, direction=direction)
        except optuna.exceptions.DuplicatedStudyError:  # another process created it since: resume it
            existing = True
    if existing:
        study = optuna.load_study(study_name=name, storage=ostorage, sampler=sampler, pruner=pruner)
        _check_resume(study, space, settings, fingerprint, config)
        if study.direction.name.lower() != direction:
            raise UsageError(f"Study {name!r} was created to {study.direction.name.lower()}, not {direction}.")
    attrs = {
        "space": space.name, "space_path": str(space.path), "space_sha256": space.source_hash,
        "space_fingerprint": fingerprint, "settings": settings, "fixed": fixed, "objective": space.objective,
        "direction": space.direction, "epochs": epochs, "sampler": config.sampler, "pruner": config.pruner,
        "seed": config.seed,
    }
    for key, value in attrs.items():
        if not existing or key not in ("settings",):
            study.set_user_attr(key, value)
    if not existing or config.trials is not None:
        study.set_user_attr("max_trials", config.trials or study.user_attrs.get("max_trials") or DEFAULT_TRIALS)
    return study, stale


def space_fingerprint(space: Any, settings: dict) -> str:
    """SHA-256 of the space's file and of the hyperparameters it declares."""
    import hashlib
    import json

    from search.sets import declared_space

    declared = [hp.get_config() for hp in declared_space(space, settings).space]
    text = json.dumps([space.source_hash, declared], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_resume(study: Any, space: Any, settings: dict, fingerprint: str, config: StudyConfig) -> None:
    attrs = study.user_attrs
    if attrs.get("space") not in (None, space.name):
        raise UsageError(f"Study {study.study_name!r} belongs to space {attrs['space']!r}, not {space.name!r}.")
    if attrs.get("settings") is not None and attrs["settings"] != settings:
        raise UsageError(
            f"Study {study.study_name!r} was created with settings {attrs['settings']}, not {settings}; "
            "use another --study name for other settings."
        )
    stored = attrs.get("space_fingerprint")
    if stored is not None and stored != fingerprint and not config.allow_space_change:
        raise UsageError(
            f"Space {space.name!r} changed since study {study.study_name!r} was created "
            f"({space.path}); pass --allow-space-change to resume it anyway, or use another --study name."
        )


def _settings_params(config: StudyConfig, space: Any, name: str, loc: Any, settings: dict, fixed: dict, epochs: int, budget: int) -> dict:
    return {
        "study": name, "space": space.name, "space_path": str(space.path), "sampler": config.sampler,
        "pruner": config.pruner, "seed": config.seed, "storage": loc.storage_url, "workers": config.workers,
        "trials": budget, "epochs": epochs, "timeout": config.timeout, "objective": space.objective,
        "direction": space.direction, **{f"setting.{k}": v for k, v in settings.items()},
        **{f"fixed.{k}": v for k, v in fixed.items()},
    }


def run_study(config: StudyConfig, local: Any = None) -> StudyResult:
    """Creates (or resumes) the study and runs trials until its budget or timeout.

    Everything is checked before anything is written: a bad space, option, ``--set``
    or data leaves every store untouched. Whatever happens after, no Optuna trial
    and no MLflow run is left RUNNING. With ``config.workers > 1`` the other local
    workers start here, before TensorFlow is imported, unless ``local`` (a
    :class:`search.parallel.LocalWorkers` the caller started even earlier) is given;
    they are stopped, whatever happens, before this returns.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if config.workers > 1 and local is None:
        from search.parallel import LocalWorkers

        local = LocalWorkers(config.workers)
    try:
        return _run_study(config, local)
    finally:
        if local is not None:
            local.stop()


def _run_study(config: StudyConfig, local: Any) -> StudyResult:
    if config.workers > 1:  # this process is one of the workers: its share of the cores
        from search.parallel import limit_threads

        limit_threads(config.workers)
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

    check_tracking(loc.tracking_uri)
    study, stale = _create_or_load(config, space, name, loc, settings, fixed, epochs)
    budget = int(study.user_attrs.get("max_trials", DEFAULT_TRIALS))
    plan = Plan(
        study=study, stale=stale, space=space, loc=loc, settings=settings, fixed=fixed, epochs=epochs,
        budget=budget, data=data, sampler=config.sampler, pruner=config.pruner, seed=config.seed,
        timeout=config.timeout, progress=config.progress, max_consecutive_failures=config.max_consecutive_failures,
        parent_params=_settings_params(config, space, name, loc, settings, fixed, epochs, budget),
    )
    if config.workers > 1:
        from search.parallel import run_local_workers

        return run_local_workers(plan, local)
    return execute(plan)


def count_used(study: Any) -> int:
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
