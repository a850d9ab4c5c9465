"""``search worker``: join an existing study from any machine and run its trials."""

from __future__ import annotations

import time
import zlib
from typing import TYPE_CHECKING, Any

from search import storage as storage_mod
from search.records import keys

if TYPE_CHECKING:
    import optuna

    from search.records.summary import StudyResult
    from search.storage import Location
    from search.study.plan import Setup

WAIT_POLL_S = 1.0  # how often `search worker --wait` looks for its study


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
    wait: float | None = None,
) -> StudyResult:
    """Runs trials of study ``study_name`` until its stored budget, ``trials`` or ``timeout``.

    The study's space, settings, fixed hyperparameters, epochs, sampler, pruner and seed
    are those stored when ``search run`` created it; trials nest under that invocation's
    MLflow parent run. Each worker seeds its sampler differently (seed + a hash of its
    id), so workers never propose identical trials; training seeds stay ``seed + trial
    number``. ``study_plots=False``: draw no study plots (``search run --workers`` draws
    them in its own process). ``wait``: seconds to wait for ``search run`` to create the study.
    """
    from search.study.config import check_limits
    from search.study.create import open_study_storage
    from search.study.execute import execute
    from search.study.plan import make_plan, make_setup, space_for_study, with_objectives, worker_id
    from search.tracking.client import check_tracking

    check_limits(trials, timeout)
    loc = storage_mod.resolve(home, storage, tracking_uri)
    check_tracking(loc.tracking_uri)
    ostorage, stale = open_study_storage(loc.storage_url)
    attrs = joinable_study(study_name, loc, ostorage, wait).user_attrs
    setup = make_setup(space_for_study(attrs), dict(attrs.get(keys.STUDY_SETTINGS) or {}),
                       dict(attrs.get(keys.STUDY_FIXED) or {}), int(attrs.get(keys.STUDY_EPOCHS) or 0) or None,
                       int(attrs.get(keys.STUDY_SEED, 0)))
    setup = with_objectives(setup, attrs.get(keys.STUDY_OBJECTIVES), attrs.get(keys.STUDY_CONSTRAINTS) or ())
    me = worker_id() if worker_index is None else f"{worker_id()}#{worker_index}"
    plan = make_plan(
        _load_as_worker(study_name, ostorage, attrs, setup, me), stale, loc, setup, timeout=timeout,
        max_local_trials=trials, progress=progress, worker=True, join_parent_run=attrs.get(keys.STUDY_PARENT_RUN_ID),
        parent_params={keys.PARAM_STUDY: study_name, keys.PARAM_ROLE: keys.ROLE_WORKER, keys.PARAM_WORKER: me},
        study_plots="all" if study_plots else "none",
    )
    return execute(plan)


def joinable_study(name: str, loc: Location, ostorage: optuna.storages.BaseStorage,
                   wait: float | None) -> optuna.Study:
    """Study ``name`` once it can be joined: created, its settings stored and its parent run
    started by ``search run``. ``wait``: seconds to poll for that (quietly, with a status
    line); None: it must be there now."""
    from search.errors import StudyNotFoundError
    from search.records.studies import require_study, study_names

    if wait is None:
        try:
            return require_study(name, loc, ostorage)
        except StudyNotFoundError as e:
            raise StudyNotFoundError(f"{e} A worker started with its `search run` waits for it: --wait [SECONDS].") from None
    import optuna
    from rich.console import Console

    started = time.monotonic()
    where = storage_mod.mask_password(loc.storage_url)
    with Console(stderr=True).status(f"waiting for study {name!r} in {where}") as status:
        while True:
            if name in study_names(ostorage):
                study = optuna.load_study(study_name=name, storage=ostorage)
                if keys.STUDY_PARENT_RUN_ID in study.user_attrs:
                    return study
            waited = time.monotonic() - started
            if waited > wait:
                raise StudyNotFoundError(f"Study {name!r} was not ready in {where} within --wait {wait:g} s "
                                         "(created, its `search run` started).")
            status.update(f"waiting for study {name!r} in {where} ({waited:.0f} s of {wait:g})")
            time.sleep(min(WAIT_POLL_S, max(0.0, wait - waited)))


def _load_as_worker(study_name: str, ostorage: optuna.storages.BaseStorage, attrs: dict[str, Any], setup: Setup,
                    me: str) -> optuna.Study:
    """The study with its stored sampler (and warm-start priors), seeded for worker ``me`` (seed + a hash
    of its id), and pruner."""
    import optuna

    from search.engine.samplers import DEFAULT_PRUNER, DEFAULT_SAMPLER, make_pruner
    from search.study.first_trials import study_sampler

    seed = setup.seed + zlib.crc32(me.encode()) % 100_000
    return optuna.load_study(
        study_name=study_name, storage=ostorage,
        sampler=study_sampler(attrs.get(keys.STUDY_SAMPLER, DEFAULT_SAMPLER), seed, attrs, ostorage, setup),
        pruner=make_pruner(attrs.get(keys.STUDY_PRUNER, DEFAULT_PRUNER), setup.epochs),
    )


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

    import search.engine.oracle  # noqa: F401
    import search.engine.samplers  # noqa: F401
    import search.engine.tuner  # noqa: F401
    import search.records.studies  # noqa: F401
    import search.study.create  # noqa: F401
    import search.study.execute  # noqa: F401
    import search.study.plan  # noqa: F401
    import search.tracking.tracker  # noqa: F401
