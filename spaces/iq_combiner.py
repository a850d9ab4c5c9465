"""Seed 000: two Conv1D branches joined by add, multiply or atan2, trained to recover a Tukey window.

Data exactly as in the seed: x ~ N(0, 1) of shape (n_train, 512) from a seeded NumPy
generator, mixed down with cos/sin(2πt/32) into I and Q, each filtered by a Tukey window
of length 64 (``scipy.signal.windows.tukey``, 'valid' convolution), and the target
y = f_Q + f_I (``--set target=add``), f_Q·f_I (``multiply``) or atan2(f_Q, f_I)
(``atan2``, the default and the seed's failing case). 256 validation rows come from
the next seed.

Searched: the combiner, the loss (every angle loss of :mod:`search.losses` for the atan2
target, mse/mae otherwise), the initial kernels (Glorot, or the true window plus an
offset, log-uniform 1e-6..1e-1, constant or gaussian), the optimizer and its learning
rate, and the batch size. The objective does not depend on the loss, so trials with
different losses compare: ``val_circ_mse`` for the atan2 target, ``val_mse`` otherwise.

With the atan2 combiner, the losses that need an amplitude (``IQ_LOSSES``) read the
branches as (I, Q) (``Atan2(output_mode="iq")``, no atan2 in the graph); every other
loss reads the angle. With add or multiply, the single output is read as the angle:
``von_mises_nll`` then has κ = 1, ``unit_vector`` uses (cos, sin) of it, and
``amp_weighted_cosine`` is ``cosine`` (a bare angle has amplitude 1).

Each trial logs per epoch (``KernelRecoveryHook``) the uncentred cosine similarity of
both kernels with the window, the mean angle error in degrees, and, once, the number
of epochs it took to succeed (``epochs_to_success``; see :func:`succeeded`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from search.space import TrialContext, TrialHook, fit_arrays

KERNEL_SIZE = 64
LENGTH = 512
PERIOD = 32
VALIDATION_ROWS = 256

EPOCHS = 40
SETTINGS = {"target": ["atan2", "add", "multiply"], "n_train": [1024, 256]}

COMBINERS = ("add", "multiply", "atan2")
# The names of search.losses.LOSSES (checked by the tests), listed here so that loading
# the space (`search spaces`) does not import Keras.
ANGLE_LOSSES = ("mse", "wrapped_mse", "anti_wrap_l1", "cosine", "von_mises_nll", "unit_vector", "amp_weighted_cosine")
IQ_LOSSES = ("von_mises_nll", "unit_vector", "amp_weighted_cosine")
VALUE_LOSSES = ("mse", "mae")
OPTIMIZERS = ("sgd", "sgd_momentum", "adam", "rmsprop")
INITS = ("glorot", "true_offset")

SUCCESS_CIRC_MSE = 1e-3  # ≈ 1.8° RMS
SUCCESS_COSINE = 0.9999
SUCCESS_NORM_RATIO = 0.01  # add: kernel norm within 1% of the window's; multiply: their product

# The seed's own configuration: its combiner, raw MSE, Keras's default SGD, Glorot, batch 32.
SEED_CONFIG = {"loss": "mse", "optimizer": "sgd", "learning_rate": 0.01, "init": "glorot", "batch_size": 32}


def objective(settings: dict[str, Any]) -> tuple[str, str]:
    """``val_circ_mse`` for the angle target, ``val_mse`` otherwise (both loss-independent)."""
    return ("val_circ_mse", "min") if settings["target"] == "atan2" else ("val_mse", "min")


OBJECTIVE = objective


def suggested(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """What a new study runs first (spaces/README.md): for the angle, a wrap-aware loss from
    Glorot, which trains in every measured study; for add and multiply, the matching combiner."""
    if settings["target"] == "atan2":
        return [
            {"combiner": "atan2", "loss": "anti_wrap_l1", "init": "glorot", "optimizer": "adam",
             "learning_rate": 0.04, "batch_size": 32},
            {"combiner": "atan2", "loss": "anti_wrap_l1", "init": "glorot", "optimizer": "sgd_momentum",
             "learning_rate": 0.004, "batch_size": 32},
        ]
    return [{"combiner": settings["target"], "loss": "mse", "init": "glorot", "optimizer": "adam",
             "learning_rate": 0.01, "batch_size": 32}]


SUGGESTED = suggested


def true_kernel() -> np.ndarray:
    """The Tukey window of length 64 both branches should learn (a new array each call)."""
    return _window().copy()


@functools.cache
def _window() -> np.ndarray:
    from scipy.signal import windows

    window = windows.tukey(KERNEL_SIZE)
    window.flags.writeable = False
    return window


def make_iq(rows: int, seed: int, target: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Generates ``rows`` examples of the seed's data: ``([x_I, x_Q], y)``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, LENGTH))
    t = np.linspace(0, LENGTH, LENGTH, endpoint=False)
    x_i = x * np.cos(2 * np.pi * t / PERIOD)
    x_q = x * np.sin(2 * np.pi * t / PERIOD)
    b = true_kernel()
    f_i = np.array([np.convolve(b, row, mode="valid") for row in x_i])
    f_q = np.array([np.convolve(b, row, mode="valid") for row in x_q])
    y = {"add": f_q + f_i, "multiply": f_q * f_i, "atan2": np.arctan2(f_q, f_i)}[target]
    as_input = lambda a: a[..., None].astype("float32")  # noqa: E731 - local shorthand
    return [as_input(x_i), as_input(x_q)], as_input(y)


def load_data(seed: int, target: str = "atan2", n_train: int = 1024):
    return make_iq(n_train, seed, target), make_iq(VALIDATION_ROWS, seed + 1, target)


def _kernel_initializer(init: str, offset: float | None, offset_mode: str | None):
    from search.initializers import KernelPlusOffset

    if init == "glorot":
        return "glorot_uniform"
    # Drawn from NumPy's global generator, which the tuner seeds per trial: reproducible.
    seed = int(np.random.randint(2**31 - 1)) if offset_mode == "gaussian" else None
    return KernelPlusOffset(true_kernel(), offset=offset, mode=offset_mode, seed=seed)


def _optimizer(name: str, lr: float):
    import keras

    return {
        "sgd": lambda: keras.optimizers.SGD(lr),
        "sgd_momentum": lambda: keras.optimizers.SGD(lr, momentum=0.9),
        "adam": lambda: keras.optimizers.Adam(lr),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr),
    }[name]()


def _angle_loss(name: str, iq: bool):
    from search import losses

    if iq:
        return losses.get(name, kappa=None, from_iq=True) if name == "von_mises_nll" else losses.get(name, from_iq=True)
    if name == "amp_weighted_cosine":
        return losses.get("cosine")  # r ≡ 1 for a bare angle: the same loss
    return losses.get(name)


def build(hp):
    import keras

    from search import metrics
    from search.layers import Atan2

    target = hp.get("target")
    combiner = hp.Choice("combiner", list(COMBINERS), default=target)
    loss_name = hp.Choice("loss", list(ANGLE_LOSSES if target == "atan2" else VALUE_LOSSES))
    init = hp.Choice("init", list(INITS))
    with hp.conditional_scope("init", ["true_offset"]):
        offset = hp.Float("offset", 1e-6, 1e-1, sampling="log", default=1e-4)
        offset_mode = hp.Choice("offset_mode", ["constant", "gaussian"])
    optimizer = hp.Choice("optimizer", list(OPTIMIZERS))
    lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log", default=0.01)
    hp.Choice("batch_size", [16, 32, 64, 128], default=32)  # read by fit()

    input_i = keras.Input((LENGTH, 1), name="x_I")
    input_q = keras.Input((LENGTH, 1), name="x_Q")
    branches = {}
    for name, inputs in (("I", input_i), ("Q", input_q)):
        conv = keras.layers.Conv1D(1, KERNEL_SIZE, padding="valid", use_bias=False, name=f"conv_{name}",
                                   kernel_initializer=_kernel_initializer(init, offset, offset_mode))
        branches[name] = conv(inputs)
    iq = target == "atan2" and combiner == "atan2" and loss_name in IQ_LOSSES
    if combiner == "add":
        out = keras.layers.Add(name="add")([branches["Q"], branches["I"]])
    elif combiner == "multiply":
        out = keras.layers.Multiply(name="multiply")([branches["Q"], branches["I"]])
    else:
        out = Atan2(output_mode="iq" if iq else "angle", name="atan2")([branches["Q"], branches["I"]])
    model = keras.Model([input_i, input_q], out, name="iq_combiner")

    if target == "atan2":
        loss = _angle_loss(loss_name, iq)
        tracked = [metrics.CircularMSE(from_iq=iq), metrics.MeanAngleError(from_iq=iq)]
    else:
        loss = loss_name
        tracked = [keras.metrics.MeanSquaredError(name="mse")]
    model.compile(optimizer=_optimizer(optimizer, lr), loss=loss, metrics=tracked)
    return model


def fit(hp, model, *args, **kwargs):
    # model.fit on the arrays, with one tf.data iterator per fit (see search.space.fit_arrays)
    return fit_arrays(model, *args, batch_size=hp.get("batch_size"), **kwargs)


# -- kernel recovery ------------------------------------------------------------------------

def _kernels(model) -> list[np.ndarray]:
    return [model.get_layer(f"conv_{n}").get_weights()[0] for n in ("I", "Q")]


def kernel_cosines(model, kernels: list[np.ndarray] | None = None) -> tuple[float, float]:
    """Uncentred cosine similarity of the I and Q kernels (``kernels``, else the model's)
    with the Tukey window."""
    from search.metrics import kernel_cosine

    return tuple(kernel_cosine(k, _window()) for k in (kernels or _kernels(model)))


def kernel_norm_ratios(model, kernels: list[np.ndarray] | None = None) -> tuple[float, float]:
    """‖learned kernel‖ / ‖window‖ for the I and Q branches (``kernels``, else the model's)."""
    norm = np.linalg.norm(_window())
    return tuple(float(np.linalg.norm(k) / norm) for k in (kernels or _kernels(model)))


def succeeded(target: str, logs: dict[str, float], cosines: tuple[float, float],
              ratios: tuple[float, float]) -> bool:
    """Whether the kernels are recovered (and, for atan2, the angles match).

    - atan2: ``val_circ_mse <= 1e-3`` and both cosines ``>= 0.9999`` (atan2 recovers the
      kernels only up to a common positive scale);
    - add: both cosines ``>= 0.9999`` and both norms within 1% of the window's;
    - multiply: ``|cos| >= 0.9999`` for both with the same sign (a common sign flip
      leaves the product unchanged), and the product of the norms within 1%.
    """
    c_i, c_q = cosines
    if target == "atan2":
        value = logs.get("val_circ_mse", math.inf)
        return value <= SUCCESS_CIRC_MSE and min(c_i, c_q) >= SUCCESS_COSINE
    if target == "add":
        return min(c_i, c_q) >= SUCCESS_COSINE and max(abs(r - 1) for r in ratios) <= SUCCESS_NORM_RATIO
    return (min(abs(c_i), abs(c_q)) >= SUCCESS_COSINE and c_i * c_q > 0
            and abs(ratios[0] * ratios[1] - 1) <= SUCCESS_NORM_RATIO)


def recovery_metrics(target: str, model, logs: dict[str, float]) -> dict[str, float]:
    """The per-epoch kernel-recovery figures of ``model`` (logged by :class:`KernelRecoveryHook`)."""
    kernels = _kernels(model)  # read once an epoch, for both figures
    cosines, ratios = kernel_cosines(model, kernels), kernel_norm_ratios(model, kernels)
    out = {"kernel_cosine_I": cosines[0], "kernel_cosine_Q": cosines[1],
           "kernel_norm_ratio_I": ratios[0], "kernel_norm_ratio_Q": ratios[1],
           "success": float(succeeded(target, logs, cosines, ratios))}
    if "val_mean_angle_error" in logs:
        out["val_mean_angle_error_deg"] = math.degrees(logs["val_mean_angle_error"])
    return out


class KernelRecoveryHook(TrialHook):
    """Logs kernel recovery every epoch and the number of epochs until success."""

    def callback(self, context: TrialContext):
        import keras

        target = context.trial.hyperparameters.get("target")

        class Recovery(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.first: int | None = None
                self.last: dict[str, float] = {}

            def on_epoch_end(self, epoch, logs=None):
                self.last = recovery_metrics(target, self.model, {k: float(v) for k, v in (logs or {}).items()})
                context.log_metrics(self.last, step=epoch)
                if self.first is None and self.last["success"]:
                    self.first = epoch + 1
                    context.log_metrics({"epochs_to_success": self.first})

            def on_train_end(self, logs=None):
                tags = {"iq.epochs_to_success": "never" if self.first is None else str(self.first)}
                tags.update({f"iq.final_{k}": f"{v:.6g}" for k, v in self.last.items()})
                context.set_tags(tags)

        return Recovery()


TRIAL_HOOKS = [KernelRecoveryHook()]


# -- baselines (search baseline iq_combiner) ------------------------------------------------

def baselines(seed: int, epochs: int = EPOCHS, target: str = "atan2", n_train: int = 1024):
    """The seed's configuration trained as the seed did, and the same model holding the true window.

    ``seed_config``: the target's own combiner, raw MSE, SGD(0.01), Glorot, batch 32,
    ``epochs`` epochs. ``true_kernel``: that model with both kernels set to the window,
    not trained: the floor a search can reach. ``true_kernel_plus_1e-4``: the seed's
    second experiment, the window plus 1e-4 on every tap, trained like ``seed_config``.
    """
    from search.space import Baseline, evaluate, train

    data = load_data(seed, target, n_train)
    base = {"target": target, "n_train": n_train, "combiner": target, **SEED_CONFIG}
    results = []
    for name, values, epochs_ in (
        ("seed_config", base, epochs),
        ("true_kernel", base, 0),
        ("true_kernel_plus_1e-4", {**base, "init": "true_offset", "offset": 1e-4, "offset_mode": "constant"}, epochs),
    ):
        model = train(build, fit, values, data, epochs=epochs_, seed=seed)
        if name == "true_kernel":
            for branch in ("I", "Q"):
                model.get_layer(f"conv_{branch}").set_weights([true_kernel().reshape(KERNEL_SIZE, 1, 1)])
        logs = evaluate(model, data, batch_size=values["batch_size"])
        metrics = {**{k: v for k, v in logs.items() if k.startswith("val_")}, **recovery_metrics(target, model, logs)}
        results.append(Baseline(name, metrics, params={**values, "epochs": epochs_}))
    return results


def plots(model, data, hp):
    """The learned kernels against the true Tukey window (a picture per trial in MLflow).

    atan2 recovers the kernels only up to a common scale, so each kernel is drawn
    rescaled to the window's norm; the legend gives the uncentred cosine and the
    norm ratio it had before rescaling.
    """
    from search.space import line_plot

    window = true_kernel()
    series = []
    kernels = _kernels(model)
    cosines, ratios = kernel_cosines(model, kernels), kernel_norm_ratios(model, kernels)
    for name, kernel, cosine, ratio in zip(("I", "Q"), kernels, cosines, ratios):
        kernel = kernel.reshape(-1)
        norm = np.linalg.norm(kernel)
        shown = kernel * (np.linalg.norm(window) / norm) if norm > 0 else kernel
        series.append({"label": f"conv_{name} (rescaled): cosine {cosine:.6f}, norm ratio {ratio:.3f}", "y": shown})
    series.append({"label": "Tukey window (true)", "y": window, "color": "black", "dash": "7,4", "width": 2})  # on top
    title = f"kernels: target {hp.get('target')}, combiner {hp.get('combiner')}, loss {hp.get('loss')}"
    return {"kernels": line_plot(series, title, xlabel="tap", ylabel="weight")}
