"""The helpers a space's ``baselines(seed, **kwargs)`` uses: train and score a configuration as a trial would.

A space offers baselines (the references ``search baseline`` compares its trials with) with
an optional function ``baselines(seed, **kwargs)`` returning a list of :class:`Baseline`,
computed on the same data its ``load_data`` returns for those settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import keras
    import keras_tuner


@dataclass(frozen=True)
class Baseline:
    """One reference result: metrics named like the trials' (``val_accuracy``), and its settings."""

    name: str
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)


def hyperparameters(values: dict[str, Any]) -> keras_tuner.HyperParameters:
    """A ``keras_tuner.HyperParameters`` whose every ``hp.Choice``/``Float``/... returns ``values``."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return hp


def train(build: Callable, fit: Callable | None, values: dict[str, Any], data: Any, epochs: int, seed: int,
          callbacks: list | None = None) -> keras.Model:
    """Builds the configuration ``values`` with ``build(hp)`` and trains it as a trial would.

    Seeds Keras, NumPy and Python with ``seed`` first (as :class:`search.Tuner` does with
    ``seed + trial number``). ``data`` is ``((x, y), (x_val, y_val))``; with
    ``epochs=0`` the model is built but not trained. Returns the model; its
    ``history`` holds the per-epoch logs.
    """
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    hp = hyperparameters(values)
    model = build(hp)
    if epochs:
        (x, y), validation = data
        kwargs = {"validation_data": validation, "epochs": epochs, "verbose": 0, "callbacks": callbacks or []}
        (fit or _plain_fit)(hp, model, x, y, **kwargs)
    return model


def _plain_fit(hp: keras_tuner.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
    return model.fit(*args, **kwargs)


def evaluate(model: keras.Model, data: Any, batch_size: int | None = None) -> dict[str, float]:
    """The model's compiled loss and metrics on the validation part, named ``val_*``."""
    _, (x_val, y_val) = data
    logs = model.evaluate(x_val, y_val, batch_size=batch_size, verbose=0, return_dict=True)
    return {f"val_{k}": float(v) for k, v in logs.items()}
