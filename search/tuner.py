"""The project's KerasTuner tuner: reports every epoch to the oracle and stops pruned trials."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import keras
import keras_tuner

from search.hooks import TrialContext, TrialHook
from search.oracle import OptunaOracle


class FrozenGCSearch:
    """Tuner mixin: ``search`` runs with the objects alive at its start frozen for the GC.

    KerasTuner's ``_try_build`` runs ``clear_session()`` and ``gc.collect()`` before every
    build: two full collections per trial that, with TensorFlow, Optuna, MLflow and
    matplotlib loaded, scan millions of long-lived objects (0.6-0.9 s each on 2 cores).
    Freezing what exists at the start makes them scan only what the trials create (whose
    garbage is still freed); unfreezing afterwards returns the rest to the collector.
    """

    def search(self, *args: Any, **kwargs: Any) -> Any:
        gc.freeze()
        try:
            return super().search(*args, **kwargs)
        finally:
            gc.unfreeze()


class Tuner(FrozenGCSearch, keras_tuner.Tuner):
    """A ``keras_tuner.Tuner`` that reports each epoch to an :class:`OptunaOracle`.

    KerasTuner stopped passing per-epoch results to its oracle in 2021; this tuner
    reports them from ``on_epoch_end`` and sets ``model.stop_training`` when Optuna's
    pruner says so (raising ``optuna.TrialPruned`` inside ``fit`` would count as a
    failed trial). With any other oracle it behaves as ``keras_tuner.Tuner``.

    Args:
        seed: each trial trains with ``keras.utils.set_random_seed(seed + number)``,
            so a trial can be reproduced from its number alone.
        trial_hooks: :class:`search.hooks.TrialHook` objects; each makes a Keras
            callback for every trial execution.
        space: the :class:`search.spaces.Space` being searched (for hooks).
        tracker: the MLflow :class:`search.tracking.Tracker` (for hooks).
        **kwargs: passed to ``keras_tuner.Tuner``.
    """

    def __init__(
        self,
        *args: Any,
        seed: int | None = None,
        trial_hooks: Sequence[TrialHook] = (),
        space: Any = None,
        tracker: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.trial_hooks = list(trial_hooks)
        self.space = space
        self.tracker = tracker

    def _build_and_fit_model(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        # KerasTuner's documented override point; kwargs are this execution's own copy,
        # so hook callbacks are added here, after KerasTuner's deep copy of `callbacks`.
        context = TrialContext(self, trial, args, kwargs)
        made = [hook.callback(context) for hook in self.trial_hooks]
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), *(c for c in made if c is not None)]
        return super()._build_and_fit_model(trial, *args, **kwargs)

    def on_trial_begin(self, trial: Any) -> None:
        super().on_trial_begin(trial)
        # KerasTuner first saves its state when a trial ends; save it now too, so a
        # process killed in its first trial still resumes (and retries that trial).
        self.save()

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed + int(trial.trial_id))
        return super().run_trial(trial, *args, **kwargs)

    def on_epoch_end(self, trial: Any, model: Any, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(trial, model, epoch, logs)
        if isinstance(self.oracle, OptunaOracle) and logs:
            floats = {k: float(v) for k, v in logs.items() if _is_number(v)}
            if self.oracle.report(trial.trial_id, epoch, floats):
                model.stop_training = True


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
