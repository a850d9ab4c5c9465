"""Like tiny, but each epoch takes at least 0.5 s, so a test can kill a worker mid-trial."""

import time

import numpy as np

OBJECTIVE = "val_loss"
EPOCHS = 6


def load_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((96, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0])).astype("float32")[:, None]
    return (x[:64], y[:64]), (x[64:], y[64:])


def build(hp):
    import keras

    units = hp.Int("units", 2, 8, step=2)
    lr = hp.Float("lr", 1e-3, 1e-1, sampling="log")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, "relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(lr), "mse")
    return model


def fit(hp, model, *args, callbacks=(), **kwargs):
    import keras

    pause = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: time.sleep(0.5))
    return model.fit(*args, callbacks=[*callbacks, pause], **kwargs)
