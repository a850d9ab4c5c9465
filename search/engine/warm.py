"""Configurations that run first: from a file, a space's ``SUGGESTED``, another study's best.

A configuration is a dict of KerasTuner hyperparameter values; it may name only some of
them, and the sampler draws the rest. :func:`check_configs` checks every configuration
against the space before anything is written (a name that is not a hyperparameter, a
value outside its range or choices, a value that contradicts one fixed by ``--set``).
:func:`enqueue` puts them in the Optuna study as WAITING trials, which the next asks take
before the sampler draws anything, whichever worker asks. A configuration already in the
study (waiting, running or finished) is not enqueued again, so a resumed study never
runs one twice.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any

from search.engine import distributions
from search.errors import UsageError
from search.records import keys

if TYPE_CHECKING:
    import keras_tuner
    import optuna
    from keras_tuner.engine.hyperparameters import HyperParameter
    from optuna.trial import FrozenTrial


def _accepted(hp: HyperParameter) -> str:
    from keras_tuner.engine.hyperparameters import Boolean, Choice, Fixed

    if isinstance(hp, Fixed):
        return f"fixed to {hp.value!r}"
    if isinstance(hp, Boolean):
        return "true or false"
    if isinstance(hp, Choice):
        return "one of " + ", ".join(repr(v) for v in hp.values)
    step = f" in steps of {hp.step:g}" if hp.step else ""
    kind = "an integer" if type(hp).__name__ == "Int" else "a number"
    return f"{kind} from {hp.min_value:g} to {hp.max_value:g}{step}"


def _fits(hp: HyperParameter, mapped: distributions.Mapped | None, value: Any) -> bool:
    """Whether ``value`` is one KerasTuner could give ``hp``."""
    from keras_tuner.engine.hyperparameters import Boolean, Choice, Fixed, Float, Int

    if isinstance(hp, Fixed):
        return value == hp.value and isinstance(value, bool) == isinstance(hp.value, bool)
    if isinstance(hp, Boolean):
        return isinstance(value, bool)
    if isinstance(hp, Choice):
        return any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in hp.values)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if isinstance(hp, Int) and not float(value).is_integer():
        return False
    if isinstance(hp, (Int, Float)) and not hp.min_value <= value <= hp.max_value:
        return False
    if mapped is None:
        return True
    try:  # a step: on KerasTuner's grid, as Optuna's distribution holds it
        return bool(mapped.distribution._contains(mapped.distribution.to_internal_repr(mapped.to_param(value))))
    except (ValueError, TypeError):
        return False


def _entries(space: keras_tuner.HyperParameters, name: str) -> list[tuple[HyperParameter, distributions.Mapped | None]]:
    return [(hp, m) for hp, m in zip(space.space, distributions.map_space(space)) if hp.name == name]


def _active_under(hp: HyperParameter, config: dict[str, Any]) -> bool:
    return all(c.name not in config or c.is_active(config) for c in getattr(hp, "conditions", []))


def check_configs(space: keras_tuner.HyperParameters, configs: Any, where: str) -> list[dict[str, Any]]:
    """``configs`` (a list of dicts, as JSON gives them) checked against ``space``.

    Args:
        space: the study's declared hyperparameters (settings and ``--set`` values as Fixed).
        configs: what the file, the space or the other study gave.
        where: names the source in errors ("--enqueue runs.json", "SUGGESTED of space X").

    Raises:
        UsageError: one line naming the configuration, the key and what is accepted.
    """
    if isinstance(configs, dict):
        configs = [configs]
    if not isinstance(configs, (list, tuple)) or not all(isinstance(c, dict) for c in configs):
        raise UsageError(f"{where}: expected a JSON object of hyperparameter values, or a list of them; "
                         f"got {type(configs).__name__}.")
    names = sorted({hp.name for hp in space.space})
    for i, config in enumerate(configs):
        label = f"{where}, configuration {i + 1}" if len(configs) > 1 else where
        for name, value in config.items():
            entries = _entries(space, name)
            if not entries:
                raise UsageError(f"{label}: {name!r} is not a hyperparameter of the space; "
                                 f"accepted: {', '.join(names)}.")
            candidates = [e for e in entries if _active_under(e[0], config)] or entries
            if not any(_fits(hp, m, value) for hp, m in candidates):
                raise UsageError(f"{label}: {name}={value!r} is outside the space; accepted: "
                                 f"{' or '.join(_accepted(hp) for hp, _ in candidates)}.")
    return [dict(c) for c in configs]


def to_params(space: keras_tuner.HyperParameters, config: dict[str, Any]) -> dict[str, Any]:
    """The Optuna params that make the sampler give ``config`` (a checked configuration).

    A hyperparameter defined under several conditions takes the definition whose
    conditions ``config`` satisfies (the first one when its parents are not given);
    Fixed ones need no param.
    """
    params: dict[str, Any] = {}
    for name, value in config.items():
        entries = [e for e in _entries(space, name) if e[1] is not None]
        chosen = [e for e in entries if _active_under(e[0], config) and _fits(e[0], e[1], value)]
        for _, mapped in chosen[:1] or entries[:1]:
            param = mapped.to_param(value)
            params[mapped.optuna_name] = param.item() if hasattr(param, "item") else param
    return params


def enqueue(study: optuna.Study, space: keras_tuner.HyperParameters, configs: Sequence[dict[str, Any]],
            source: str) -> int:
    """Enqueues each checked configuration not yet in ``study``; returns how many were new.

    Each trial records ``source`` under :data:`search.records.keys.ENQUEUED`.
    """
    new = 0
    for config in configs:
        params = to_params(space, config)
        if study._should_skip_enqueue(params):  # enqueue_trial(skip_if_exists=True), but counted
            continue
        study.enqueue_trial(params, user_attrs={keys.ENQUEUED: source})
        new += 1
    return new


def best_trials(trials: Sequence[FrozenTrial], direction: str, k: int) -> list[FrozenTrial]:
    """The ``k`` best COMPLETE trials with a finite value (``direction``: "min" or "max"), best first."""
    from optuna.trial import TrialState

    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    done.sort(key=lambda t: t.value, reverse=direction == "max")
    return done[:k]


def as_config(space: keras_tuner.HyperParameters, trial: FrozenTrial) -> dict[str, Any]:
    """A trial's hyperparameter values as a configuration for ``space``: without the values
    ``space`` fixes (its settings, ``--set``) and the names it does not declare."""
    from keras_tuner.engine.hyperparameters import Fixed

    free = {hp.name for hp in space.space if not isinstance(hp, Fixed)}
    return {k: v for k, v in keys.values_of(trial).items() if k in free}


def priors(space: keras_tuner.HyperParameters, trials: Sequence[FrozenTrial],
           exclude: Container[int] = ()) -> list[FrozenTrial]:
    """Another study's finished trials (COMPLETE with a finite value, and PRUNED), as TPE may see
    them beside this study's: renumbered below 0, and only those whose every param has the
    distribution ``space`` gives it (another ``--set`` or version of the space changes them)."""
    from optuna.trial import TrialState

    dists = {m.optuna_name: m.distribution for m in distributions.map_space(space) if m is not None}
    out: list[FrozenTrial] = []
    for t in trials:
        if t.number in exclude or t.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        if t.state == TrialState.COMPLETE and (t.value is None or not math.isfinite(t.value)):
            continue
        if not t.params or any(dists.get(name) != d for name, d in t.distributions.items()):
            continue
        shown = copy.deepcopy(t)
        shown.number = -1 - len(out)
        out.append(shown)
    return out
