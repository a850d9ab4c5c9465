"""Truncation clip(x, −T, T) with a choice of gradient."""

from __future__ import annotations

import keras
from keras import ops

from search.layers._positive import add_positive_weight, positive

_MODES = ("exact", "straight_through", "trainable")


@keras.saving.register_keras_serializable(package="search")
class Truncation(keras.layers.Layer):
    """Elementwise ``clip(x, −T, T)`` (seed 002) with a selectable gradient.

    Modes:
        ``"exact"``: the clip's own gradient, 1 inside ``[−T, T]`` and 0 outside.
        ``"straight_through"``: ``x + stop_gradient(clip(x) − x)``, Keras's own
            idiom: the forward pass is the clip, the gradient w.r.t. ``x`` is 1
            everywhere. T is a constant.
        ``"trainable"``: PACT-style learned threshold, ``T = softplus(ρ)`` so it
            stays positive; ``∂y/∂T = sign(x)·1[|x| > T]``, and the gradient w.r.t.
            ``x`` is the exact clip's.

    Args:
        threshold: T, a positive float (the initial value in ``"trainable"`` mode).
        mode: One of ``"exact"``, ``"straight_through"``, ``"trainable"``.
        **kwargs: Base ``Layer`` arguments.
    """

    def __init__(self, threshold: float = 1.0, mode: str = "exact", **kwargs):
        super().__init__(**kwargs)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or (
            not threshold > 0
        ):
            raise ValueError(
                "Expected `threshold` to be a positive float. "
                f"Received: threshold={threshold!r}"
            )
        if mode not in _MODES:
            raise ValueError(
                f"Expected `mode` to be one of {_MODES}. Received: mode={mode!r}"
            )
        self.threshold = float(threshold)
        self.mode = mode

    def build(self, input_shape):
        if self.mode == "trainable":
            self.rho = add_positive_weight(
                self, "rho", self.threshold, (), trainable=True
            )

    def call(self, inputs):
        if self.mode == "trainable":
            t = ops.cast(positive(self.rho), inputs.dtype)
            # minimum/maximum (not ops.clip) so that T receives its gradient.
            return ops.minimum(ops.maximum(inputs, -t), t)
        clipped = ops.clip(inputs, -self.threshold, self.threshold)
        if self.mode == "straight_through":
            return inputs + ops.stop_gradient(clipped - inputs)
        return clipped

    def threshold_value(self) -> float:
        """Returns the current T (the learned one in ``"trainable"`` mode, once built)."""
        if self.mode == "trainable":
            return float(ops.convert_to_numpy(positive(self.rho)))
        return self.threshold

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold, "mode": self.mode}
