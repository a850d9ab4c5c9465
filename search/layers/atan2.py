"""Atan2 combiner: the angle of two branches, with gradients that stay finite at 0."""

from __future__ import annotations

import keras
from keras import ops

_OUTPUT_MODES = ("angle", "iq")


def safe_atan2(q, i, epsilon: float = 1e-7):
    """Returns ``atan2(q, i)`` whose gradient uses ``r² + epsilon`` instead of ``r²``.

    The exact gradient of atan2 is ``(i·dq − q·di) / r²`` with ``r² = i² + q²``: it
    grows like ``1/r`` and is 0/0 at the origin. Here the forward value is exactly
    ``atan2(q, i)`` and the gradient is ``(i·dq − q·di) / (r² + epsilon)``, so it is
    bounded by ``1 / (2·sqrt(epsilon))`` and is 0 at the origin. The surrogate
    ``lin − stop_gradient(lin)`` is exactly 0 forward, so no ``where`` is needed and
    no branch can back-propagate ``0·inf``.

    Args:
        q: The quadrature (y) component.
        i: The in-phase (x) component, broadcastable with ``q``.
        epsilon: Added to ``r²`` in the gradient only; must be positive.

    Returns:
        The angle in radians, in ``[-pi, pi]``.
    """
    q_const = ops.stop_gradient(q)
    i_const = ops.stop_gradient(i)
    scale = ops.stop_gradient(1.0 / (i * i + q * q + epsilon))
    lin = (i_const * q - q_const * i) * scale
    return ops.arctan2(q_const, i_const) + (lin - ops.stop_gradient(lin))


@keras.saving.register_keras_serializable(package="search")
class Atan2(keras.layers.Layer):
    """Combines two branches ``[q, i]`` into their angle ``atan2(q, i)``.

    Replaces the seed's ``Lambda(tf.math.atan2)``, which ``safe_mode`` loading refuses.
    Inputs are a list ``[q, i]`` in that order, like ``np.arctan2(q, i)``, of equal
    shapes.

    Args:
        output_mode: ``"angle"`` (default) returns ``atan2(q, i)`` in radians with the
            inputs' shape. ``"iq"`` returns ``stack([i, q], axis=-1)``: the inputs'
            shape plus a trailing axis of size 2 holding ``(I, Q)``, for the losses and
            metrics of :mod:`search.losses` created with ``from_iq=True``; no atan2 is
            then in the graph.
        epsilon: Positive; regularizes the gradient near the origin (see
            :func:`safe_atan2`). Only used with ``output_mode="angle"``.
        **kwargs: Base ``Layer`` arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, output_mode: str = "angle", epsilon: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(
                f"Expected `output_mode` to be one of {_OUTPUT_MODES}. "
                f"Received: output_mode={output_mode!r}"
            )
        if not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(
                f"Expected `epsilon` to be a positive float. Received: epsilon={epsilon!r}"
            )
        self.output_mode = output_mode
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError(
                "Atan2 expects a list of two inputs [q, i]. "
                f"Received: input_shape={input_shape}"
            )
        q_shape, i_shape = (tuple(s) for s in input_shape)
        if len(q_shape) != len(i_shape) or any(
            a is not None and b is not None and a != b for a, b in zip(q_shape, i_shape)
        ):
            raise ValueError(
                "Atan2 expects inputs [q, i] of the same shape. "
                f"Received: q.shape={q_shape}, i.shape={i_shape}"
            )

    def call(self, inputs):
        q, i = inputs
        if self.output_mode == "iq":
            return ops.stack([i, q], axis=-1)
        return safe_atan2(q, i, self.epsilon)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[0])
        return (*shape, 2) if self.output_mode == "iq" else shape

    def get_config(self):
        return {
            **super().get_config(),
            "output_mode": self.output_mode,
            "epsilon": self.epsilon,
        }
