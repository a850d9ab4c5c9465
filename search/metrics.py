"""Loss-independent metrics for angle targets, and kernel-recovery similarity.

The Keras metrics follow the prediction convention of :mod:`search.losses`: angles
in radians by default, or ``(I, Q)`` on a trailing axis of size 2 with
``from_iq=True``. Their default names, ``circ_mse`` and ``mean_angle_error``, make
``val_circ_mse`` and ``val_mean_angle_error`` appear in a fit's history.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from search.errors import UsageError
from search.losses import cos_difference, split_prediction, wrap


def circular_mse(y_true, y_pred, from_iq: bool = False, epsilon: float = 1e-7):
    """Per element ``2(1 − cos Δ)``, the squared chord between the two unit vectors."""
    theta, pred = split_prediction(y_true, y_pred, from_iq)
    return 2.0 * (1.0 - cos_difference(theta, pred, epsilon))


def abs_angle_error(y_true, y_pred, from_iq: bool = False):
    """Per element ``abs(wrap(θ̂ − θ))`` in radians, in [0, π]."""
    theta, pred = split_prediction(y_true, y_pred, from_iq)
    if isinstance(pred, tuple):
        i, q = pred
        pred = ops.arctan2(q, i)
    return ops.abs(wrap(pred - theta))


class _AngleMetric(keras.metrics.MeanMetricWrapper):
    """A mean over elements of an angle function, with the ``from_iq`` convention."""

    def __init__(self, fn, name, dtype, from_iq, **fn_kwargs):
        if not isinstance(from_iq, bool):
            raise ValueError(
                f"Expected `from_iq` to be a bool. Received: from_iq={from_iq!r}"
            )
        super().__init__(fn=fn, name=name, dtype=dtype, from_iq=from_iq, **fn_kwargs)
        self.from_iq = from_iq
        self._direction = "down"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "from_iq": self.from_iq}


@keras.saving.register_keras_serializable(package="search")
class CircularMSE(_AngleMetric):
    """Mean ``2(1 − cos Δ)``: the objective for angle targets (success <= 1e-3).

    Args:
        name: Metric name; ``"circ_mse"`` gives ``val_circ_mse`` in the history.
        dtype: Result dtype.
        from_iq: Whether ``y_pred`` holds (I, Q) on a trailing axis of size 2.
    """

    def __init__(self, name: str = "circ_mse", dtype=None, from_iq: bool = False):
        super().__init__(circular_mse, name, dtype, from_iq)


@keras.saving.register_keras_serializable(package="search")
class MeanAngleError(_AngleMetric):
    """Mean absolute wrapped angle error, in radians (multiply by 180/π for degrees).

    Args:
        name: Metric name; ``"mean_angle_error"`` by default.
        dtype: Result dtype.
        from_iq: Whether ``y_pred`` holds (I, Q) on a trailing axis of size 2.
    """

    def __init__(self, name: str = "mean_angle_error", dtype=None,
                 from_iq: bool = False):
        super().__init__(abs_angle_error, name, dtype, from_iq)


METRICS = {"circ_mse": CircularMSE, "mean_angle_error": MeanAngleError}


def get(name: str, **kwargs) -> keras.metrics.Metric:
    """Returns a new metric by name, e.g. ``get("circ_mse", from_iq=True)``.

    Raises:
        UsageError: (a ``ValueError``) for an unknown name, listing the accepted ones.
    """
    if name not in METRICS:
        raise UsageError(f"Unknown metric {name!r}; accepted: {', '.join(METRICS)}")
    return METRICS[name](**kwargs)


def kernel_cosine(learned, true, reverse: bool = False) -> float:
    """Uncentred cosine similarity of a learned kernel with the true one (float64).

    Scale-invariant, as atan2 recovers kernels only up to a positive factor, and
    uncentred: Pearson correlation would read 1.0 for a constant offset. Keras's
    Conv1D is cross-correlation, so a kernel used with ``np.convolve`` is learned
    reversed; ``reverse=True`` compares with ``true[::-1]`` (a symmetric window such
    as Tukey hides the flip). Size-1 axes are ignored, so a Conv1D kernel of shape
    (k, 1, 1) compares with a true kernel of shape (k,).

    Raises:
        ValueError: If the shapes differ after dropping size-1 axes, or a kernel is 0.
    """
    a = np.squeeze(np.asarray(learned, dtype=np.float64))
    b = np.squeeze(np.asarray(true, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(
            "Expected `learned` and `true` kernels of the same shape (size-1 axes "
            f"ignored). Received: learned.shape={a.shape}, true.shape={b.shape}"
        )
    if reverse:
        b = b[::-1]
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    if norms == 0:
        raise ValueError("kernel_cosine is undefined for an all-zero kernel.")
    return float(np.sum(a * b) / norms)


__all__ = [
    "METRICS",
    "CircularMSE",
    "MeanAngleError",
    "abs_angle_error",
    "circular_mse",
    "get",
    "kernel_cosine",
]
