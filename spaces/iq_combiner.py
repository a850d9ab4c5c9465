"""Seed 000: two Conv1D branches joined by add, multiply or atan2, trained to recover a Tukey window.

Data exactly as in the seed: x ~ N(0, 1) of shape (1024, 512), mixed down with
cos/sin(2πt/32) into I and Q, each filtered by a Tukey window of length 64 ('valid'
convolution), and the target y = f_Q + f_I (add), f_Q·f_I (multiply) or
atan2(f_Q, f_I) (atan2, the seed's failing case), chosen with ``--set target=...``.
A separate validation set of 256 rows comes from the next seed.
"""

from __future__ import annotations

import numpy as np

KERNEL_SIZE = 64
LENGTH = 512
PERIOD = 32

OBJECTIVE = ("val_loss", "min")
EPOCHS = 10
SETTINGS = {"target": ["atan2", "add", "multiply"], "n_train": [1024, 256]}


def true_kernel() -> np.ndarray:
    """The Tukey window of length 64 both branches should learn."""
    from scipy.signal import windows

    return windows.tukey(KERNEL_SIZE)


def make_iq(rows: int, seed: int, target: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Generates ``rows`` examples of the seed's data: ``([x_I, x_Q], y)``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, LENGTH))
    t = np.linspace(0, LENGTH, LENGTH, endpoint=False)
    x_i = x * np.cos(2 * np.pi * t / PERIOD)
    x_q = x * np.sin(2 * np.pi * t / PERIOD)
    b = true_kernel()
    f_i = np.array([np.convolve(b, row, mode="valid") for row in x_i])
    f_q = np.array([np.convolve(b, row, mode="valid") for row in x_q])
    y = {"add": f_q + f_i, "multiply": f_q * f_i, "atan2": np.arctan2(f_q, f_i)}[target]
    as_input = lambda a: a[..., None].astype("float32")  # noqa: E731 - local shorthand
    return [as_input(x_i), as_input(x_q)], as_input(y)


def load_data(seed: int, target: str = "atan2", n_train: int = 1024):
    return make_iq(n_train, seed, target), make_iq(256, seed + 1, target)


def build(hp):
    import keras

    from search.layers import Atan2

    target = hp.get("target")
    combiner = hp.Choice("combiner", ["add", "multiply", "atan2"], default=target)
    input_i = keras.Input((LENGTH, 1), name="x_I")
    input_q = keras.Input((LENGTH, 1), name="x_Q")
    conv = lambda name: keras.layers.Conv1D(1, KERNEL_SIZE, padding="valid", use_bias=False, name=name)  # noqa: E731
    branch_i, branch_q = conv("conv_I")(input_i), conv("conv_Q")(input_q)
    if combiner == "add":
        out = keras.layers.Add()([branch_q, branch_i])
    elif combiner == "multiply":
        out = keras.layers.Multiply()([branch_q, branch_i])
    else:
        out = Atan2()([branch_q, branch_i])
    model = keras.Model([input_i, input_q], out)

    optimizer = hp.Choice("optimizer", ["sgd", "sgd_momentum", "adam", "rmsprop"])
    lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    opt = {
        "sgd": lambda: keras.optimizers.SGD(lr),
        "sgd_momentum": lambda: keras.optimizers.SGD(lr, momentum=0.9),
        "adam": lambda: keras.optimizers.Adam(lr),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr),
    }[optimizer]()
    model.compile(optimizer=opt, loss="mse")
    hp.Choice("batch_size", [16, 32, 64])  # declared here so the sampler sees it from trial 0
    return model


def fit(hp, model, *args, **kwargs):
    return model.fit(*args, batch_size=hp.get("batch_size"), **kwargs)
