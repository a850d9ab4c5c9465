"""Every shipped space keeps the contract; each space's own promises (objective, hooks, data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mlflow import MlflowClient

from search import StudyConfig, run_study
from search import storage as storage_mod
from search.space.loader import list_spaces, load_space
from search.testing import check_space

# Settings that make a space's data small enough for a test (the every-space check uses them).
SMALL = {"iq_combiner": {"n_train": "256"}, "prototype_rbf": {"dataset": "iris"}}


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_builds_trains_and_every_variable_gets_a_gradient(name):
    check = check_space(name, SMALL.get(name, {}), epochs=1)
    assert len(check.variants) > 1 and math.isfinite(check.trial_value)


def _trial_run(study: str):
    client = MlflowClient(storage_mod.resolve().tracking_uri)
    experiment = client.get_experiment_by_name(study)
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`search.role` = 'trial'")
    assert len(runs) == 1
    return client, runs[0]


# -- iq_combiner ---------------------------------------------------------------------------------

def test_iq_objective_follows_the_target_and_losses_match_the_library():
    from search.losses import LOSSES

    space = load_space("iq_combiner")
    iq = space.module
    assert (space.objective, space.direction) == ("val_circ_mse", "min")
    assert space.with_settings({"target": "add", "n_train": 1024}).objective == "val_mse"
    assert space.with_settings({"target": "multiply", "n_train": 1024}).objective == "val_mse"
    assert set(iq.ANGLE_LOSSES) == set(LOSSES) and set(iq.IQ_LOSSES) <= set(LOSSES)


def test_iq_data_is_the_seeds_tukey_filtered_iq_mix():
    from scipy.signal import windows

    iq = load_space("iq_combiner").module
    ([x_i, x_q], y), ([v_i, _], _) = iq.load_data(3, target="atan2", n_train=8)
    assert x_i.shape == (8, 512, 1) and y.shape == (8, 512 - 63, 1) and v_i.shape == (256, 512, 1)
    b = windows.tukey(64)
    f_i = np.convolve(b, x_i[0, :, 0].astype(np.float64), mode="valid")
    f_q = np.convolve(b, x_q[0, :, 0].astype(np.float64), mode="valid")
    np.testing.assert_allclose(y[0, :, 0], np.arctan2(f_q, f_i), atol=1e-4)
    again = iq.load_data(3, target="add", n_train=8)
    np.testing.assert_allclose(again[0][1][0, :, 0], f_q + f_i, rtol=1e-4, atol=1e-4)


def test_iq_success_needs_the_angle_and_both_kernels():
    iq = load_space("iq_combiner").module
    good = {"val_circ_mse": 1e-4}
    assert iq.succeeded("atan2", good, (0.99995, 0.99999), (3.0, 3.0))  # scale is free for atan2
    assert not iq.succeeded("atan2", good, (0.99995, 0.9998), (1.0, 1.0))
    assert not iq.succeeded("atan2", {"val_circ_mse": 2e-3}, (1.0, 1.0), (1.0, 1.0))
    assert iq.succeeded("add", {}, (1.0, 1.0), (1.005, 0.995))
    assert not iq.succeeded("add", {}, (1.0, 1.0), (1.02, 1.0))
    assert iq.succeeded("multiply", {}, (-1.0, -1.0), (2.0, 0.5))  # a common sign flip and scale
    assert not iq.succeeded("multiply", {}, (-1.0, 1.0), (1.0, 1.0))


def test_iq_seed_configuration_runs_as_one_fixed_trial_with_recovery_logged():
    seed_config = {"combiner": "atan2", "loss": "mse", "optimizer": "sgd", "init": "glorot",
                   "learning_rate": "0.01", "batch_size": "32", "n_train": "256"}
    result = run_study(StudyConfig(space="iq_combiner", study="seed-config", trials=1, epochs=2,
                                   sets=seed_config, progress=False))
    assert result.complete == 1
    assert result.best_params == {"target": "atan2", **seed_config, "learning_rate": 0.01, "batch_size": 32,
                                  "n_train": 256}
    client, run = _trial_run("seed-config")
    for name in ("kernel_cosine_I", "kernel_cosine_Q", "val_mean_angle_error_deg", "success"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, name)] == [0, 1]
    assert run.data.tags["iq.epochs_to_success"] == "never"
    assert abs(run.data.metrics["kernel_cosine_I"]) < 0.9
    # The kernel picture: the window and both learned kernels, 64 taps each, legend under it.
    from xml.etree import ElementTree

    svg = "{http://www.w3.org/2000/svg}"
    root = ElementTree.parse(client.download_artifacts(run.info.run_id, "plots/kernels.svg")).getroot()
    assert [len(p.get("points").split()) for p in root.iter(svg + "polyline")] == [64, 64, 64]
    texts = [t.text for t in root.iter(svg + "text")]
    assert "Tukey window (true)" in texts and "tap" in texts and "weight" in texts
    assert [t for t in texts if t.startswith("conv_I (rescaled): cosine ")] == [
        f"conv_I (rescaled): cosine {run.data.metrics['kernel_cosine_I']:.6f}, "
        f"norm ratio {run.data.metrics['kernel_norm_ratio_I']:.3f}"]


# -- prototype_rbf -------------------------------------------------------------------------------

def test_prototype_split_is_fixed_stratified_and_standardised_on_training_rows_only():
    from search.space import datasets

    proto = load_space("prototype_rbf").module
    (x, y), (x_val, y_val) = proto.load_data(0, dataset="wine", fold=2)
    (same, _), _ = proto.load_data(9, dataset="wine", fold=2)
    np.testing.assert_array_equal(x, same)  # the split does not depend on the seed
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-4)
    assert not np.allclose(x_val.mean(axis=0), 0.0, atol=1e-3)
    train, val = datasets.fold_indices("wine", 2)
    assert not set(train) & set(val) and len(train) + len(val) == 178
    labels = datasets.load("wine")[1]
    np.testing.assert_allclose(np.bincount(labels[val]), np.bincount(labels) / 5, atol=1)  # stratified
    folds = [set(datasets.fold_indices("wine", k)[1].tolist()) for k in datasets.FOLDS]
    assert set().union(*folds) == set(range(178)) and sum(map(len, folds)) == 178


# -- bounded_activation --------------------------------------------------------------------------

@pytest.mark.parametrize("sets, key", [
    ({"activation": "bump", "sigma_parametrization": "per_channel"}, "sigma"),
    ({"activation": "truncation", "truncation_mode": "trainable", "threshold": "0.3"}, "threshold"),
])
def test_bounded_trainable_sigma_and_threshold_move_and_are_logged_per_epoch(sets, key):
    result = run_study(StudyConfig(space="bounded_activation", study=f"moves-{key}", trials=1, epochs=2,
                                   sets={**sets, "learning_rate": "0.01"}, progress=False))
    assert result.complete == 1
    client, run = _trial_run(f"moves-{key}")
    # A --set value for a conditional hyperparameter (threshold, under activation=truncation) applies.
    assert {k: run.data.params[k] for k in sets} == sets
    history = client.get_metric_history(run.info.run_id, key)
    assert [m.step for m in history] == [0, 1]
    assert run.data.tags[f"bounded.{key}_moved"] == "true"
    assert run.data.tags["bounded.nan_loss"] == "false"
    assert run.data.metrics[f"{key}_change"] > 0


# -- search.space.fit_arrays: one tf.data iterator per fit ------------------------------------

def _two_input_model(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    model = keras.Model([a, b], out)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


def _arrays(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=(rows, 3)).astype("float32"), rng.normal(size=(rows, 2)).astype("float32")]
    y = (x[0].sum(axis=1, keepdims=True) - x[1][:, :1]).astype("float32")
    return x, y


def test_fit_arrays_trains_every_row_each_epoch_and_repeats_with_the_seed():
    import keras

    from search.space import fit_arrays

    x, y = _arrays(70, 0)  # 70 rows, batches of 16: four full batches and a partial one
    val = _arrays(20, 1)

    class Seen(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.evaluations = [], 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches.append(batch)

        def on_test_end(self, logs=None):
            self.evaluations += 1

    def train(seed: int):
        model, seen = _two_input_model(seed), Seen()
        history = fit_arrays(model, x, y, batch_size=16, validation_data=val, epochs=3, verbose=0, callbacks=[seen])
        return model, history, seen

    model, history, seen = train(0)
    assert seen.batches == [0, 1, 2, 3, 4] * 3 and seen.evaluations == 3  # 5 steps an epoch, validated each epoch
    assert len(history.history["val_loss"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the validation loss is that of the whole validation set, as Keras computes it from arrays
    np.testing.assert_allclose(history.history["val_loss"][-1], model.evaluate(*val, batch_size=16, verbose=0),
                               rtol=1e-5)
    _, again, _ = train(0)
    assert again.history == history.history  # a seeded trial repeats exactly
    _, other, _ = train(1)
    assert other.history != history.history


def test_fit_arrays_datasets_have_tf_data_autotuning_off():
    """Letting an autotuned iterator go leaves the core idle (tests/perf/fit_iterators.py)."""
    from search.space import fit_arrays

    x, y = _arrays(40, 3)
    model, seen = _two_input_model(0), {}
    real_fit = model.fit

    def recording_fit(data, **kwargs):
        seen.update(train=data, validation=kwargs["validation_data"])
        return real_fit(data, **kwargs)

    model.fit = recording_fit
    history = fit_arrays(model, x, y, batch_size=16, validation_data=_arrays(8, 4), epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    assert seen["train"].options().autotune.enabled is False
    assert seen["validation"].options().autotune.enabled is False


def test_fit_arrays_shuffles_each_epoch_and_passes_what_it_does_not_handle_to_fit():
    import warnings

    import keras

    from search.space import fit_arrays

    x, y = _arrays(40, 2)  # batches of 16, 16 and 8

    def epoch_losses(shuffle):
        """The running epoch loss after each batch, with a learning rate of 0 (only the order matters)."""
        model = _two_input_model(0)
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
        losses = []
        cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(float(logs["loss"])))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit_arrays(model, x, y, batch_size=16, epochs=2, verbose=0, shuffle=shuffle, callbacks=[cb])
        assert not [w for w in caught if "shuffle" in str(w.message)]  # no Keras warning about shuffle
        return losses[:3], losses[3:], model.evaluate(x, y, batch_size=40, verbose=0)

    first, second, whole = epoch_losses(False)
    assert first == second  # the same batches, in the same order
    first, second, whole = epoch_losses(True)
    assert first[:2] != second[:2]  # reshuffled every epoch...
    np.testing.assert_allclose([first[-1], second[-1]], [whole, whole], rtol=1e-5)  # ...and every row seen once
    # sample weights are not handled here: model.fit gets them as they are
    history = fit_arrays(_two_input_model(0), x, y, batch_size=16, epochs=1, verbose=0, sample_weight=np.ones(40))
    assert len(history.history["loss"]) == 1
