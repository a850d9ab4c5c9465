"""The harness's cost metrics: measured on a real model, and recorded on every trial of a real study."""

from __future__ import annotations

import math

import keras
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient

from search import StudyConfig, run_study
from search import storage as storage_mod
from search.engine.costs import COST_METRICS, CostsHook, _cpu_copy, _measure, measure
from search.engine.oracle import OptunaOracle
from search.engine.tuner import Tuner
from tests.engine.test_oracle import DATA, build


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "relu"), keras.layers.BatchNormalization(),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    x = np.random.default_rng(0).standard_normal((16, 4)).astype("float32")
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    return model


class Scaled(keras.layers.Layer):
    """A layer built with a function and no ``get_config``: Keras refuses to save it."""

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn

    def call(self, x):
        return self.fn(x)


def test_measure_gives_the_trainable_count_the_saved_size_and_a_latency(tmp_path):
    model = _model()
    x = np.zeros((8, 4), "float32")
    costs = measure(model, x)
    assert set(costs) == set(COST_METRICS)
    # BatchNormalization's moving statistics are weights, not trainable ones
    assert costs["params"] == 4 * 3 + 3 + 2 * 3 + 3 + 1 == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert costs["params"] < model.count_params()
    model.save(tmp_path / "m.keras")
    assert costs["model_bytes"] == (tmp_path / "m.keras").stat().st_size
    assert costs["latency_ms"] > 0 and math.isfinite(costs["latency_ms"])


def test_an_unsaveable_model_has_no_model_bytes_and_keeps_the_others():
    model = keras.Sequential([keras.Input((4,)), Scaled(lambda x: 2 * x), keras.layers.Dense(1)])
    costs = measure(model, np.zeros((2, 4), "float32"))
    assert set(costs) == {"params", "latency_ms"} and costs["params"] == 5
    costs, skipped = _measure(model, None)
    assert set(costs) == {"params"}
    assert skipped["model_bytes"].startswith("NotImplementedError: Object Scaled was created by passing")
    assert skipped["latency_ms"] == "no validation or training arrays to time"


def test_the_cpu_copy_predicts_as_the_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, "relu"), keras.layers.Dense(1)])
    x = np.random.default_rng(1).standard_normal((5, 4)).astype("float32")
    copy = _cpu_copy(model)
    assert copy is not model
    np.testing.assert_allclose(copy(x, training=False), model(x, training=False), rtol=1e-6)


def test_every_trial_of_a_study_records_its_costs(space_path):
    run_study(StudyConfig(space=space_path("tiny"), study="costs", trials=2, epochs=1, sampler="random",
                          pruner="none", progress=False))
    loc = storage_mod.resolve()
    trials = optuna.load_study(study_name="costs", storage=loc.storage_url).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    client = MlflowClient(loc.tracking_uri)
    for trial in trials:
        attrs = trial.user_attrs
        units = attrs["hp"]["units"]
        assert attrs["params"] == 4 * units + units + units + 1
        assert attrs["model_bytes"] > 0 and attrs["latency_ms"] > 0 and attrs["latency_threads"] >= 1
        assert "costs_skipped" not in attrs
        run = client.get_run(attrs["mlflow_run_id"])
        assert {k: run.data.metrics[k] for k in COST_METRICS} == pytest.approx({k: attrs[k] for k in COST_METRICS})
        assert run.data.tags["search.latency_threads"] == str(attrs["latency_threads"])


def test_a_pruned_trial_records_its_costs_too(tmp_path):
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))  # any val_loss > 0: pruned
    oracle = OptunaOracle(objective="val_loss", max_trials=1, study=study)
    tuner = Tuner(oracle=oracle, hypermodel=build, directory=tmp_path / "kt", project_name="p", seed=0,
                  trial_hooks=[CostsHook()])
    tuner.search(**DATA, epochs=3)
    (trial,) = study.trials
    assert trial.state.name == "PRUNED" and len(trial.intermediate_values) == 1
    assert set(COST_METRICS) <= set(trial.user_attrs) and trial.user_attrs["latency_threads"] >= 1
