"""One Plan builder for ``search run`` and ``search worker``: both read what the study stores the same way."""

from __future__ import annotations

import pytest

from search import storage as storage_mod
from search.errors import UsageError
from search.records import keys
from search.space import load_space, resolve_sets
from search.study.config import StudyConfig, check_limits
from search.study.create import create_or_resume
from search.study.plan import make_plan, make_setup, space_for_study


def test_a_worker_plans_from_the_study_what_run_planned_from_its_options(isolated_home, space_path):
    config = StudyConfig(space=space_path("tiny"), study="p", trials=7, epochs=3, sampler="random", pruner="none",
                         seed=4, sets={"noise": "0.0", "units": "4"})
    space = load_space(config.space)
    run_setup = make_setup(space, *resolve_sets(space, config.sets), config.epochs, config.seed)
    loc = storage_mod.resolve()
    study, stale = create_or_resume(config, run_setup, "p", loc)
    run_plan = make_plan(study, stale, loc, run_setup, timeout=5.0)

    attrs = study.user_attrs  # what `search worker` reads
    worker_setup = make_setup(space_for_study(attrs), attrs[keys.STUDY_SETTINGS], attrs[keys.STUDY_FIXED],
                              attrs[keys.STUDY_EPOCHS], attrs[keys.STUDY_SEED])
    worker_plan = make_plan(study, stale, loc, worker_setup, worker=True)
    for plan in (run_plan, worker_plan):
        assert (plan.budget, plan.sampler, plan.pruner) == (7, "random", "none")
        assert (plan.setup.settings, plan.setup.fixed) == ({"noise": 0.0}, {"units": 4})
        assert (plan.setup.epochs, plan.setup.seed, plan.space.objective) == (3, 4, "val_loss")
    assert (run_plan.timeout, run_plan.worker, worker_plan.timeout, worker_plan.worker) == (5.0, False, None, True)
    assert (run_plan.setup.data.x == worker_plan.setup.data.x).all()  # the same seed, the same data


@pytest.mark.parametrize(("trials", "timeout", "message"), [
    (0, None, "--trials must be a positive integer, got 0."),
    (None, -1.0, "--timeout must be a positive number of seconds, got -1.0."),
])
def test_run_and_worker_check_their_limits_alike(trials, timeout, message):
    with pytest.raises(UsageError, match=message):
        check_limits(trials, timeout)
    with pytest.raises(UsageError, match=message):
        StudyConfig(space="tiny", trials=trials, timeout=timeout)
