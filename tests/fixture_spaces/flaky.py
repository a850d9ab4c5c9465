"""A space whose build raises for one choice: those trials must FAIL, the study go on."""

import os

import numpy as np

OBJECTIVE = "val_loss"
EPOCHS = 2


def load_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    return (x[:48], y[:48]), (x[48:], y[48:])


def build(hp):
    import keras

    mode = hp.Choice("mode", ["ok", "boom"])
    if mode == "boom":
        raise ValueError("boom: this configuration cannot be built")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def fit(hp, model, *args, **kwargs):
    # Lets a test interrupt the study in mid-trial, as Ctrl-C would (not in the start-up probe's
    # one-epoch fit on a handful of rows, before the study exists).
    marker = os.environ.get("FLAKY_INTERRUPT_FILE")
    if marker and not os.path.exists(marker) and len(kwargs["x"]) > 8:
        open(marker, "w").close()
        raise KeyboardInterrupt
    return model.fit(*args, **kwargs)
