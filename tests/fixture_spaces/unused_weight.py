"""Seed 001's bug: a layer whose trainable weight appears only in a boolean condition.

``ThresholdBump`` computes a bump function of its input and keeps it where the input is
below ``threshlevel``; the weight decides which elements are kept but is not part of
any value, so it never receives a gradient. The audit must name it.
"""

import keras
import numpy as np
from keras import ops

OBJECTIVE = "val_loss"
EPOCHS = 1


@keras.saving.register_keras_serializable(package="tests")
class ThresholdBump(keras.layers.Layer):
    def build(self, input_shape):
        self.threshold_level = self.add_weight(name="threshlevel", shape=(1,), initializer="glorot_uniform")

    def call(self, inputs):
        inside = ops.square(inputs) < 1.0
        safe = ops.where(inside, inputs, 0.0)  # double where: no 0 * inf in the gradient
        bump = ops.where(inside, ops.exp(-1.0 / (1.0 - ops.square(safe))), 0.0)
        return ops.where(ops.less(inputs, self.threshold_level), bump, 0.0)

    def compute_output_shape(self, input_shape):
        return input_shape


def load_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (64, 3)).astype("float32")
    y = np.exp(-x.sum(axis=1, keepdims=True) ** 2).astype("float32")
    return (x[:48], y[:48]), (x[48:], y[48:])


def build(hp):
    units = hp.Int("units", 2, 4)
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(units, name="dense"),
        ThresholdBump(name="threshold_bump"),
        keras.layers.Dense(1, name="out"),
    ])
    model.compile("sgd", "mse")
    return model
