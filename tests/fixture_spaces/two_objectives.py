"""A tiny space of two objectives and a constraint, as a space author writes them: the validation
loss against the trainable parameter count (measured by the harness), models over 45 parameters infeasible."""

import numpy as np

OBJECTIVE = [("val_loss", "min"), ("params", "min")]
CONSTRAINTS = ["params<=45"]
EPOCHS = 2


def load_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((160, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0])).astype("float32")[:, None]
    return (x[:128], y[:128]), (x[128:], y[128:])


def build(hp):
    import keras

    units = hp.Int("units", 1, 8)
    lr = hp.Float("lr", 1e-3, 1e-1, sampling="log")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, "tanh"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(lr), "mse")
    return model
