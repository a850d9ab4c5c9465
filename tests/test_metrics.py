"""Angle metrics and the kernel-recovery similarity."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.signal

from search import metrics
from search.errors import UsageError

RNG = np.random.default_rng(1)


def _result(metric, y_true, y_pred):
    metric.update_state(y_true, y_pred)
    return float(metric.result())


def test_circ_mse_and_mean_angle_error_values():
    theta = RNG.uniform(-np.pi, np.pi, (20, 1))
    pred = RNG.uniform(-np.pi, np.pi, (20, 1))
    d = pred - theta
    assert _result(metrics.CircularMSE(), theta, pred) == pytest.approx(
        np.mean(2 * (1 - np.cos(d))), rel=1e-5)
    assert _result(metrics.MeanAngleError(), theta, pred) == pytest.approx(
        np.mean(np.abs(np.arctan2(np.sin(d), np.cos(d)))), rel=1e-5)


def test_metrics_wrap_and_use_radians():
    theta, pred = np.array([[np.pi - 0.01]]), np.array([[-np.pi + 0.01]])
    assert _result(metrics.MeanAngleError(), theta, pred) == pytest.approx(0.02, rel=1e-3)
    assert _result(metrics.CircularMSE(), np.zeros((1, 1)), np.full((1, 1), np.pi)) == (
        pytest.approx(4.0))


def test_metrics_from_iq():
    theta = RNG.uniform(-np.pi, np.pi, (10, 1))
    r = RNG.uniform(0.1, 5, (10, 1))
    pred = theta + 0.1
    iq = np.stack([r * np.cos(pred), r * np.sin(pred)], axis=-1)[:, 0, :]  # (10, 2)
    assert _result(metrics.CircularMSE(from_iq=True), theta, iq) == pytest.approx(
        2 * (1 - np.cos(0.1)), rel=1e-4)
    assert _result(metrics.MeanAngleError(from_iq=True), theta, iq) == pytest.approx(
        0.1, rel=1e-4)


def test_metric_names_configs_and_lookup():
    metric = metrics.get("circ_mse", from_iq=True)
    assert metric.name == "circ_mse" and metrics.get("mean_angle_error").name == (
        "mean_angle_error")
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is metrics.CircularMSE and restored.from_iq is True
    with pytest.raises(UsageError, match=r"Unknown metric 'mae'; accepted: circ_mse"):
        metrics.get("mae")
    with pytest.raises(ValueError, match=r"Received: from_iq=1"):
        metrics.CircularMSE(from_iq=1)


def test_kernel_cosine_is_uncentred_and_scale_invariant():
    tukey = scipy.signal.windows.tukey(64)
    assert metrics.kernel_cosine(3.0 * tukey, tukey) == pytest.approx(1.0)
    assert metrics.kernel_cosine(tukey.reshape(64, 1, 1), tukey) == pytest.approx(1.0)
    offset = metrics.kernel_cosine(tukey + 0.1, tukey)
    assert np.corrcoef(tukey + 0.1, tukey)[0, 1] == pytest.approx(1.0)  # Pearson is blind
    assert offset < 0.999
    assert metrics.kernel_cosine(-tukey, tukey) == pytest.approx(-1.0)


def test_kernel_cosine_reverse_for_cross_correlation():
    ramp = np.linspace(0, 1, 16)  # asymmetric: the flip shows
    assert metrics.kernel_cosine(ramp[::-1], ramp) < 0.9
    assert metrics.kernel_cosine(ramp[::-1], ramp, reverse=True) == pytest.approx(1.0)


def test_kernel_cosine_errors():
    with pytest.raises(ValueError, match=r"learned.shape=\(3,\), true.shape=\(4,\)"):
        metrics.kernel_cosine(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"all-zero kernel"):
        metrics.kernel_cosine(np.zeros(3), np.ones(3))
