"""``search worker``: join an existing study from any machine and run its trials."""

from __future__ import annotations

import zlib
from typing import Any

from search import storage as storage_mod
from search.errors import UsageError


def run_worker(
    study_name: str,
    *,
    home: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    progress: bool = True,
    worker_index: int | None = None,
    study_plots: bool = True,
) -> Any:
    """Runs trials of study ``study_name`` until its stored budget, ``trials`` or ``timeout``.

    The study's space, settings, fixed hyperparameters, epochs, sampler, pruner and seed
    are those stored when ``search run`` created it; trials nest under that invocation's
    MLflow parent run. Each worker seeds its sampler differently (seed + a hash of its
    id), so workers never propose identical trials; training seeds stay ``seed + trial
    number``. ``study_plots=False``: draw no study plots (``search run --workers`` draws
    them in its own process).
    """
    from search.data import load_data
    from search.results import require_study
    from search.runner import Plan, execute, space_for_study, worker_id
    from search.study import DEFAULT_TRIALS, open_study_storage
    from search.tracking import check_tracking

    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be a positive integer, got {trials}.")
    if timeout is not None and not timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout}.")
    loc = storage_mod.resolve(home, storage, tracking_uri)
    check_tracking(loc.tracking_uri)
    ostorage, stale = open_study_storage(loc.storage_url)
    study = require_study(study_name, loc, ostorage)
    attrs = study.user_attrs
    space = space_for_study(attrs)
    settings = dict(attrs.get("settings") or {})
    space = space.with_settings(settings)
    seed = int(attrs.get("seed", 0))
    epochs = int(attrs.get("epochs") or space.epochs)
    data = load_data(space, seed, settings)

    import optuna

    from search.samplers import make_pruner, make_sampler

    sampler_name = attrs.get("sampler", "tpe")
    me = worker_id() if worker_index is None else f"{worker_id()}#{worker_index}"
    sampler_seed = seed + zlib.crc32(me.encode()) % 100_000
    study = optuna.load_study(
        study_name=study_name, storage=ostorage,
        sampler=make_sampler("random" if sampler_name == "grid" else sampler_name, sampler_seed),
        pruner=make_pruner(attrs.get("pruner", "median"), epochs),
    )
    plan = Plan(
        study=study, stale=stale, space=space, loc=loc, settings=settings, fixed=dict(attrs.get("fixed") or {}),
        epochs=epochs, budget=int(attrs.get("max_trials") or DEFAULT_TRIALS), data=data,
        sampler=sampler_name, pruner=attrs.get("pruner", "median"), seed=seed, timeout=timeout,
        max_local_trials=trials, join_parent_run=attrs.get("parent_run_id"), progress=progress, worker=True,
        parent_params={"study": study_name, "role": "worker", "worker": me},
        study_plots="all" if study_plots else "none",
    )
    return execute(plan)


def warm_imports() -> None:
    """Imports what :func:`run_worker` will need before its first trial (TensorFlow aside:
    :func:`search._quiet.quiet_imports`), so a worker started ahead of its study
    (``search standby``) is ready to train as soon as it is told which study to join."""
    import alembic.command  # noqa: F401 - Optuna's RDB storage imports these lazily, on opening
    import alembic.config  # noqa: F401
    import alembic.migration  # noqa: F401
    import alembic.script  # noqa: F401
    import keras  # noqa: F401
    import keras_tuner  # noqa: F401
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 - MLflow's, on its first client
    import optuna  # noqa: F401
    import optuna.storages._rdb.models  # noqa: F401
    import sqlalchemy.dialects.sqlite  # noqa: F401
    import sqlalchemy.orm  # noqa: F401

    import search.data  # noqa: F401
    import search.results  # noqa: F401
    import search.runner  # noqa: F401
    import search.samplers  # noqa: F401
    import search.study  # noqa: F401
    import search.tracking  # noqa: F401
    import search.tuner  # noqa: F401
