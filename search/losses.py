"""Losses for angle targets (seed 000), and their lookup by name.

Targets ``y_true`` are angles in radians. Predictions follow one convention, chosen
per loss by the ``from_iq`` constructor argument (saved in ``get_config``):

- ``from_iq=False`` (default): ``y_pred`` holds angles in radians, shaped like
  ``y_true`` (as in Keras, a trailing axis of size 1 may be on either side only).
- ``from_iq=True``: ``y_pred`` holds ``(I, Q)`` on a trailing axis of size 2,
  ``y_pred[..., 0] = I`` and ``y_pred[..., 1] = Q``; without that axis it is shaped
  like ``y_true`` (same trailing-1 rule). ``Atan2(output_mode="iq")`` produces it
  (its inputs' shape plus that axis), so no atan2 is in the graph. The predicted
  angle is ``atan2(Q, I)`` and the amplitude ``r = sqrt(I² + Q² + epsilon)``.

With Δ = θ̂ − θ and ``wrap(Δ) = atan2(sin Δ, cos Δ)``, per element:

| name | loss |
|---|---|
| ``mse`` | Δ², the raw control that fails at the ±π cut |
| ``wrapped_mse`` | wrap(Δ)² |
| ``anti_wrap_l1`` | abs(wrap(Δ)) |
| ``cosine`` | 1 − cos Δ |
| ``von_mises_nll`` | −κ cos Δ + log(2π I0(κ)); κ fixed, or κ = r from (I, Q) |
| ``unit_vector`` | ‖(I, Q)/r − (cos θ, sin θ)‖² (= 2(1 − cos Δ)) |
| ``amp_weighted_cosine`` | r − (I cos θ + Q sin θ) = r(1 − cos Δ); needs from_iq |

Losses average over all elements (Keras's ``"sum_over_batch_size"``).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from search.errors import UsageError
from search.layers.atan2 import safe_atan2

_TWO_PI_LOG = math.log(2.0 * math.pi)


def _align(a, b):
    """Squeezes a trailing axis of size 1 when the ranks differ by one (Keras's rule)."""
    if len(a.shape) == len(b.shape) + 1 and a.shape[-1] == 1:
        a = ops.squeeze(a, axis=-1)
    elif len(b.shape) == len(a.shape) + 1 and b.shape[-1] == 1:
        b = ops.squeeze(b, axis=-1)
    return a, b


def split_prediction(y_true, y_pred, from_iq: bool):
    """Returns ``(theta, pred)`` aligned; ``pred`` is angles or an ``(i, q)`` pair."""
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = y_pred.dtype if "float" in str(y_pred.dtype) else "float32"
    y_pred = ops.cast(y_pred, dtype)
    y_true = ops.cast(y_true, dtype)
    if not from_iq:
        return _align(y_true, y_pred)
    if y_pred.shape[-1] != 2:
        raise ValueError(
            "With from_iq=True, y_pred must hold (I, Q) on a trailing axis of size 2. "
            f"Received: y_pred.shape={tuple(y_pred.shape)}"
        )
    theta, i = _align(y_true, y_pred[..., 0])
    _, q = _align(y_true, y_pred[..., 1])
    return theta, (i, q)


def amplitude(i, q, epsilon: float):
    """``sqrt(I² + Q² + epsilon)``: its gradient is bounded by 1, also at 0."""
    return ops.sqrt(i * i + q * q + epsilon)


def angle_difference(theta, pred, epsilon: float = 1e-7):
    """Δ = θ̂ − θ (not wrapped) for a prediction from :func:`split_prediction`."""
    if isinstance(pred, tuple):
        i, q = pred
        return safe_atan2(q, i, epsilon) - theta
    return pred - theta


def wrap(delta):
    """Wraps angles into [−π, π] as ``atan2(sin Δ, cos Δ)``; its gradient is 1."""
    return ops.arctan2(ops.sin(delta), ops.cos(delta))


def cos_difference(theta, pred, epsilon: float = 1e-7):
    """cos Δ; from (I, Q) it is ``(I cos θ + Q sin θ) / r``, without atan2."""
    if isinstance(pred, tuple):
        i, q = pred
        return (i * ops.cos(theta) + q * ops.sin(theta)) / amplitude(i, q, epsilon)
    return ops.cos(pred - theta)


def log_i0e(x):
    """``log(I0(x)·exp(−x))`` for ``x >= 0``, stable for large x (keras.ops).

    Abramowitz & Stegun 9.8.1 and 9.8.2 (relative error below 2e-7), each branch
    evaluated on a safe argument so the unselected one cannot produce NaN.
    """
    small = x < 3.75
    t = ops.square(ops.where(small, x, 0.0) / 3.75)
    poly_small = 1.0 + t * (3.5156229 + t * (3.0899424 + t * (1.2067492 + t * (
        0.2659732 + t * (0.0360768 + t * 0.0045813)))))
    x_big = ops.where(small, 3.75, x)
    u = 3.75 / x_big
    poly_big = 0.39894228 + u * (0.01328592 + u * (0.00225319 + u * (-0.00157565 + u * (
        0.00916281 + u * (-0.02057706 + u * (0.02635537 + u * (-0.01647633 + u * (
            0.00392377))))))))
    return ops.where(
        small, ops.log(poly_small) - x, ops.log(poly_big) - 0.5 * ops.log(x_big)
    )


class _AngleLoss(keras.losses.Loss):
    """Common arguments of the angle losses; subclasses define ``_per_element``."""

    short_name = ""

    def __init__(self, from_iq: bool = False, epsilon: float = 1e-7, name=None,
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name or self.short_name, reduction=reduction, dtype=dtype)
        if not isinstance(from_iq, bool):
            raise ValueError(
                f"Expected `from_iq` to be a bool. Received: from_iq={from_iq!r}"
            )
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or (
            not epsilon > 0
        ):
            raise ValueError(
                f"Expected `epsilon` to be a positive float. Received: epsilon={epsilon!r}"
            )
        self.from_iq = from_iq
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        theta, pred = split_prediction(y_true, y_pred, self.from_iq)
        return self._per_element(theta, pred)

    def _per_element(self, theta, pred):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "from_iq": self.from_iq, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="search")
class AngleMSE(_AngleLoss):
    """Raw Δ², the control: a prediction across the ±π cut costs (2π)²."""

    short_name = "mse"

    def _per_element(self, theta, pred):
        return ops.square(angle_difference(theta, pred, self.epsilon))


@keras.saving.register_keras_serializable(package="search")
class WrappedMSE(_AngleLoss):
    """wrap(Δ)²: continuous across the ±π cut."""

    short_name = "wrapped_mse"

    def _per_element(self, theta, pred):
        return ops.square(wrap(angle_difference(theta, pred, self.epsilon)))


@keras.saving.register_keras_serializable(package="search")
class AntiWrapL1(_AngleLoss):
    """abs(wrap(Δ)), the anti-wrapping loss of NSPP/APNet phase models."""

    short_name = "anti_wrap_l1"

    def _per_element(self, theta, pred):
        return ops.abs(wrap(angle_difference(theta, pred, self.epsilon)))


@keras.saving.register_keras_serializable(package="search")
class CosineAngleLoss(_AngleLoss):
    """1 − cos Δ: bounded and smooth."""

    short_name = "cosine"

    def _per_element(self, theta, pred):
        return 1.0 - cos_difference(theta, pred, self.epsilon)


@keras.saving.register_keras_serializable(package="search")
class VonMisesNLL(_AngleLoss):
    """Von Mises negative log-likelihood ``−κ cos Δ + log(2π I0(κ))``.

    Args:
        kappa: Fixed concentration κ > 0, or None to learn it per element as the
            amplitude ``r`` of an (I, Q) prediction (needs ``from_iq=True``): then
            (I, Q) are the natural parameters and the loss is
            ``r − (I cos θ + Q sin θ) + log(2π I0(r))``.
        from_iq, epsilon, name, reduction, dtype: As for every angle loss.
    """

    short_name = "von_mises_nll"

    def __init__(self, kappa: float | None = 1.0, from_iq: bool = False, **kwargs):
        super().__init__(from_iq=from_iq, **kwargs)
        if kappa is None and not from_iq:
            raise ValueError(
                "kappa=None learns κ as the (I, Q) amplitude and needs from_iq=True. "
                "Received: kappa=None, from_iq=False"
            )
        if kappa is not None and (
            isinstance(kappa, bool) or not isinstance(kappa, (int, float))
            or not kappa > 0
        ):
            raise ValueError(
                "Expected `kappa` to be a positive float or None. "
                f"Received: kappa={kappa!r}"
            )
        self.kappa = None if kappa is None else float(kappa)
        if self.kappa is not None:
            from scipy.special import i0e

            self._log_normalizer = _TWO_PI_LOG + math.log(float(i0e(self.kappa)))

    def _per_element(self, theta, pred):
        if self.kappa is None:
            i, q = pred
            r = amplitude(i, q, self.epsilon)
            dot = i * ops.cos(theta) + q * ops.sin(theta)
            return r - dot + _TWO_PI_LOG + log_i0e(r)
        # −κ cos Δ + log(2π I0(κ)) = κ(1 − cos Δ) + log(2π i0e(κ)), with i0e = I0·e^−κ
        cos_delta = cos_difference(theta, pred, self.epsilon)
        return self.kappa * (1.0 - cos_delta) + self._log_normalizer

    def get_config(self):
        return {**super().get_config(), "kappa": self.kappa}


@keras.saving.register_keras_serializable(package="search")
class UnitVectorLoss(_AngleLoss):
    """‖(cos θ̂, sin θ̂) − (cos θ, sin θ)‖², the "biternion" head; (I, Q)/r from IQ."""

    short_name = "unit_vector"

    def _per_element(self, theta, pred):
        if isinstance(pred, tuple):
            i, q = pred
            r = amplitude(i, q, self.epsilon)
            c, s = i / r, q / r
        else:
            c, s = ops.cos(pred), ops.sin(pred)
        return ops.square(c - ops.cos(theta)) + ops.square(s - ops.sin(theta))


@keras.saving.register_keras_serializable(package="search")
class AmpWeightedCosine(_AngleLoss):
    """``r − (I cos θ + Q sin θ) = r(1 − cos Δ)``; gradient bounded by 2, no 1/r.

    Needs ``from_iq=True`` (the default here): from an angle, r ≡ 1 and it would
    silently be the ``cosine`` loss.
    """

    short_name = "amp_weighted_cosine"

    def __init__(self, from_iq: bool = True, **kwargs):
        super().__init__(from_iq=from_iq, **kwargs)
        if from_iq is not True:
            raise ValueError(
                "amp_weighted_cosine needs an (I, Q) prediction. "
                f"Expected from_iq=True. Received: from_iq={from_iq!r}"
            )

    def _per_element(self, theta, pred):
        i, q = pred
        dot = i * ops.cos(theta) + q * ops.sin(theta)
        return amplitude(i, q, self.epsilon) - dot


LOSSES: dict[str, type[_AngleLoss]] = {
    cls.short_name: cls
    for cls in (AngleMSE, WrappedMSE, AntiWrapL1, CosineAngleLoss, VonMisesNLL,
                UnitVectorLoss, AmpWeightedCosine)
}


def get(name: str, **kwargs) -> keras.losses.Loss:
    """Returns a new loss instance by short name, e.g. ``get("cosine", from_iq=True)``.

    Raises:
        UsageError: (a ``ValueError``) for an unknown name, listing the accepted ones.
    """
    if name not in LOSSES:
        raise UsageError(f"Unknown loss {name!r}; accepted: {', '.join(LOSSES)}")
    return LOSSES[name](**kwargs)


__all__ = [
    "LOSSES",
    "AmpWeightedCosine",
    "AngleMSE",
    "AntiWrapL1",
    "CosineAngleLoss",
    "UnitVectorLoss",
    "VonMisesNLL",
    "WrappedMSE",
    "angle_difference",
    "cos_difference",
    "get",
    "log_i0e",
    "split_prediction",
    "wrap",
]
