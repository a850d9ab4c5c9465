"""Linear regression trained into trouble, for the divergence and jump detectors.

- ``scenario=jump`` (seed 000's offset experiment): starts at the true weights plus a
  small offset; plain SGD with a step too large for the curvature walks away from
  the minimum, and the loss rises from the start.
- ``scenario=diverge``: starts at zero and learns for two epochs, then the learning
  rate jumps (a piecewise-constant schedule) and the loss climbs far above its best.
"""

import keras
import numpy as np

OBJECTIVE = "val_loss"
EPOCHS = 4
TRUE_W = np.array([[1.0], [-2.0], [0.5], [1.5]], dtype="float32")


def load_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((80, 4)).astype("float32")
    y = x @ TRUE_W
    return (x[:64], y[:64]), (x[64:], y[64:])


def build(hp):
    scenario = hp.Choice("scenario", ["jump", "diverge"])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False, name="linear")])
    if scenario == "jump":
        model.get_layer("linear").set_weights([TRUE_W + 1e-3])
        optimizer = keras.optimizers.SGD(1.4)
    else:
        model.get_layer("linear").set_weights([np.zeros_like(TRUE_W)])
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay([8], [0.1, 1.6])
        optimizer = keras.optimizers.SGD(schedule)
    model.compile(optimizer, "mse")
    hp.Fixed("batch_size", 16)
    return model


def fit(hp, model, *args, **kwargs):
    return model.fit(*args, batch_size=hp.get("batch_size"), **kwargs)
