"""Runs one method once on a space and records when each trial finished and what it scored.

Fairness: every method trains the same hypermodel on the same data for the same epochs,
and its n-th trial (0, 1, ...) trains with ``keras.utils.set_random_seed(seed + n)``, as
``search run`` seeds its trials. The Optuna methods use the project's oracle and tuner
(Optuna's sampler and pruner, an SQLite study) without MLflow logging or trial hooks,
so the comparison is about search strategies; the harness's logging overhead is
measured separately (``tests/perf/harness_overhead.py``). KerasTuner's tuners run stock.
The ``default`` method is ``search run``'s strategy: its sampler and pruner, and the space's
``SUGGESTED`` configurations as the first trials.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras
    import keras_tuner
    from keras_tuner.engine.trial import Trial

    from search.compare._config import Method
    from search.space import Data, Space

MAX_CONSECUTIVE_FAILURES = 10  # as `search run`: a method stops after 10 failed trials in a row
SUGGESTED = "SUGGESTED"  # the `enqueued` attribute of the space's suggested configurations, as `search run` sets it


@dataclass(frozen=True)
class TrialPoint:
    """One finished trial: seconds since the method started, its value (None unless COMPLETE),
    the epochs it trained, its state and its hyperparameter values."""

    seconds: float
    value: float | None
    epochs: int
    state: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suggested:
    """Configurations a method enqueues before its sampler draws anything (the ``default``
    method: the space's ``SUGGESTED``), checked against ``hp``, the space's declared
    hyperparameters with its settings and ``--set`` values fixed."""

    hp: keras_tuner.HyperParameters
    configs: list[dict[str, Any]]


@dataclass
class Trace:
    """One run of one method: its finished trials in order."""

    method: str
    repeat: int
    seed: int
    points: list[TrialPoint] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return sum(p.epochs for p in self.points)


def _better(direction: str) -> Callable[[float, float], bool]:
    return (lambda a, b: a < b) if direction == "min" else (lambda a, b: a > b)


def best_so_far(trace: Trace, direction: str) -> list[float | None]:
    """The best COMPLETE value after each finished trial (None before the first)."""
    better, best, out = _better(direction), None, []
    for p in trace.points:
        if p.value is not None and math.isfinite(p.value) and (best is None or better(p.value, best)):
            best = p.value
        out.append(best)
    return out


class _BudgetReached(Exception):
    """Raised between trials when the method's budget is spent."""


class _Recording:
    """Tuner mixin: seeds the n-th trial with ``seed + n``, counts epochs, stops at the budget."""

    def _setup_recording(self, trace: Trace, trials: int | None, seconds: float | None) -> None:
        self._trace, self._budget_trials, self._budget_seconds = trace, trials, seconds
        self._started_at = time.monotonic()
        self._epochs_now = 0

    def pre_create_trial(self) -> None:
        done = len(self._trace.points)
        if self._budget_trials is not None and done >= self._budget_trials:
            raise _BudgetReached
        if self._budget_seconds is not None and time.monotonic() - self._started_at >= self._budget_seconds:
            raise _BudgetReached
        super().pre_create_trial()

    def run_trial(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        import keras

        keras.utils.set_random_seed(self._trace.seed + len(self._trace.points))
        self._epochs_now = 0
        return super().run_trial(trial, *args, **kwargs)

    def on_epoch_end(self, trial: Trial, model: keras.Model, epoch: int, logs: dict | None = None) -> None:
        self._epochs_now += 1
        super().on_epoch_end(trial, model, epoch, logs)

    def on_trial_end(self, trial: Trial) -> None:
        super().on_trial_end(trial)
        state = trial.status.name if hasattr(trial.status, "name") else str(trial.status)
        pruned = getattr(self.oracle, "pruned_reason", lambda _: None)(trial.trial_id)
        state = "PRUNED" if pruned and state == "COMPLETED" else ("COMPLETE" if state == "COMPLETED" else "FAIL")
        value = trial.score if state == "COMPLETE" and trial.score is not None else None
        self._trace.points.append(
            TrialPoint(time.monotonic() - self._started_at, None if value is None else float(value), self._epochs_now, state,
                       dict(trial.hyperparameters.values))
        )


def _tuner_class(method: Method) -> type:
    import keras_tuner

    from search.engine.tuner import LeanSearch, Tuner

    base = {
        "kt-random": keras_tuner.RandomSearch,
        "kt-bayesian": keras_tuner.BayesianOptimization,
        "kt-hyperband": keras_tuner.Hyperband,
    }.get(method.name, Tuner)
    # Every method gets what search.Tuner does: per-build garbage collection that scans
    # only the objects the trials created, and each trial's graphs let go after it.
    bases = (_Recording, base) if issubclass(base, LeanSearch) else (_Recording, LeanSearch, base)
    return type(f"Recording{base.__name__}", bases, {})


def _tuner_kwargs(method: Method, objective: keras_tuner.Objective, hp: keras_tuner.HyperParameters, trials: int | None,
                  seconds: float | None, seed: int, epochs: int, workdir: Path) -> dict[str, Any]:
    if method.name == "kt-hyperband":
        # Hyperband iterations repeat until the budget stops it, like the other methods.
        return {"objective": objective, "max_epochs": epochs, "factor": 3, "seed": seed, "hyperparameters": hp,
                "hyperband_iterations": 10**6,
                "max_consecutive_failed_trials": MAX_CONSECUTIVE_FAILURES}
    if method.kt:
        # KerasTuner needs a trial cap; a time budget stops it between trials instead.
        return {"objective": objective, "max_trials": trials or 10**6, "seed": seed, "hyperparameters": hp,
                "max_consecutive_failed_trials": MAX_CONSECUTIVE_FAILURES}
    from search.engine.oracle import OptunaOracle
    from search.engine.samplers import make_pruner, make_sampler

    oracle = OptunaOracle(
        objective=objective, max_trials=trials, storage=f"sqlite:///{workdir / 'optuna.db'}",
        study_name=f"{method.name}-{seed}", sampler=make_sampler(method.sampler, seed),
        pruner=make_pruner(method.pruner, epochs),
        timeout=seconds, hyperparameters=hp, max_consecutive_failed_trials=MAX_CONSECUTIVE_FAILURES,
    )
    return {"oracle": oracle}


def warm_up(space: Space, hp: keras_tuner.HyperParameters, data: Data, methods: Sequence[Method] = (),
            workdir: Path | None = None) -> None:
    """One untimed epoch of the default model, and each method's tuner made once in ``workdir``,
    so no method pays a one-time start-up (TensorFlow's, or the first Optuna study's
    storage set-up, ~0.3 s) that the methods after it do not."""
    import keras_tuner

    model = space.hypermodel().build(hp.copy())
    kwargs = data.fit_kwargs()
    model.fit(kwargs["x"], kwargs["y"], epochs=1, verbose=0)
    objective = keras_tuner.Objective(space.objective, space.direction)
    for method in methods if workdir is not None else ():
        where = workdir / method.name
        where.mkdir(parents=True, exist_ok=True)
        _tuner_class(method)(hypermodel=space.hypermodel(), directory=str(where), project_name="kt", overwrite=True,
                             **_tuner_kwargs(method, objective, hp.copy(), 1, None, 0, 1, where))


def run_method(method: Method, repeat: int, seed: int, *, space: Space, hp: keras_tuner.HyperParameters, data: Data,
               epochs: int, trials: int | None, seconds: float | None, workdir: Path,
               suggested: Suggested | None = None) -> Trace:
    """Runs ``method`` until its budget on ``space`` and returns its trace.

    ``suggested`` (an Optuna method's) is enqueued in the method's study once it exists,
    so its configurations are the first trials, as in ``search run``.
    """
    import keras_tuner

    from search.engine import warm

    trace = Trace(method.name, repeat, seed)
    workdir.mkdir(parents=True, exist_ok=True)
    objective = keras_tuner.Objective(space.objective, space.direction)
    started = time.monotonic()
    kwargs = _tuner_kwargs(method, objective, hp, trials, seconds, seed, epochs, workdir)
    tuner = _tuner_class(method)(
        hypermodel=space.hypermodel(), directory=str(workdir), project_name="kt", overwrite=True, **kwargs
    )
    if suggested is not None and suggested.configs and not method.kt:
        warm.enqueue(tuner.oracle.study, suggested.hp, suggested.configs, SUGGESTED)
    tuner._setup_recording(trace, trials, seconds)
    tuner._started_at = started
    try:
        with warnings.catch_warnings():
            # KerasTuner's Hyperband continues a trial from the weights of its previous
            # round (by design, the optimizer starts afresh); Keras warns on every such load.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer", category=UserWarning)
            tuner.search(**data.fit_kwargs(), epochs=epochs, verbose=0)
    except _BudgetReached:
        pass
    except RuntimeError as e:  # KerasTuner's "... consecutive failures": the method stops there
        if "consecutive" not in str(e):
            raise
    trace.seconds = time.monotonic() - started
    return trace
