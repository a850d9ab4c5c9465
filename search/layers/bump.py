"""Trainable generalized bump: exp(−σ / (σ − x²)) on x² < σ, 0 elsewhere."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from search.layers._positive import (
    add_positive_weight,
    as_float_or_tuple,
    positive,
    to_config,
)

# Inside the support, exp(−σ/d) with σ/d ≥ _CUT is below exp(−80) ≈ 1.8e-35 and is
# returned as exactly 0: its gradient σ/d² would overflow float32 and meet 0 · inf.
_CUT = 80.0


@keras.saving.register_keras_serializable(package="search")
class Bump(keras.layers.Layer):
    """Elementwise generalized bump ``f(x; σ) = exp(−σ / (σ − x²))`` with trainable σ.

    The support is ``x² < σ`` (the pole is at ``|x| = sqrt(σ)``); ``f`` is 0 outside
    and ``f(0) = exp(−1)``. Unlike the seed's ``tf.cond``, σ is in the output, so it
    receives ``∂f/∂σ = f·x² / (σ − x²)²``. Both ``where``s guard the denominator, so
    no NaN flows back from the unselected branch at or beyond the support boundary,
    and values below ``exp(−80)`` are returned as 0 (see ``_CUT``).

    σ is stored as ``σ = softplus(ρ) + sigma_min``, so it stays positive and its
    gradient never dies at 0 (a ``NonNeg`` constraint can pin it there for good).

    Args:
        sigma: Initial σ: a positive float, or a list with one value per feature
            (needs ``per_feature=True``). Must exceed ``sigma_min``.
        per_feature: If True, one σ per feature (last input axis); else a scalar.
        sigma_min: Lower bound of σ, ``>= 0``.
        **kwargs: Base ``Layer`` arguments; ``trainable=False`` fixes σ.
    """

    def __init__(self, sigma=1.0, per_feature: bool = False, sigma_min: float = 1e-4,
                 **kwargs):
        super().__init__(**kwargs)
        sigma = as_float_or_tuple(sigma, "sigma")
        if not isinstance(per_feature, bool):
            raise ValueError(
                "Expected `per_feature` to be a bool. "
                f"Received: per_feature={per_feature!r}"
            )
        if isinstance(sigma, tuple) and not per_feature:
            raise ValueError(
                "A list of `sigma` values needs per_feature=True. "
                f"Received: sigma={list(sigma)}, per_feature=False"
            )
        if not isinstance(sigma_min, (int, float)) or not 0 <= sigma_min < np.min(sigma):
            raise ValueError(
                "Expected `sigma_min` to be a float >= 0 and below every `sigma`. "
                f"Received: sigma_min={sigma_min!r}, sigma={to_config(sigma)}"
            )
        self.sigma = sigma
        self.per_feature = per_feature
        self.sigma_min = float(sigma_min)

    def build(self, input_shape):
        shape = ()
        if self.per_feature:
            features = input_shape[-1]
            if features is None:
                raise ValueError(
                    "Bump(per_feature=True) needs a known last input dimension. "
                    f"Received: input_shape={input_shape}"
                )
            if isinstance(self.sigma, tuple) and len(self.sigma) != features:
                raise ValueError(
                    f"Expected {features} `sigma` values, one per feature. "
                    f"Received: sigma={list(self.sigma)}"
                )
            shape = (features,)
        self.rho = add_positive_weight(
            self, "rho", self.sigma, shape, trainable=True, floor=self.sigma_min
        )

    def call(self, inputs):
        sigma = positive(self.rho, self.sigma_min)
        d = sigma - ops.square(inputs)
        inside = sigma < _CUT * d  # implies d > 0
        d_safe = ops.where(inside, d, ops.ones_like(d))
        return ops.where(inside, ops.exp(-sigma / d_safe), ops.zeros_like(d))

    def sigma_value(self):
        """Returns the current σ as a NumPy value (the layer must be built)."""
        return ops.convert_to_numpy(positive(self.rho, self.sigma_min))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "sigma": to_config(self.sigma),
            "per_feature": self.per_feature,
            "sigma_min": self.sigma_min,
        }
