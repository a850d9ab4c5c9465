"""Like tiny, but each trial logs a 256 KiB artifact (for the disk-full test)."""

import os
import tempfile

import keras
import numpy as np

from search.space import TrialHook

OBJECTIVE = "val_loss"
EPOCHS = 1


class _BigArtifact(keras.callbacks.Callback):
    def __init__(self, context):
        super().__init__()
        self.context = context

    def on_train_end(self, logs=None):
        path = os.path.join(tempfile.mkdtemp(), "big.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(256 * 1024))
        self.context.log_artifact(path, "big")


class BigArtifactHook(TrialHook):
    def callback(self, context):
        return _BigArtifact(context)


TRIAL_HOOKS = [BigArtifactHook()]


def load_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    return (x[:48], y[:48]), (x[48:], y[48:])


def build(hp):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(hp.Int("units", 1, 4))])
    model.compile("sgd", "mse")
    return model
