"""``run_study``: check everything, create or resume the study, and run its trials."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from search import storage as storage_mod
from search.records import keys
from search.records.summary import StudyResult
from search.study.config import StudyConfig

if TYPE_CHECKING:
    from search.study.plan import Plan
    from search.study.workers import LocalWorkers


def run_study(config: StudyConfig, local: LocalWorkers | None = None) -> StudyResult:
    """Creates (or resumes) the study and runs trials until its budget or timeout.

    Everything is checked before anything is written: a bad space, option, ``--set``
    or data, or a default model that cannot train on the data or log the objective
    (:func:`search.space.probe.probe`), leaves every store untouched. Whatever happens after, no Optuna trial
    and no MLflow run is left RUNNING. With ``config.workers > 1`` the other local
    workers start here, before TensorFlow is imported, unless ``local`` (the
    :class:`~search.study.workers.LocalWorkers` the caller started even earlier) is given;
    they are stopped, whatever happens, before this returns.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if config.workers > 1 and local is None:
        from search.study.workers import LocalWorkers

        local = LocalWorkers(config.workers, config.gpus())
    try:
        return _run_study(config, local)
    finally:
        if local is not None:
            local.stop()


def _run_study(config: StudyConfig, local: LocalWorkers | None) -> StudyResult:
    from search.space.loader import load_space
    from search.space.probe import probe
    from search.space.sets import resolve_sets
    from search.study.create import create_or_resume
    from search.study.execute import execute
    from search.study.first_trials import gather
    from search.study.config import check_several
    from search.study.plan import make_plan, make_setup, with_objectives
    from search.study.workers import limit_threads, run_local_workers
    from search.tracking.client import check_tracking

    if config.workers > 1:  # this process is one of the workers: its share of the cores
        limit_threads(config.workers)
    space = load_space(config.space)
    name = config.study or space.name
    loc = storage_mod.resolve(config.home, config.storage, config.tracking_uri)
    setup = make_setup(space, *resolve_sets(space, config.sets), config.epochs, config.seed)
    setup = with_objectives(setup, config.objective_pairs(), config.constraints)
    check_several(setup.space.objectives, config.sampler, config.target)
    first = gather(config, setup)
    probe(setup.space, setup.settings, setup.fixed, setup.data)  # `search worker` joins a study probed here
    check_tracking(loc.tracking_uri)
    setup = _resumed_objectives(config, setup, loc, name)
    if setup.space.several and config.pruner_given and config.pruner != "none":
        print(f"note: --pruner {config.pruner} is off: Optuna cannot prune trials of several objectives; "
              "every trial trains its epochs.", file=sys.stderr)
    study, stale = create_or_resume(config, setup, name, loc, first)
    plan = make_plan(study, stale, loc, setup, timeout=config.timeout, progress=config.progress,
                     max_consecutive_failures=config.max_consecutive_failures)
    plan.parent_params = _parent_params(config, plan)
    if config.workers > 1:
        return run_local_workers(plan, local)
    return execute(plan)


def _resumed_objectives(config: StudyConfig, setup: Any, loc: Any, name: str) -> Any:
    """A resumed study searches the objectives and constraints it was created with when this run
    names none (``--objective``/``--constraint`` given must match them: :func:`check_objectives_kept`)."""
    from search.records.studies import study_names
    from search.study.plan import with_objectives

    if config.objectives and config.constraints:
        return setup
    import optuna

    ostorage = storage_mod.open_storage(loc.storage_url)
    if name not in study_names(ostorage):
        return setup
    attrs = optuna.load_study(study_name=name, storage=ostorage).user_attrs
    objectives = None if config.objectives else attrs.get(keys.STUDY_OBJECTIVES)
    constraints = setup.space.constraints if config.constraints else attrs.get(keys.STUDY_CONSTRAINTS)
    if constraints is None:
        return with_objectives(setup, objectives)
    from dataclasses import replace

    setup = replace(setup, space=replace(setup.space, constraints=()))
    return with_objectives(setup, objectives, constraints)


def _parent_params(config: StudyConfig, plan: Plan) -> dict[str, Any]:
    """The settings of this invocation, logged as its parent run's params."""
    space, setup = plan.space, plan.setup
    return {
        keys.PARAM_STUDY: plan.study.study_name, keys.STUDY_SPACE: space.name, keys.STUDY_SPACE_PATH: str(space.path),
        keys.STUDY_SAMPLER: config.sampler, keys.STUDY_PRUNER: plan.pruner, keys.STUDY_SEED: config.seed,
        keys.PARAM_STORAGE: plan.loc.storage_url, keys.PARAM_WORKERS: config.workers, keys.PARAM_TRIALS: plan.budget,
        keys.STUDY_EPOCHS: setup.epochs, keys.PARAM_TIMEOUT: config.timeout, keys.STUDY_OBJECTIVE: space.objective,
        keys.STUDY_DIRECTION: space.direction, **keys.setting_params(setup.settings, setup.fixed),
        **({keys.STUDY_OBJECTIVES: ", ".join(f"{n}:{d}" for n, d in space.objectives)} if space.several else {}),
        **({keys.STUDY_CONSTRAINTS: ", ".join(space.constraints)} if space.constraints else {}),
    }
