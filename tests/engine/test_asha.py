"""The ASHA pruner on real Optuna studies: rungs at epochs 1, η, η², judged against the trials at that rung."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from search.engine.asha import AshaPruner
from search.engine.reports import pruner_may_act
from search.engine.samplers import DEFAULT_PRUNER, make_pruner


def _study(direction: str, earlier: list[dict[int, float]]) -> optuna.Study:
    study = optuna.create_study(direction=direction, pruner=AshaPruner(3))
    for values in earlier:
        study.add_trial(create_trial(state=TrialState.PRUNED, value=None, intermediate_values=values))
    return study


def _judged(study: optuna.Study, values: dict[int, float]) -> bool:
    trial = study.ask()
    for step, value in values.items():
        trial.report(value, step)
    return trial.should_prune()


def test_rungs_are_the_epochs_1_eta_eta_squared():
    pruner = AshaPruner(3)
    assert [s for s in range(30) if pruner.is_rung(s)] == [0, 2, 8, 26]
    assert [s for s in range(20) if pruner_may_act(pruner, s)] == [0, 2, 8]
    assert DEFAULT_PRUNER == "asha" and isinstance(make_pruner("asha", 20), AshaPruner)
    # A full trial's last epoch is no rung: with 9 epochs, epoch 9 (step 8) is not judged.
    assert [s for s in range(9) if make_pruner("asha", 9).is_rung(s)] == [0, 2]
    assert not any(make_pruner("asha", 1).is_rung(s) for s in range(3))
    with pytest.raises(ValueError, match="at least 2"):
        AshaPruner(1)


def test_the_first_trial_goes_on_and_a_worse_second_stops_at_its_first_epoch():
    study = _study("minimize", [])
    assert not _judged(study, {0: 1.0})
    assert _judged(study, {0: 2.0})  # fewer than η trials at the rung: only the best goes on
    assert not _judged(study, {0: 0.5})


def test_a_trial_goes_on_within_the_best_third_of_its_rung():
    earlier = [{0: float(v)} for v in range(1, 9)]  # 1..8 at epoch 1
    study = _study("minimize", earlier)
    assert not _judged(study, {0: 2.5})  # 9 values, best 3 are 1, 2, 2.5
    assert _judged(study, {0: 3.5})
    # between rungs nothing is judged; at the next rung (epoch 3) only trials that reached it count
    assert not _judged(_study("minimize", earlier), {0: 1.0, 1: 99.0})


def test_maximizing_and_non_finite_values():
    study = _study("maximize", [{0: 0.5}, {0: 0.9}, {0: 0.7}])
    assert not _judged(study, {0: 0.95})
    assert _judged(study, {0: 0.6})
    assert _judged(study, {0: math.nan})


def test_the_default_strategy_prunes_in_a_real_search(space_path):
    from search import StudyConfig, run_study
    from search import storage as storage_mod

    result = run_study(StudyConfig(space=space_path("tiny"), study="asha", trials=8, epochs=3, sampler="random",
                                   progress=False))
    study = optuna.load_study(study_name="asha", storage=storage_mod.resolve().storage_url)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert result.pruned == len(pruned) >= 1
    assert all(t.user_attrs["pruned_by"] in ("AshaPruner at step 0", "AshaPruner at step 2") for t in pruned)
    assert all(len(t.intermediate_values) in (1, 3) for t in pruned)
