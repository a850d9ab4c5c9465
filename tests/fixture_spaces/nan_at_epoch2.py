"""A space whose ``mode=nan`` trials produce NaN at epoch 2; ``mode=ok`` trials are healthy.

``NanAfter`` passes its input through, and in training adds NaN from its 3rd call on
(a non-trainable counter): with 64 rows in batches of 32 the first epoch is finite and
the second is NaN, which the numerics sentinel must trace to this layer.
"""

import keras
import numpy as np
from keras import ops

OBJECTIVE = "val_loss"
EPOCHS = 3


@keras.saving.register_keras_serializable(package="tests")
class NanAfter(keras.layers.Layer):
    def __init__(self, calls=2, **kwargs):
        super().__init__(**kwargs)
        self.calls = calls

    def build(self, input_shape):
        self.count = self.add_weight(name="count", shape=(), initializer="zeros", trainable=False)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        self.count.assign(self.count + 1.0)
        return inputs + ops.where(self.count > self.calls, float("nan"), 0.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "calls": self.calls}


def load_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((96, 3)).astype("float32")
    y = x @ np.array([[1.0], [-1.0], [0.5]], dtype="float32")
    return (x[:64], y[:64]), (x[64:], y[64:])


def build(hp):
    mode = hp.Choice("mode", ["nan", "ok"])
    units = hp.Int("units", 2, 6)
    layers = [keras.Input((3,)), keras.layers.Dense(units, name="hidden")]
    if mode == "nan":
        layers.append(NanAfter(name="nan_after"))
    layers.append(keras.layers.Dense(1, name="out"))
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model
