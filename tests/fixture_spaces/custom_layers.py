"""A tiny two-input space using the project's custom layers, loss and metric (for export tests).

Two Dense branches, one clipped by ``search.layers.Truncation``, are joined by
``search.layers.Atan2``; the model is compiled with the wrapped-MSE angle loss and the
``circ_mse`` metric, so a reload must find four registered serializables.
"""

import numpy as np

OBJECTIVE = "val_loss"
EPOCHS = 2


def load_data(seed):
    rng = np.random.default_rng(seed)
    x_i = rng.standard_normal((96, 6)).astype("float32")
    x_q = rng.standard_normal((96, 6)).astype("float32")
    y = np.arctan2(x_q.sum(1), x_i.sum(1)).astype("float32")[:, None]
    return ([x_i[:64], x_q[:64]], y[:64]), ([x_i[64:], x_q[64:]], y[64:])


def build(hp):
    import keras

    from search import losses, metrics
    from search.layers import Atan2, Truncation

    mode = hp.Choice("truncation", ["exact", "straight_through"])
    lr = hp.Float("lr", 1e-3, 3e-2, sampling="log")
    hp.Choice("batch_size", [16, 32])
    input_i = keras.Input((6,), name="x_I")
    input_q = keras.Input((6,), name="x_Q")
    branch_i = keras.layers.Dense(1, name="branch_I")(input_i)
    branch_q = Truncation(threshold=3.0, mode=mode, name="clip_Q")(keras.layers.Dense(1, name="branch_Q")(input_q))
    out = Atan2(name="angle")([branch_q, branch_i])
    model = keras.Model([input_i, input_q], out)
    model.compile(keras.optimizers.Adam(lr), loss=losses.get("wrapped_mse"), metrics=[metrics.get("circ_mse")])
    return model


def fit(hp, model, *args, **kwargs):
    return model.fit(*args, batch_size=hp.get("batch_size"), **kwargs)
