"""KerasTuner hyperparameters as Optuna distributions, and back.

Every KerasTuner type maps to one Optuna distribution:

========================================  ==========================================
KerasTuner                                Optuna
========================================  ==========================================
``Choice(values)``                        ``CategoricalDistribution(values)``
``Boolean``                               ``CategoricalDistribution([False, True])``
``Int`` / ``Float``, linear (+step)       ``IntDistribution`` / ``FloatDistribution``
``Int`` / ``Float``, ``log``              the same with ``log=True``
``Int`` / ``Float``, ``reverse_log``      log distribution of ``max + min - value``,
                                          under the name ``NAME[reverse_log]``
``log`` / ``reverse_log`` with ``step``   ``CategoricalDistribution`` of KerasTuner's
                                          multiplicative grid (Optuna forbids step+log)
``Fixed``                                 not suggested; the value is used as is
========================================  ==========================================

KerasTuner allows one name under different conditions with different definitions;
Optuna forbids a name whose distribution changes. The first definition of a name keeps
the plain name; a later, different definition is suggested as ``NAME|parent=value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras_tuner
import optuna.distributions as od
from keras_tuner.engine.hyperparameters import Boolean, Choice, Fixed, Float, HyperParameter, Int

from search.errors import UsageError

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Mapped:
    """One KerasTuner hyperparameter as an Optuna parameter."""

    hp: HyperParameter
    optuna_name: str
    distribution: od.BaseDistribution
    mirrored: bool = False  # reverse_log: Optuna holds max + min - value

    def to_value(self, param: Any) -> Any:
        """The KerasTuner value for an Optuna parameter value."""
        if self.mirrored:
            value = self.hp.max_value + self.hp.min_value - param
            return int(round(value)) if isinstance(self.hp, Int) else float(value)
        return param

    def to_param(self, value: Any) -> Any:
        """The Optuna parameter value for a KerasTuner value."""
        if self.mirrored:
            return self.hp.max_value + self.hp.min_value - value
        return value

    def suggest(self, trial: optuna.Trial) -> Any:
        """Suggests this parameter in ``trial`` and returns the KerasTuner value."""
        d = self.distribution
        if isinstance(d, od.CategoricalDistribution):
            param = trial.suggest_categorical(self.optuna_name, d.choices)
        elif isinstance(d, od.IntDistribution):
            param = trial.suggest_int(self.optuna_name, d.low, d.high, step=d.step, log=d.log)
        else:
            param = trial.suggest_float(self.optuna_name, d.low, d.high, step=d.step, log=d.log)
        return self.to_value(param)


def distribution(hp: HyperParameter) -> tuple[od.BaseDistribution, bool] | None:
    """The Optuna distribution of ``hp`` and whether it is mirrored; None for Fixed."""
    if isinstance(hp, Fixed):
        return None
    if isinstance(hp, Boolean):
        return od.CategoricalDistribution([False, True]), False
    if isinstance(hp, Choice):
        return od.CategoricalDistribution(list(hp.values)), False
    if isinstance(hp, (Int, Float)):
        is_int = isinstance(hp, Int)
        low, high, step = hp.min_value, hp.max_value, hp.step
        if hp.sampling == "linear":
            if is_int:
                return od.IntDistribution(low, high, step=step or 1), False
            return od.FloatDistribution(low, high, step=step), False
        if step is not None:  # multiplicative grid
            return od.CategoricalDistribution(sorted(set(hp.values))), False
        dist = od.IntDistribution(low, high, log=True) if is_int else od.FloatDistribution(low, high, log=True)
        return dist, hp.sampling == "reverse_log"
    raise UsageError(
        f"Unsupported hyperparameter type {type(hp).__name__} for {hp.name!r}; "
        "accepted: Choice, Int, Float, Boolean, Fixed."
    )


def _qualified(hp: HyperParameter) -> str:
    conditions = ",".join(
        f"{c.name}={'/'.join(str(v) for v in c.values)}" for c in getattr(hp, "conditions", [])
    )
    return f"{hp.name}|{conditions}" if conditions else f"{hp.name}|{len(hp.conditions)}"


def map_space(space: keras_tuner.HyperParameters) -> list[Mapped | None]:
    """Maps each entry of ``space.space`` (in order) to an Optuna parameter, or None."""
    first: dict[str, od.BaseDistribution] = {}
    mapped: list[Mapped | None] = []
    for hp in space.space:
        found = distribution(hp)
        if found is None:
            mapped.append(None)
            continue
        dist, mirrored = found
        name = hp.name + ("[reverse_log]" if mirrored else "")
        if name in first and first[name] != dist:
            name = _qualified(hp)
        first.setdefault(name, dist)
        mapped.append(Mapped(hp, name, dist, mirrored))
    return mapped


def suggest_values(space: keras_tuner.HyperParameters, trial: optuna.Trial) -> dict[str, Any]:
    """Suggests the active hyperparameters of ``space`` in ``trial``.

    Walks the space in declaration order, as KerasTuner's own random search does, so a
    conditional hyperparameter is suggested only when its parents make it active.
    """
    hps = keras_tuner.HyperParameters()
    for hp, m in zip(space.space, map_space(space)):
        hps.merge([hp])
        if not hps.is_active(hp):
            continue
        hps.values[hp.name] = hp.value if m is None else m.suggest(trial)
    return dict(hps.values)


def params_for_values(
    space: keras_tuner.HyperParameters, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, od.BaseDistribution]]:
    """The Optuna params and distributions that reproduce KerasTuner ``values``."""
    hps = keras_tuner.HyperParameters()
    params: dict[str, Any] = {}
    dists: dict[str, od.BaseDistribution] = {}
    for hp, m in zip(space.space, map_space(space)):
        hps.merge([hp])
        if m is None or hp.name not in values:
            continue
        hps.values[hp.name] = values[hp.name]
        if hps.is_active(hp):
            params[m.optuna_name] = m.to_param(values[hp.name])
            dists[m.optuna_name] = m.distribution
    return params, dists


def grid(space: keras_tuner.HyperParameters) -> dict[str, list]:
    """The grid of a discrete, unconditional space, for Optuna's GridSampler."""
    out: dict[str, list] = {}
    for hp, m in zip(space.space, map_space(space)):
        if m is None:
            continue
        if hp.conditions:
            raise UsageError(f"The grid sampler needs an unconditional space; {hp.name!r} is conditional.")
        d = m.distribution
        if isinstance(d, od.CategoricalDistribution):
            out[m.optuna_name] = list(d.choices)
        elif isinstance(d, od.IntDistribution) and not d.log:
            out[m.optuna_name] = list(range(d.low, d.high + 1, d.step))
        elif isinstance(d, od.FloatDistribution) and d.step is not None:
            n = int(round((d.high - d.low) / d.step))
            out[m.optuna_name] = [d.low + i * d.step for i in range(n + 1)]
        else:
            raise UsageError(
                f"The grid sampler needs discrete hyperparameters; {hp.name!r} is continuous "
                "(give it a step, or fix it with --set)."
            )
    return out
