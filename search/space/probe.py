"""The start-up probe: the default model tried once on a few rows of the data, before a study exists."""

from __future__ import annotations

import gc
import numbers
import random
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from search.engine.objectives import COST_METRICS, parse_constraint
from search.errors import DataError, SpaceError

if TYPE_CHECKING:
    import keras
    import keras_tuner

    from search.space.data import Data
    from search.space.loader import Space

FORWARD_ROWS = 4  # validation rows of the forward pass
FIT_ROWS = 8  # training and validation rows of the one-epoch fit
DEFAULTS = "the model built with the default hyperparameters"


def probe(space: Space, settings: dict[str, Any], fixed: dict[str, Any], data: Data) -> None:
    """Refuses (:class:`SpaceError`, :class:`DataError`) a space whose default model cannot run a trial on ``data``.

    The model is built as a trial builds it, with a fresh ``keras_tuner.HyperParameters``
    holding the settings and the ``--set`` values (every other hyperparameter at its
    default), run forward on a few validation rows and trained one epoch, eagerly, on a
    handful of rows through the space's ``fit``, called as a trial calls it. A model that
    is not compiled, does not accept the data, cannot train on the labels or does not
    log the objective is refused in one line, instead of every trial failing the same
    way. Keras's session is cleared and Python's and NumPy's global generators are put
    back, so the trials train exactly as without it.
    """
    import keras

    with _rng_kept():
        try:
            _probe(space, settings, fixed, data)
        finally:
            # As a trial's start does, without its full collection (~0.3 s with TensorFlow loaded): the
            # probe's model is young garbage, freed here before the study's gc.freeze() could keep it.
            keras.backend.clear_session(free_memory=False)
            gc.collect(1)


def _probe(space: Space, settings: dict[str, Any], fixed: dict[str, Any], data: Data) -> None:
    hp = _default_hp(space, settings, fixed)
    hypermodel = space.hypermodel()
    model = _build(space, hypermodel, hp)
    outputs = _forward(model, data.x_val)
    _check_labels(model, outputs, data)
    logs = _one_epoch(hypermodel, hp, model, data)
    if logs is not None:  # None: fit returned the objective's value itself
        for name, _ in space.objectives:
            _check_objective(name, logs)
        for constraint in space.constraints:
            _check_objective(parse_constraint(constraint).metric, logs, what="constraint")


@contextmanager
def _rng_kept() -> Iterator[None]:
    """Puts Python's and NumPy's global generators back as they were (building draws from them)."""
    python, numpy = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)


def _default_hp(space: Space, settings: dict[str, Any], fixed: dict[str, Any]) -> keras_tuner.HyperParameters:
    from search.space.sets import fixed_space

    return fixed_space(space, settings, fixed)


def _build(space: Space, hypermodel: keras_tuner.HyperModel, hp: keras_tuner.HyperParameters) -> keras.Model:
    from search.space.hypermodel import NotATrainableModel, check_built

    try:
        model = hypermodel.build(hp)
        check_built(model, space.name)  # a HyperModel of the space's own is not checked by the trials' build
    except NotATrainableModel as e:
        raise SpaceError(str(e)) from None
    except Exception as e:  # the space's own bug: say where
        raise SpaceError(f"build(hp) of space {space.name!r} failed with its defaults: {type(e).__name__}: "
                         f"{first_line(e)}") from None
    return model


def _forward(model: keras.Model, x_val: Any) -> Any:
    rows = _head(x_val, FORWARD_ROWS)
    try:
        return model(rows, training=False)
    except Exception as e:  # the data does not fit the model: name the shapes
        raise DataError(f"{DEFAULTS} does not accept x_val of shape {_shape(rows)}: {first_line(e)}") from None


def _check_labels(model: keras.Model, outputs: Any, data: Data) -> None:
    """Integer labels outside the classes the model outputs (a sparse categorical or binary loss)."""
    loss = _loss_name(getattr(model, "loss", None))
    if loss is None or isinstance(outputs, (list, tuple, dict)) or isinstance(data.y, (list, tuple)):
        return
    classes = int(outputs.shape[-1]) if len(outputs.shape) > 1 else 1
    if "sparse_categorical" in loss:
        accepted = (0, classes - 1)
    elif "binary" in loss:
        accepted = (0, 1)
    else:
        return
    for name, y in (("y", data.y), ("y_val", data.y_val)):
        y = np.asarray(y)
        low, high = (y.min(), y.max()) if y.size else accepted
        if low < accepted[0] or high > accepted[1]:
            raise DataError(
                f"load_data returned {name} with labels {_num(low)} to {_num(high)}, but {DEFAULTS} outputs "
                f"shape {_shape(outputs)} and its loss {loss} expects labels {accepted[0]} to {accepted[1]}."
            )


def _loss_name(loss: Any) -> str | None:
    """A single loss's name in snake case (``SparseCategoricalCrossentropy`` -> ``sparse_categorical_crossentropy``)."""
    if isinstance(loss, str):
        return loss
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    if loss is None or isinstance(loss, (list, tuple, dict)) or not isinstance(name, str):
        return None
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _one_epoch(hypermodel: keras_tuner.HyperModel, hp: keras_tuner.HyperParameters, model: keras.Model,
               data: Data) -> set[str] | None:
    """Trains one epoch on a handful of rows through the hypermodel's ``fit``, called as a trial calls it;
    the names it logged (None when ``fit`` returned the objective's value, as KerasTuner allows)."""
    import keras

    seen: set[str] = set()

    class Logs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            seen.update(logs or {})

    x, y = _head(data.x, FIT_ROWS), _head(data.y, FIT_ROWS)
    kwargs = {"x": x, "y": y, "validation_data": (_head(data.x_val, FIT_ROWS), _head(data.y_val, FIT_ROWS)),
              "epochs": 1, "verbose": 0}
    model.run_eagerly = True  # one step: tracing the train and test steps would cost more than it
    try:
        result = hypermodel.fit(hp, model, callbacks=[Logs()], **kwargs)
    except Exception:  # noqa: BLE001 - judged by the trials' own way, traced, before refusing
        model.run_eagerly = False
        try:
            result = hypermodel.fit(hp, model, callbacks=[Logs()], **kwargs)
        except Exception as e:  # the labels or the training rows do not fit the model
            raise DataError(f"{DEFAULTS} cannot train on x of shape {_shape(x)} and y of shape {_shape(y)}: "
                            f"{first_line(e)}") from None
    if isinstance(result, numbers.Real):
        return None
    return seen | set(result if isinstance(result, dict) else getattr(result, "history", None) or {})


def _check_objective(objective: str, logs: set[str], what: str = "objective") -> None:
    """``objective`` is a metric the model logs, or one of the harness's cost metrics."""
    if objective not in logs and objective not in COST_METRICS:
        raise SpaceError(f"{what} {objective!r} is not a metric the model logs; it logs: "
                         f"{', '.join(sorted(logs, key=_log_order)) or 'nothing'} "
                         f"(and the harness measures {', '.join(COST_METRICS)}).")


def _log_order(name: str) -> tuple[bool, bool, str]:
    """``loss`` first, then the training metrics, then their ``val_`` twins."""
    return name.startswith("val_"), name.removeprefix("val_") != "loss", name


def _head(value: Any, rows: int) -> Any:
    """The first ``rows`` rows of an array, or of each array of a list (several inputs or outputs)."""
    if isinstance(value, (list, tuple)):
        return [np.asarray(v)[:rows] for v in value]
    return np.asarray(value)[:rows]


def _shape(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(_shape(v) for v in value)}]"
    return str(tuple(int(d) for d in value.shape))


def _num(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else f"{float(value):g}"


_NOISE = re.compile(r"^(Graph execution error:|Exception encountered when calling .*)$")


def first_line(error: BaseException) -> str:
    """The error's first informative line (not Keras's "Exception encountered when calling ..." nor
    TensorFlow's "Graph execution error:"; without colours and node names)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [re.sub(r"^\{\{[^}]*\}\}\s*", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not _NOISE.match(line)]
    line = lines[0] if lines else type(error).__name__
    return line if len(line) <= 300 else line[:297] + "..."
