"""Creating a study, or resuming it: the study's stored settings, checked against the space.

A study stores what every process working on it needs (the ``STUDY_*`` user attributes of
:mod:`search.records.keys`): ``search run`` writes them when it creates the study and
again when it resumes it (a resumed study keeps the settings it was created with, and
refuses others); ``search worker`` reads them.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from search import storage as storage_mod
from search.errors import UsageError
from search.records import keys
from search.records.studies import study_names
from search.study.config import DEFAULT_TRIALS

if TYPE_CHECKING:
    import optuna

    from search.engine.heartbeat import StaleTrials
    from search.space import Space
    from search.storage import Location
    from search.study.config import StudyConfig
    from search.study.first_trials import FirstTrials
    from search.study.plan import Setup


def open_study_storage(url: str) -> tuple[optuna.storages.BaseStorage, StaleTrials]:
    """Opens the storage with heartbeats on (RDB storages) and a stale-trial collector."""
    from search.engine.heartbeat import StaleTrials, intervals

    heartbeat = intervals() if not url.startswith("journal:") else None
    return storage_mod.open_storage(url, heartbeat=heartbeat), StaleTrials()


def create_or_resume(config: StudyConfig, setup: Setup, name: str, loc: Location,
                     first: FirstTrials | None = None) -> tuple[optuna.Study, StaleTrials]:
    """The study ``name``, created with ``config``'s settings, or resumed if they match its own;
    ``first`` (:func:`search.study.first_trials.gather`) is enqueued in it, with the warm start.

    Two ``search run``s of one new study started together both work on it: the one that
    finds it created by the other since it looked resumes it.
    """
    import optuna

    from search.engine.samplers import make_pruner
    from search.study import first_trials

    ostorage, stale = open_study_storage(loc.storage_url)
    space = setup.space
    directions = ["maximize" if d == "max" else "minimize" for _, d in space.objectives]
    existing = name in study_names(ostorage)
    first = first_trials.with_warm_start(first or first_trials.gather(config, setup), config, setup, ostorage, name)
    pruner = make_pruner(study_pruner(config, space), setup.epochs)
    fingerprint = space_fingerprint(space, setup.settings)
    if not existing:
        try:
            study = optuna.create_study(study_name=name, storage=ostorage, pruner=pruner, directions=directions)
        except optuna.exceptions.DuplicatedStudyError:  # another process created it since: resume it
            existing = True
    if existing:
        study = optuna.load_study(study_name=name, storage=ostorage, pruner=pruner)
        check_resume(study, space, setup.settings, fingerprint, config.allow_space_change)
        check_objectives_kept(study, space)
    _store_settings(study, config, setup, fingerprint, existing)
    first_trials.enqueue(study, setup, first)
    study.sampler = first_trials.study_sampler(config.sampler, config.seed, study.user_attrs, ostorage, setup)
    return study, stale


def _store_settings(study: optuna.Study, config: StudyConfig, setup: Setup, fingerprint: str, existing: bool) -> None:
    space = setup.space
    attrs = {
        keys.STUDY_SPACE: space.name, keys.STUDY_SPACE_PATH: str(space.path),
        keys.STUDY_SPACE_SHA256: space.source_hash, keys.STUDY_SPACE_FINGERPRINT: fingerprint,
        keys.STUDY_FIXED: setup.fixed, keys.STUDY_OBJECTIVE: space.objective, keys.STUDY_DIRECTION: space.direction,
        keys.STUDY_EPOCHS: setup.epochs, keys.STUDY_SAMPLER: config.sampler,
        keys.STUDY_SEED: config.seed, keys.STUDY_PRUNER: study_pruner(config, space),
        keys.STUDY_OBJECTIVES: [list(o) for o in space.objectives], keys.STUDY_CONSTRAINTS: list(space.constraints),
    }
    if not existing:  # a resumed study keeps the settings it was created with (check_resume)
        attrs[keys.STUDY_SETTINGS] = setup.settings
    if config.target is not None:  # a resumed study keeps its target unless given another
        attrs[keys.STUDY_TARGET] = config.target
    if not existing or config.trials is not None:
        attrs[keys.STUDY_MAX_TRIALS] = config.trials or study.user_attrs.get(keys.STUDY_MAX_TRIALS) or DEFAULT_TRIALS
    for key, value in attrs.items():
        study.set_user_attr(key, value)


def study_pruner(config: StudyConfig, space: Space) -> str:
    """The pruner a study uses: ``none`` with several objectives (Optuna prunes single-objective trials only)."""
    return "none" if space.several else config.pruner


def check_objectives_kept(study: optuna.Study, space: Space) -> None:
    """A resumed study keeps the objectives (metrics, directions) and constraints it was created with."""
    from search.records.pareto import describe_objectives as describe

    had = keys.study_objectives(study)
    directions = [d.name.lower()[:3] for d in study.directions]
    if had != list(space.objectives) or directions != [d for _, d in space.objectives]:
        raise UsageError(f"Study {study.study_name!r} was created for objectives {describe(had)}, not "
                         f"{describe(space.objectives)}; a study's objectives cannot change (use another --study name).")
    constraints = study.user_attrs.get(keys.STUDY_CONSTRAINTS)
    if constraints is not None and list(constraints) != list(space.constraints):
        raise UsageError(f"Study {study.study_name!r} was created with constraints {', '.join(constraints) or 'none'}, "
                         f"not {', '.join(space.constraints) or 'none'}; a study's constraints cannot change "
                         "(use another --study name).")


def space_fingerprint(space: Space, settings: dict[str, Any]) -> str:
    """SHA-256 of the space's file and of the hyperparameters it declares."""
    from search.space.sets import declared_space

    declared = [hp.get_config() for hp in declared_space(space, settings).space]
    text = json.dumps([space.source_hash, declared], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def check_resume(study: optuna.Study, space: Space, settings: dict[str, Any], fingerprint: str,
                 allow_space_change: bool) -> None:
    """Refuses to resume ``study`` with another space, other settings or a changed space file."""
    attrs = study.user_attrs
    if attrs.get(keys.STUDY_SPACE) not in (None, space.name):
        raise UsageError(
            f"Study {study.study_name!r} belongs to space {attrs[keys.STUDY_SPACE]!r}, not {space.name!r}."
        )
    if attrs.get(keys.STUDY_SETTINGS) is not None and attrs[keys.STUDY_SETTINGS] != settings:
        raise UsageError(
            f"Study {study.study_name!r} was created with settings {attrs[keys.STUDY_SETTINGS]}, not {settings}; "
            "use another --study name for other settings."
        )
    stored = attrs.get(keys.STUDY_SPACE_FINGERPRINT)
    if stored is not None and stored != fingerprint and not allow_space_change:
        raise UsageError(
            f"Space {space.name!r} changed since study {study.study_name!r} was created "
            f"({space.path}); pass --allow-space-change to resume it anyway, or use another --study name."
        )
