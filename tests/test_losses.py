"""The angle losses against their formulas, in both prediction conventions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import i0e

from search import losses
from search.errors import UsageError
from search.layers import Atan2
from search.metrics import CircularMSE, MeanAngleError

RNG = np.random.default_rng(0)
THETA = RNG.uniform(-np.pi, np.pi, (8, 5, 1))
PRED = RNG.uniform(-np.pi, np.pi, (8, 5, 1))
IQ = RNG.standard_normal((8, 5, 1, 2)) * 2


def _wrap(d):
    return np.arctan2(np.sin(d), np.cos(d))


def _iq_parts(iq, eps=1e-7):
    i, q = iq[..., 0, 0], iq[..., 0, 1]  # (8, 5, 1, 2) -> (8, 5)
    return i, q, np.sqrt(i**2 + q**2 + eps), np.arctan2(q, i)


def _expected(name, theta, pred=None, iq=None, kappa=1.0):
    t = theta[..., 0]
    if iq is not None:
        i, q, r, pred_angle = _iq_parts(iq)
        cos_d = (i * np.cos(t) + q * np.sin(t)) / r
        c, s = i / r, q / r
    else:
        pred_angle = pred[..., 0]
        cos_d = np.cos(pred_angle - t)
        c, s = np.cos(pred_angle), np.sin(pred_angle)
    d = pred_angle - t
    table = {
        "mse": d**2,
        "wrapped_mse": _wrap(d) ** 2,
        "anti_wrap_l1": np.abs(_wrap(d)),
        "cosine": 1 - cos_d,
        "von_mises_nll": -kappa * cos_d + np.log(2 * np.pi * i0e(kappa)) + kappa,
        "unit_vector": (c - np.cos(t)) ** 2 + (s - np.sin(t)) ** 2,
    }
    if iq is not None:
        table["amp_weighted_cosine"] = r - (i * np.cos(t) + q * np.sin(t))
    return table[name].mean()


@pytest.mark.parametrize("name", [n for n in losses.LOSSES if n != "amp_weighted_cosine"])
def test_loss_from_angles_matches_its_formula(name):
    value = float(losses.get(name)(THETA, PRED))
    assert value == pytest.approx(_expected(name, THETA, pred=PRED), rel=1e-5)


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_loss_from_iq_matches_its_formula(name):
    value = float(losses.get(name, from_iq=True)(THETA, IQ))
    assert value == pytest.approx(_expected(name, THETA, iq=IQ), rel=1e-5)


def test_von_mises_with_a_fixed_kappa():
    value = float(losses.VonMisesNLL(kappa=4.0)(THETA, PRED))
    assert value == pytest.approx(_expected("von_mises_nll", THETA, PRED, kappa=4.0),
                                  rel=1e-5)


def test_von_mises_with_kappa_learned_from_the_amplitude():
    i, q, r, _ = _iq_parts(IQ)  # (8, 5)
    t = THETA[..., 0]
    expected = (-(i * np.cos(t) + q * np.sin(t)) + np.log(2 * np.pi * i0e(r)) + r).mean()
    value = float(losses.VonMisesNLL(kappa=None, from_iq=True)(THETA, IQ))
    assert value == pytest.approx(expected, rel=1e-5)


def test_log_i0e_matches_scipy():
    x = np.concatenate([np.linspace(0, 10, 1001), np.logspace(1, 5, 50)])
    out = losses.log_i0e(tf.constant(x, dtype="float64")).numpy()
    np.testing.assert_allclose(out, np.log(i0e(x)), atol=5e-7)


def test_the_wrap_at_pi():
    theta = np.array([[np.pi - 0.01]])
    pred = np.array([[-np.pi + 0.01]])  # 0.02 rad away across the cut
    assert float(losses.get("mse")(theta, pred)) == pytest.approx((2 * np.pi - 0.02) ** 2,
                                                                 rel=1e-5)
    assert float(losses.get("wrapped_mse")(theta, pred)) == pytest.approx(4e-4, rel=1e-3)
    assert float(losses.get("anti_wrap_l1")(theta, pred)) == pytest.approx(0.02, rel=1e-3)
    assert float(losses.get("cosine")(theta, pred)) == pytest.approx(1 - np.cos(0.02),
                                                                    rel=1e-3)
    # pred is 0.02 rad counter-clockwise of theta: the wrapped losses push it back
    # across the cut (positive gradient); raw mse pulls it the long way round.
    for name, sign in [("mse", -1), ("wrapped_mse", 1), ("anti_wrap_l1", 1), ("cosine", 1)]:
        p = tf.Variable(pred, dtype="float32")
        with tf.GradientTape() as tape:
            loss = losses.get(name)(theta, p)
        assert sign * float(tape.gradient(loss, p)[0, 0]) > 0, name


def test_iq_shape_rules():
    loss = losses.get("cosine", from_iq=True)
    # y_true (batch, 1) with y_pred (batch, 2): the trailing 1 is squeezed
    assert float(loss(np.zeros((3, 1)), np.tile([[1.0, 0.0]], (3, 1)))) == pytest.approx(0)
    with pytest.raises(ValueError, match=r"trailing axis of size 2.*\(3, 3\)"):
        loss(np.zeros((3, 1)), np.zeros((3, 3)))


def test_amp_weighted_cosine_gradient_is_bounded_and_finite_at_the_origin():
    iq = tf.Variable(np.array([[0.0, 0.0], [1e-30, 0.0], [3.0, -4.0], [1e3, 1e3]]),
                     dtype="float32")
    theta = np.array([[0.3], [1.0], [-2.0], [3.0]])
    with tf.GradientTape() as tape:
        loss = losses.AmpWeightedCosine(reduction="sum")(theta, iq)
    grad = tape.gradient(loss, iq).numpy()
    assert np.isfinite(grad).all() and np.linalg.norm(grad, axis=-1).max() <= 2.0


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_iq_gradients_are_finite_at_the_origin(name):
    iq = tf.Variable(np.zeros((2, 2)), dtype="float32")
    with tf.GradientTape() as tape:
        loss = losses.get(name, from_iq=True)(np.array([[0.5], [-2.0]]), iq)
    assert np.isfinite(tape.gradient(loss, iq).numpy()).all()


def test_get_rejects_unknown_names_and_bad_arguments():
    with pytest.raises(UsageError, match=r"Unknown loss 'mae'; accepted: mse, wrapped_mse"):
        losses.get("mae")
    assert issubclass(UsageError, ValueError)
    with pytest.raises(ValueError, match=r"Received: from_iq=False"):
        losses.get("amp_weighted_cosine", from_iq=False)
    with pytest.raises(ValueError, match=r"kappa=None .* needs from_iq=True"):
        losses.VonMisesNLL(kappa=None)
    with pytest.raises(ValueError, match=r"Received: kappa=-1"):
        losses.VonMisesNLL(kappa=-1.0)
    with pytest.raises(ValueError, match=r"Received: from_iq='yes'"):
        losses.WrappedMSE(from_iq="yes")
    with pytest.raises(ValueError, match=r"Received: epsilon=0"):
        losses.CosineAngleLoss(epsilon=0)


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_loss_config_round_trip(name):
    loss = losses.get(name, from_iq=True, epsilon=1e-6)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss) and restored.get_config() == loss.get_config()
    assert restored.name == name


def test_compiled_iq_model_trains_and_reloads_in_a_fresh_process(tmp_path):
    q_in, i_in = keras.Input((6, 1)), keras.Input((6, 1))
    q = keras.layers.Conv1D(1, 3, use_bias=False)(q_in)
    i = keras.layers.Conv1D(1, 3, use_bias=False)(i_in)
    model = keras.Model([q_in, i_in], Atan2(output_mode="iq")([q, i]))
    model.compile(optimizer="sgd", loss=losses.get("amp_weighted_cosine"),
                  metrics=[CircularMSE(from_iq=True), MeanAngleError(from_iq=True)])
    x = [RNG.standard_normal((16, 6, 1)), RNG.standard_normal((16, 6, 1))]
    y = RNG.uniform(-np.pi, np.pi, (16, 4, 1))
    history = model.fit(x, y, validation_data=(x, y), epochs=1, batch_size=8, verbose=0)
    assert {"val_circ_mse", "val_mean_angle_error", "val_loss"} <= set(history.history)
    path = tmp_path / "iq.keras"
    model.save(path)
    np.savez(tmp_path / "data.npz", q=x[0], i=x[1], y=y)
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    script = (
        "import json, sys, search, keras, numpy as np\n"
        "m = keras.saving.load_model(sys.argv[1], safe_mode=True)\n"
        "d = np.load(sys.argv[2])\n"
        "r = m.evaluate([d['q'], d['i']], d['y'], verbose=0, return_dict=True)\n"
        "print(json.dumps([type(m.loss).__name__, m.loss.get_config(), r]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "data.npz")],
        capture_output=True, text=True, check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    loss_class, loss_config, results = json.loads(out.stdout.strip().splitlines()[-1])
    assert loss_class == "AmpWeightedCosine" and loss_config["from_iq"] is True
    assert results == pytest.approx(expected, rel=1e-6)
    assert set(results) == {"loss", "circ_mse", "mean_angle_error"}
