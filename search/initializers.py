"""Initializers: a known kernel plus an offset (seed 000's near-optimum experiment)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

_MODES = ("constant", "gaussian")


@keras.saving.register_keras_serializable(package="search")
class KernelPlusOffset(keras.initializers.Initializer):
    """Returns ``kernel + offset`` (``"constant"``) or ``kernel + offset·N(0, 1)``.

    Reproduces the seed's experiment of starting at the true kernel shifted by 1e-5 or
    1e-4. The kernel is reshaped to the weight's shape when the two agree up to size-1
    axes, so a Tukey window of shape (64,) initializes a ``Conv1D(1, 64)`` kernel of
    shape (64, 1, 1). Values are computed in float64 with NumPy, then cast.

    Args:
        kernel: The known kernel, a (nested) list or array of finite values.
        offset: The offset size, ``>= 0``.
        mode: ``"constant"`` adds ``offset`` to every tap; ``"gaussian"`` adds
            independent ``N(0, offset²)`` noise.
        seed: Seed of the gaussian noise; None draws fresh noise on every call.
    """

    def __init__(self, kernel, offset: float = 1e-4, mode: str = "constant",
                 seed: int | None = None):
        array = np.asarray(kernel, dtype=np.float64)
        if array.size == 0 or not np.all(np.isfinite(array)):
            raise ValueError(
                "Expected `kernel` to be a non-empty array of finite values. "
                f"Received: kernel with shape {array.shape}"
            )
        if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not (
            offset >= 0 and np.isfinite(offset)
        ):
            raise ValueError(
                f"Expected `offset` to be a finite float >= 0. Received: offset={offset!r}"
            )
        if mode not in _MODES:
            raise ValueError(
                f"Expected `mode` to be one of {_MODES}. Received: mode={mode!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                f"Expected `seed` to be an integer or None. Received: seed={seed!r}"
            )
        self.kernel = array
        self.offset = float(offset)
        self.mode = mode
        self.seed = seed

    def __call__(self, shape, dtype=None):
        shape = tuple(int(d) for d in shape)
        squeezed = tuple(d for d in shape if d != 1)
        if tuple(d for d in self.kernel.shape if d != 1) != squeezed:
            raise ValueError(
                f"KernelPlusOffset: a kernel of shape {self.kernel.shape} does not fit "
                f"a weight of shape {shape} (size-1 axes aside)."
            )
        values = self.kernel.reshape(shape)
        if self.mode == "gaussian":
            noise = np.random.default_rng(self.seed).standard_normal(shape)
            values = values + self.offset * noise
        else:
            values = values + self.offset
        return ops.convert_to_tensor(values, dtype=dtype or keras.backend.floatx())

    def get_config(self):
        return {
            "kernel": self.kernel.tolist(),
            "offset": self.offset,
            "mode": self.mode,
            "seed": self.seed,
        }


__all__ = ["KernelPlusOffset"]
