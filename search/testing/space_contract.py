"""One contract check for every search space (TensorFlow backend).

:func:`check_space` loads a space, builds it once per *variant* (the defaults, then each
value of each categorical hyperparameter in turn, with the parents that make it active)
and checks that one gradient step on a batch of the space's own training data gives
every trainable variable a non-None, finite gradient. Then it runs one short real trial
through :func:`search.run_study` (Optuna and MLflow stores under the current
``SEARCH_HOME``) and checks that it completed with a finite objective.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from keras_tuner.engine.hyperparameters import HyperParameter

    from search.space import Space


# Hyperparameters that only the training loop reads: varying them cannot change a gradient.
TRAINING_ONLY = ("batch_size",)


class SpaceContractError(AssertionError):
    """A space that breaks the contract; the message names the space, the variant and the step."""


@dataclass(frozen=True)
class SpaceCheck:
    """What :func:`check_space` verified."""

    space: str
    variants: list[dict[str, Any]]
    trial_value: float


def _categorical(hp: HyperParameter) -> list[Any] | None:
    from keras_tuner.engine.hyperparameters import Boolean, Choice

    if isinstance(hp, Boolean):
        return [False, True]
    if isinstance(hp, Choice):
        return list(hp.values)
    return None


def _activate(values: dict[str, Any], hp: HyperParameter, by_name: dict[str, HyperParameter]) -> None:
    """Sets the parents of ``hp`` (and theirs) to values that make it active."""
    for condition in getattr(hp, "conditions", []):
        values[condition.name] = condition.values[0]
        if condition.name in by_name:
            _activate(values, by_name[condition.name], by_name)


def _complete(values: dict[str, Any], space: list[Any]) -> dict[str, Any]:
    """Adds the defaults of hyperparameters ``values`` makes active and drops the inactive ones."""
    for _ in space:  # enough passes for any depth of nesting
        changed = False
        for hp in space:
            active = all(values.get(c.name) in c.values for c in getattr(hp, "conditions", []))
            if active and hp.name not in values:
                values[hp.name], changed = hp.default, True
            elif not active and hp.name in values:
                del values[hp.name]
                changed = True
        if not changed:
            return values
    return values


def variants(space: Space, settings: dict[str, Any], skip: Collection[str] = ()) -> list[dict[str, Any]]:
    """The defaults, then one variant per value of each categorical hyperparameter not in ``skip``."""
    from search.space.sets import declared_space

    declared = declared_space(space, settings)
    defaults = dict(declared.values)
    by_name = {hp.name: hp for hp in declared.space}
    out, seen = [defaults], {tuple(sorted(map(str, defaults.items())))}
    for hp in declared.space:
        choices = None if hp.name in settings or hp.name in skip else _categorical(hp)
        for value in choices or ():
            values = dict(defaults)
            _activate(values, hp, by_name)
            values[hp.name] = value
            values = _complete(values, declared.space)
            key = tuple(sorted(map(str, values.items())))
            if key not in seen:
                seen.add(key)
                out.append(values)
    return out


def _batch(part: Any, rows: int) -> Any:
    if isinstance(part, (list, tuple)):
        return [np.asarray(p)[:rows] for p in part]
    return np.asarray(part)[:rows]


def check_gradients(space: Space, values: dict[str, Any], x: Any, y: Any) -> None:
    """Builds ``values`` and checks one gradient step on ``(x, y)`` reaches every trainable variable."""
    import keras
    import tensorflow as tf

    from search.space.baselines import hyperparameters

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = space.hypermodel().build(hyperparameters(values))
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
    grads = tape.gradient(loss, model.trainable_variables)
    if not model.trainable_variables:
        raise SpaceContractError(f"Space {space.name!r} with {values}: the model has no trainable variable.")
    for variable, grad in zip(model.trainable_variables, grads):
        if grad is None:
            raise SpaceContractError(f"Space {space.name!r} with {values}: variable {variable.path!r} gets no gradient.")
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(grad))):
            raise SpaceContractError(f"Space {space.name!r} with {values}: variable {variable.path!r} has a non-finite gradient.")


def check_space(spec: str, sets: dict[str, str] | None = None, epochs: int = 1, batch: int = 16,
                trial: bool = True, skip: Collection[str] = TRAINING_ONLY) -> SpaceCheck:
    """Checks space ``spec`` (a name or a path): gradients for every variant, then one short trial.

    Args:
        spec: a space name (``spaces/NAME.py``) or a path.
        sets: ``--set`` pairs (settings only) for smaller, faster data, e.g. ``{"n_train": "256"}``.
        epochs: epochs of the short trial.
        batch: rows of training data for the gradient step.
        trial: also run the short trial through :func:`search.run_study`.
        skip: hyperparameters not varied: those only the training loop reads (batch size).
    """
    from search.space.data import load_data
    from search.space.loader import load_space
    from search.space.sets import resolve_sets
    from search.study.config import StudyConfig
    from search.study.run import run_study

    space = load_space(spec)
    settings, fixed = resolve_sets(space, dict(sets or {}))
    if fixed:
        raise SpaceContractError(f"check_space takes settings only; {sorted(fixed)} are hyperparameters.")
    space = space.with_settings(settings)
    data = load_data(space, 0, settings)
    x, y = _batch(data.x, batch), _batch(data.y, batch)
    checked = variants(space, settings, skip)
    for values in checked:
        check_gradients(space, values, x, y)
    value = math.nan
    if trial:
        result = run_study(StudyConfig(space=spec, study=f"contract-{space.name}", trials=1, epochs=epochs,
                                       sets=dict(sets or {}), progress=False))
        if result.complete != 1 or result.best_value is None or not math.isfinite(result.best_value):
            raise SpaceContractError(
                f"Space {space.name!r}: the short trial did not complete with a finite {space.objective} "
                f"({result.complete} complete, {result.failed} failed, best {result.best_value})."
            )
        value = result.best_value
    return SpaceCheck(space.name, checked, value)


__all__ = ["SpaceCheck", "SpaceContractError", "check_gradients", "check_space", "variants"]
