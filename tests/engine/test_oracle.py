"""OptunaOracle inside real KerasTuner tuners, with real training and real Optuna storages."""

from __future__ import annotations

import keras
import keras_tuner
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from keras_tuner.src.engine.objective import MultiObjective

from search import OptunaOracle, Tuner
from search.records.keys import RETRY_OF as ATTR_RETRY_OF

optuna.logging.set_verbosity(optuna.logging.WARNING)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((96, 4)).astype("float32")
Y = (X @ np.array([1.0, -2.0, 0.5, 0.0], dtype="float32"))[:, None]
DATA = {"x": X[:64], "y": Y[:64], "validation_data": (X[64:], Y[64:]), "verbose": 0}


def build(hp):
    units = hp.Int("units", 2, 8, step=2)
    lr = hp.Float("lr", 1e-3, 1e-1, sampling="log")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, "relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(lr), "mse")
    return model


def _oracle(tmp_path, **kwargs) -> OptunaOracle:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    kwargs.setdefault("sampler", optuna.samplers.RandomSampler(seed=0))
    return OptunaOracle(objective="val_loss", storage=storage, study_name="s", **kwargs)


def test_stock_keras_tuner_runs_on_the_optuna_oracle(tmp_path):
    oracle = _oracle(tmp_path, max_trials=3)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=build, directory=tmp_path / "kt", project_name="p")
    tuner.search(**DATA, epochs=2)

    trials = oracle.study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for t in trials:
        kt = oracle.get_trial(oracle.trial_id_for(t.number))
        assert t.value == pytest.approx(kt.score)
        assert t.user_attrs["hp"] == kt.hyperparameters.values
        assert t.params == {"units": kt.hyperparameters.get("units"), "lr": kt.hyperparameters.get("lr")}
    best = tuner.oracle.get_best_trials(1)[0]
    assert oracle.study.best_trial.number == int(best.trial_id)
    assert tuner.get_best_models(1)[0].predict(X[:2], verbose=0).shape == (2, 1)


def test_pruner_stops_trials_which_are_pruned_and_never_best(tmp_path):
    # ThresholdPruner prunes deterministically once val_loss exceeds `upper` after warm-up.
    pruner = optuna.pruners.ThresholdPruner(upper=0.5, n_warmup_steps=1)
    oracle = _oracle(tmp_path, max_trials=4, pruner=pruner)
    tuner = Tuner(oracle=oracle, hypermodel=build, directory=tmp_path / "kt", project_name="p", seed=0)
    tuner.search(**DATA, epochs=6)

    trials = oracle.study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, [t.intermediate_values for t in trials]
    for t in pruned:
        steps = sorted(t.intermediate_values)
        assert steps[-1] < 5  # stopped before the last epoch
        assert t.intermediate_values[steps[-1]] > 0.5
        assert t.user_attrs["pruned_by"] == f"ThresholdPruner at step {steps[-1]}"
        assert oracle.trial_id_for(t.number) not in [b.trial_id for b in oracle.get_best_trials(4)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete:
        assert oracle.get_best_trials(1)[0].trial_id == oracle.trial_id_for(oracle.study.best_trial.number)
    # Every epoch reached Optuna as an intermediate value.
    assert all(len(t.intermediate_values) >= 2 for t in trials)


def test_failed_trials_are_told_fail_with_their_reason(tmp_path):
    def flaky(hp):
        if hp.Choice("mode", ["ok", "boom"]) == "boom":
            raise ValueError("boom: cannot build")
        return build(hp)

    oracle = _oracle(tmp_path, max_trials=6, max_consecutive_failed_trials=10)
    keras_tuner.Tuner(oracle=oracle, hypermodel=flaky, directory=tmp_path / "kt", project_name="p").search(
        **DATA, epochs=1
    )
    trials = oracle.study.get_trials()
    assert len(trials) == 6
    for t in trials:
        if t.user_attrs["hp"]["mode"] == "boom":
            assert t.state == TrialState.FAIL
            assert "boom: cannot build" in t.user_attrs["fail_reason"]
        else:
            assert t.state == TrialState.COMPLETE


def test_a_retried_trial_is_reasked_with_the_same_values(tmp_path):
    attempts = {}

    class FailsOnce(keras_tuner.HyperModel):
        def build(self, hp):
            return build(hp)

        def fit(self, hp, model, *args, **kwargs):
            key = tuple(sorted(hp.values.items()))
            attempts[key] = attempts.get(key, 0) + 1
            if attempts[key] == 1:
                raise RuntimeError("transient failure")
            return model.fit(*args, **kwargs)

    oracle = _oracle(tmp_path, max_trials=2, max_retries_per_trial=1)
    keras_tuner.Tuner(oracle=oracle, hypermodel=FailsOnce(), directory=tmp_path / "kt", project_name="p").search(
        **DATA, epochs=1
    )
    trials = oracle.study.get_trials()
    first = [t for t in trials if ATTR_RETRY_OF not in t.user_attrs]
    retries = [t for t in trials if ATTR_RETRY_OF in t.user_attrs]
    assert len(first) == 2 and len(retries) == 2  # the budget counts each trial once
    for retry in retries:
        original = trials[retry.user_attrs[ATTR_RETRY_OF]]
        assert original.state == TrialState.FAIL
        assert "will retry" in original.user_attrs["fail_reason"]
        assert retry.state == TrialState.COMPLETE
        assert retry.params == original.params
        assert retry.user_attrs["kt_trial_id"] == original.user_attrs["kt_trial_id"]


def test_reload_retries_an_interrupted_trial_and_keeps_optuna_consistent(tmp_path):
    oracle = _oracle(tmp_path, max_trials=2)
    tuner = Tuner(oracle=oracle, hypermodel=build, directory=tmp_path / "kt", project_name="p")
    interrupted = tuner.oracle.create_trial(tuner.tuner_id)  # the process "dies" in this trial
    tuner.save()
    assert oracle.study.get_trials()[0].state == TrialState.RUNNING

    oracle2 = _oracle(tmp_path, max_trials=2)
    tuner2 = Tuner(oracle=oracle2, hypermodel=build, directory=tmp_path / "kt", project_name="p")
    tuner2.search(**DATA, epochs=1)

    trials = oracle2.study.get_trials()
    assert trials[0].state == TrialState.FAIL  # the stale trial is failed ...
    retry = [t for t in trials if t.user_attrs.get(ATTR_RETRY_OF) == 0]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE  # ... and re-run
    assert retry[0].user_attrs["hp"] == interrupted.hyperparameters.values
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_objective_direction_must_match_the_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=storage, study_name="d", direction="minimize")
    with pytest.raises(ValueError, match="asks to maximize"):
        OptunaOracle(objective=keras_tuner.Objective("val_accuracy", "max"), study=study)


def test_best_epoch_checkpoint_holds_the_best_epochs_weights_written_once(tmp_path):
    from search.engine.tuner import BestEpochAtTrainEnd

    keras.utils.set_random_seed(0)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("lr", 0.05)
    model = build(hp)
    path = tmp_path / "checkpoint.weights.h5"
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 3:  # spoil the weights: the best epoch is not the last
                self.model.set_weights([w * 10 for w in self.model.get_weights()])

        def on_epoch_end(self, epoch, logs=None):
            assert not path.exists()  # nothing written while training
            seen.append((logs["val_loss"], self.model.get_weights()))

    best = BestEpochAtTrainEnd(keras_tuner.Objective("val_loss", "min"), str(path))
    model.fit(**DATA, epochs=5, callbacks=[best, Record()])
    best_epoch = min(range(5), key=lambda e: seen[e][0])
    assert best_epoch < 3 and best.best_value == seen[best_epoch][0]
    fresh = build(hp)
    fresh.load_weights(path)
    for loaded, kept in zip(fresh.get_weights(), seen[best_epoch][1]):
        np.testing.assert_array_equal(loaded, kept)
    for now, last in zip(model.get_weights(), seen[-1][1]):  # the trained model keeps its final weights
        np.testing.assert_array_equal(now, last)


def test_search_tuner_writes_kerastuners_checkpoint_once_per_trial(tmp_path):
    oracle = _oracle(tmp_path, max_trials=2)
    tuner = Tuner(oracle=oracle, hypermodel=build, directory=tmp_path / "kt", project_name="p", seed=0)
    tuner.search(**DATA, epochs=3)
    for trial in oracle.trials.values():
        assert (tmp_path / "kt" / "p" / f"trial_{trial.trial_id}" / "checkpoint.weights.h5").is_file()
    model = tuner.get_best_models(1)[0]  # KerasTuner loads the checkpoint
    best = oracle.get_best_trials(1)[0]
    assert model.evaluate(X[64:], Y[64:], verbose=0) == pytest.approx(best.score, rel=1e-4)


def test_pruner_checks_skipped_only_where_optunas_pruner_cannot_act():
    from search.engine.reports import pruner_may_act

    assert not any(pruner_may_act(optuna.pruners.NopPruner(), step) for step in range(5))
    median = optuna.pruners.MedianPruner(n_warmup_steps=3)
    assert [pruner_may_act(median, step) for step in range(5)] == [False, False, False, True, True]
    assert pruner_may_act(optuna.pruners.SuccessiveHalvingPruner(min_resource=1), 0)


class _EveryStepMedian(optuna.pruners.MedianPruner):
    """The median pruner, asked at every step (search.OptunaOracle skips only the exact types)."""


def test_median_pruning_decisions_do_not_change_when_its_warm_up_is_skipped(tmp_path):
    def run(pruner_class, where):
        where.mkdir()
        pruner = pruner_class(n_startup_trials=2, n_warmup_steps=2)
        oracle = _oracle(where, max_trials=8, pruner=pruner)
        tuner = Tuner(oracle=oracle, hypermodel=build, directory=where / "kt", project_name="p", seed=0)
        tuner.search(**DATA, epochs=6)
        return [(t.state, sorted(t.intermediate_values)[-1]) for t in oracle.study.get_trials()]

    skipped = run(optuna.pruners.MedianPruner, tmp_path / "skipped")
    assert any(state == TrialState.PRUNED for state, _ in skipped), skipped  # the test can tell them apart
    assert skipped == run(_EveryStepMedian, tmp_path / "every")


def test_epoch_values_wait_only_while_the_pruner_cannot_act_and_all_reach_optuna(tmp_path, monkeypatch):
    import search.engine.reports
    from search.engine.hooks import TrialHook

    monkeypatch.setattr(search.engine.reports, "FLUSH_SECONDS", 3600.0)  # no timed flush here
    seen = {}  # epoch -> steps in the storage at its end (after the oracle's report)

    class Watch(TrialHook):
        def callback(self, context):
            class Look(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    number = context.oracle.optuna_number(context.trial_id)
                    stored = optuna.load_study(study_name="s", storage=storage).trials[number]
                    seen.setdefault(number, {})[epoch] = sorted(stored.intermediate_values)
            return Look()

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    for pruner, name in ((optuna.pruners.NopPruner(), "none"), (optuna.pruners.MedianPruner(n_warmup_steps=3), "median")):
        seen.clear()
        oracle = OptunaOracle(objective="val_loss", storage=storage, study_name="s", max_trials=1, pruner=pruner,
                              sampler=optuna.samplers.RandomSampler(seed=0))
        tuner = Tuner(oracle=oracle, hypermodel=build, directory=tmp_path / name, project_name="p", seed=0,
                      trial_hooks=[Watch()])
        tuner.search(**DATA, epochs=6)
        (trial,) = oracle.study.get_trials()
        assert sorted(trial.intermediate_values) == list(range(6)), name  # every epoch, once the trial ends
        if name == "none":  # the first epoch at once, the rest when the trial ends
            assert [seen[trial.number][e] for e in range(6)] == [[0]] * 6
        else:  # held through the warm-up, then every epoch before the pruner is asked
            assert [seen[trial.number][e] for e in range(6)] == [[0], [0], [0], [0, 1, 2, 3], [0, 1, 2, 3, 4],
                                                                   [0, 1, 2, 3, 4, 5]]
        optuna.delete_study(study_name="s", storage=storage)


@pytest.mark.parametrize("several", ["list", "MultiObjective"])
def test_several_objectives_make_a_pareto_study_not_a_weighted_sum(tmp_path, several):
    objectives = [keras_tuner.Objective("val_loss", "min"), keras_tuner.Objective("loss", "min")]
    objective = objectives if several == "list" else MultiObjective(objectives)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    oracle = OptunaOracle(objective=objective, max_trials=4, storage=storage, study_name="s",
                          sampler=optuna.samplers.RandomSampler(seed=0))
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=build, directory=tmp_path / "kt", project_name="p")
    tuner.search(**DATA, epochs=3)

    study = oracle.study
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    for t in study.get_trials():
        kt = oracle.get_trial(oracle.trial_id_for(t.number))
        assert t.state == TrialState.COMPLETE and not t.intermediate_values  # Optuna prunes one objective only
        at_best = [o.mean() for o in kt.metrics.get_history("loss") if o.step == kt.best_step]
        assert t.values == pytest.approx([kt.score, at_best[0]])  # both at the best epoch of the first
        assert kt.score == pytest.approx(kt.metrics.get_best_value("val_loss"))
    front = {t.number for t in study.best_trials}
    assert {int(t.trial_id) for t in oracle.get_best_trials(10)} == front
    # The same directions are required of a study reopened under other objectives.
    with pytest.raises(ValueError, match="directions"):
        OptunaOracle(objective=[keras_tuner.Objective("val_loss", "min"), keras_tuner.Objective("loss", "max")],
                     storage=storage, study_name="s")


def test_constraints_mark_trials_infeasible_for_optuna(tmp_path):
    from search.engine.objectives import parse_constraint

    oracle = _oracle(tmp_path, max_trials=4, constraints=[parse_constraint("val_loss<=1.5")])
    Tuner(oracle=oracle, hypermodel=build, directory=tmp_path / "kt", project_name="p", seed=0).search(**DATA, epochs=2)

    trials = oracle.study.get_trials()
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    for t in trials:
        assert t.constraints == {"val_loss<=1.5": pytest.approx(t.value - 1.5)}
        assert oracle.feasible(oracle.trial_id_for(t.number)) == (t.value <= 1.5)
