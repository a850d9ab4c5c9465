"""Seeds 001/002: a bounded activation (tanh, truncation, trainable bump) after a Conv2D, on 8×8 digits.

Seed 002's pipeline on scikit-learn's bundled 8×8 digits (pixels / 16): ``Conv2D`` (no
bias, 'same') → activation → ``AveragePooling2D(5, strides=2, 'same')`` →
``BatchNormalization`` → ``Dense(10)`` logits. The activation is searched among
``tanh``, :class:`search.layers.Truncation` (gradient mode exact, straight-through or a
trainable PACT threshold; initial T) and the trainable :class:`search.layers.Bump`
(initial σ; one σ shared by every channel or one per channel). The split is the fixed
stratified 5-fold split of :mod:`search.space.datasets` (``--set fold=0`` by default).

``BoundedParamsHook`` logs σ (mean, min and max over channels) and T every epoch, their
change from the initial value, and tags whether they moved and whether a loss was NaN.
"""

from __future__ import annotations

import math

import numpy as np

from search.space import TrialContext, TrialHook, datasets, fit_arrays

OBJECTIVE = ("val_accuracy", "max")
EPOCHS = 20
SETTINGS = {"fold": list(datasets.FOLDS)}

ACTIVATIONS = ("tanh", "truncation", "bump")
TRUNCATION_MODES = ("exact", "straight_through", "trainable")
SIGMA_PARAMETRIZATIONS = ("shared", "per_channel")
OPTIMIZERS = ("adam", "sgd_momentum")
# What a new study runs first: the variant that scored best in spaces/README.md, the trainable bump.
SUGGESTED = [
    {"activation": "bump", "sigma": 1.0, "sigma_parametrization": "shared", "optimizer": "adam",
     "learning_rate": 0.003, "filters": 8, "kernel_size": 5, "batch_size": 32},
]
MOVED = 1e-6  # a parameter "moved" when it changed by more than this (relative)


def load_data(seed: int, fold: int = 0):
    (x, y), (x_val, y_val) = datasets.split("digits", fold, scaled=False)
    image = lambda a: (a / 16.0).reshape(-1, 8, 8, 1).astype("float32")  # noqa: E731 - local shorthand
    return (image(x), y), (image(x_val), y_val)


def _activation(hp):
    import keras

    from search.layers import Bump, Truncation

    kind = hp.Choice("activation", list(ACTIVATIONS))
    with hp.conditional_scope("activation", ["truncation"]):
        mode = hp.Choice("truncation_mode", list(TRUNCATION_MODES))
        threshold = hp.Float("threshold", 0.1, 4.0, sampling="log", default=1.0)
    with hp.conditional_scope("activation", ["bump"]):
        sigma = hp.Float("sigma", 0.1, 10.0, sampling="log", default=1.0)
        parametrization = hp.Choice("sigma_parametrization", list(SIGMA_PARAMETRIZATIONS))
    if kind == "truncation":
        return Truncation(threshold, mode=mode, name="truncation")
    if kind == "bump":
        return Bump(sigma, per_feature=parametrization == "per_channel", name="bump")
    return keras.layers.Activation("tanh", name="tanh")


def build(hp):
    import keras

    filters = hp.Choice("filters", [4, 8, 16], default=8)
    kernel = hp.Choice("kernel_size", [3, 5], default=5)
    activation = _activation(hp)
    optimizer = hp.Choice("optimizer", list(OPTIMIZERS))
    lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log", default=3e-3)
    hp.Choice("batch_size", [16, 32, 64], default=32)  # read by fit()

    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(filters, kernel, padding="same", use_bias=False, name="conv")(inputs)
    x = activation(x)
    x = keras.layers.AveragePooling2D(5, strides=2, padding="same", name="pool")(x)
    x = keras.layers.BatchNormalization(name="batch_norm")(x)
    logits = keras.layers.Dense(10, name="logits")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, logits, name="bounded_activation")
    opt = keras.optimizers.Adam(lr) if optimizer == "adam" else keras.optimizers.SGD(lr, momentum=0.9)
    model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def fit(hp, model, *args, **kwargs):
    # model.fit on the arrays, with one tf.data iterator per fit (see search.space.fit_arrays)
    return fit_arrays(model, *args, batch_size=hp.get("batch_size"), **kwargs)


def bounded_params(model) -> dict[str, float]:
    """The current σ (mean, min, max over channels) and T of the model's bounded activation."""
    from search.layers import Bump, Truncation

    out: dict[str, float] = {}
    for layer in model.layers:
        if isinstance(layer, Bump):
            sigma = np.atleast_1d(layer.sigma_value()).astype(np.float64)
            out.update(sigma=float(sigma.mean()), sigma_min=float(sigma.min()), sigma_max=float(sigma.max()))
        elif isinstance(layer, Truncation):
            out["threshold"] = layer.threshold_value()
    return out


class BoundedParamsHook(TrialHook):
    """Logs σ and T every epoch (and their relative change); tags whether they moved and NaN losses."""

    def callback(self, context: TrialContext):
        import keras

        class Params(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.initial: dict[str, float] = {}
                self.current: dict[str, float] = {}
                self.nan = False

            def on_train_begin(self, logs=None):
                self.initial = bounded_params(self.model)
                if self.initial:
                    context.log_metrics({f"{k}_initial": v for k, v in self.initial.items()})

            def on_epoch_end(self, epoch, logs=None):
                self.nan = self.nan or any(not math.isfinite(float(v)) for v in (logs or {}).values())
                self.current = bounded_params(self.model)
                change = {f"{k}_change": abs(v - self.initial[k]) / max(abs(self.initial[k]), 1e-12)
                          for k, v in self.current.items()}
                context.log_metrics({**self.current, **change}, step=epoch)

            def on_train_end(self, logs=None):
                tags = {"bounded.nan_loss": str(self.nan).lower()}
                for key in ("sigma", "threshold"):
                    if key in self.current:
                        moved = abs(self.current[key] - self.initial[key]) > MOVED * abs(self.initial[key])
                        tags[f"bounded.{key}_moved"] = str(moved).lower()
                        tags[f"bounded.{key}"] = f"{self.initial[key]:.6g} -> {self.current[key]:.6g}"
                context.set_tags(tags)

        return Params()


TRIAL_HOOKS = [BoundedParamsHook()]
