"""Positive parameters stored as softplus pre-activations, shared by the layers."""

from __future__ import annotations

import numpy as np
from keras import ops


def inverse_softplus(value, floor: float = 0.0) -> np.ndarray:
    """Returns ``rho`` (float64) with ``softplus(rho) + floor == value``.

    Uses ``v + log(-expm1(-v))`` so that large values do not overflow ``exp``.
    """
    v = np.asarray(value, dtype=np.float64) - floor
    return v + np.log(-np.expm1(-v))


def to_config(value):
    """A float or tuple from :func:`as_float_or_tuple` as a JSON-ready value."""
    return list(value) if isinstance(value, tuple) else value


def positive(raw, floor: float = 0.0):
    """Returns ``softplus(raw) + floor``: positive, with a gradient that never dies."""
    return ops.softplus(raw) + floor


def add_positive_weight(layer, name, value, shape, trainable, floor: float = 0.0):
    """Adds the pre-activation weight ``rho`` of a positive parameter to ``layer``.

    ``value`` (a float or an array broadcastable to ``shape``) is the parameter's
    initial value; ``positive(rho, floor)`` recovers it.
    """
    weight = layer.add_weight(
        name=name, shape=shape, initializer="zeros", trainable=trainable
    )
    weight.assign(np.broadcast_to(inverse_softplus(value, floor), shape))
    return weight


def as_float_or_tuple(value, argument: str) -> float | tuple[float, ...]:
    """Validates a positive float or a non-empty list of them.

    Returns a float or a tuple (layers keep tuples: Keras wraps list attributes in
    tracked lists); ``get_config`` turns tuples back into lists.
    """
    array = np.asarray(value, dtype=np.float64)
    if array.ndim > 1 or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(
            f"Expected `{argument}` to be a positive float or a 1-D list of them. "
            f"Received: {argument}={value!r}"
        )
    if not np.all(array > 0):
        raise ValueError(
            f"Expected `{argument}` to be positive. Received: {argument}={value!r}"
        )
    return float(array) if array.ndim == 0 else tuple(array.tolist())
