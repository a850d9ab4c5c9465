"""A tiny regression space for tests: a Dense net on 128 rows, a few hyperparameters."""

import numpy as np

OBJECTIVE = "val_loss"
EPOCHS = 3
SETTINGS = {"noise": [0.1, 0.0]}


def load_data(seed, noise=0.1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((160, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + noise * rng.standard_normal(160)).astype("float32")[:, None]
    return (x[:128], y[:128]), (x[128:], y[128:])


def build(hp):
    import keras

    units = hp.Int("units", 2, 8, step=2)
    activation = hp.Choice("activation", ["relu", "tanh"])
    lr = hp.Float("lr", 1e-3, 1e-1, sampling="log")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(lr), "mse")
    return model
