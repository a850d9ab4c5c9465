"""Optuna samplers and pruners by name, from explicit tables.

``tpe`` is :class:`~search.engine.failure_aware.FailureAwareTPESampler`. Optuna is imported
only when a sampler or pruner is made, so reading the names costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

from search.errors import UsageError

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

SAMPLER_NAMES = ("tpe", "nsga2", "random", "cmaes", "qmc", "grid")
SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)  # Optuna's CMA-ES refuses several objectives
PRUNER_NAMES = ("asha", "median", "percentile", "sha", "hyperband", "wilcoxon", "none")
# What `search run` uses when no --sampler or --pruner is given (README, "Choosing a strategy").
DEFAULT_SAMPLER = "tpe"
DEFAULT_PRUNER = "asha"


def _tpe(seed: int | None, priors: Sequence[FrozenTrial] = (), **_: Any) -> optuna.samplers.BaseSampler:
    from search.engine.failure_aware import FailureAwareTPESampler

    # Multivariate with constant liar is Optuna 5's default; group=True keeps
    # conditional hyperparameters (KerasTuner conditional scopes) in their own groups.
    # Failure-aware: trials failed by a NaN loss (FAIL + violated constraint) count as bad.
    return FailureAwareTPESampler(seed=seed, multivariate=True, group=True, constant_liar=True, priors=priors)


def _nsga2(seed: int | None, **_: Any) -> optuna.samplers.BaseSampler:
    import optuna

    # Reads each trial's constraints (trial.set_constraint) for feasibility, as TPE does.
    # A population of 16 (Optuna: 50) lets the genetic search start within the budgets searched here.
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=16)


def _random(seed: int | None, **_: Any) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _cmaes(seed: int | None, **_: Any) -> optuna.samplers.BaseSampler:
    import optuna

    # Categorical parameters fall back to the independent sampler, quietly.
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _qmc(seed: int | None, **_: Any) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)


def _grid(seed: int | None, grid: dict[str, list] | None = None, **_: Any) -> optuna.samplers.BaseSampler:
    import optuna

    if not grid:
        raise UsageError("The grid sampler needs a non-empty discrete search space.")

    class GridSampler(optuna.samplers.GridSampler):
        # Optuna's after_trial calls study.stop() once the grid is used up, which raises
        # outside study.optimize(); the oracle stops on is_exhausted() instead.
        def after_trial(self, study, trial, state, values) -> None:
            pass

    return GridSampler(grid, seed=seed)


_SAMPLERS: dict[str, Callable[..., Any]] = {
    "tpe": _tpe,
    "nsga2": _nsga2,
    "random": _random,
    "cmaes": _cmaes,
    "qmc": _qmc,
    "grid": _grid,
}


def make_sampler(name: str, seed: int | None = None, **kwargs: Any) -> optuna.samplers.BaseSampler:
    """Returns the Optuna sampler called ``name``.

    Args:
        name: one of :data:`SAMPLER_NAMES`.
        seed: the sampler's seed.
        **kwargs: ``grid`` (name -> values) for the grid sampler; ``priors`` (finished trials of
            another study of the space, :mod:`search.engine.warm`) for TPE, which alone learns
            from them (the others ignore them).
    """
    if name not in _SAMPLERS:
        raise UsageError(f"Unknown sampler {name!r}; accepted: {', '.join(SAMPLER_NAMES)}.")
    return _SAMPLERS[name](seed, **kwargs)


def make_pruner(name: str, max_resource: int) -> optuna.pruners.BasePruner:
    """Returns the Optuna pruner called ``name``.

    Args:
        name: one of :data:`PRUNER_NAMES`.
        max_resource: the number of epochs a full trial trains (the pruners' step axis).
    """
    import optuna

    if name not in PRUNER_NAMES:
        raise UsageError(f"Unknown pruner {name!r}; accepted: {', '.join(PRUNER_NAMES)}.")
    warmup = max(1, max_resource // 5)  # let every trial learn a little before judging it
    from search.engine.asha import AshaPruner

    table: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
        "asha": lambda: AshaPruner(max_resource=max(max_resource, 1)),
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warmup),
        "percentile": lambda: optuna.pruners.PercentilePruner(
            25.0, n_startup_trials=3, n_warmup_steps=warmup
        ),
        "sha": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max(max_resource, 1)
        ),
        "wilcoxon": lambda: optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=warmup),
        "none": optuna.pruners.NopPruner,
    }
    return table[name]()
