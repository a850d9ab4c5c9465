"""The KerasTuner x Optuna core, usable without the CLI.

- :class:`OptunaOracle` (``oracle``): a ``keras_tuner.Oracle`` whose trials are asked of and
  told to an Optuna study, with its per-epoch ``reports``, ``retries`` and ``failures``;
- :class:`Tuner` (``tuner``): a ``keras_tuner.Tuner`` that reports every epoch, so Optuna's
  pruner can stop a trial, and runs the trial hooks;
- ``distributions``: KerasTuner hyperparameters as Optuna distributions, and back;
- ``samplers``: Optuna samplers and pruners by name, the failure-aware TPE among them;
- ``heartbeat``: heartbeats for running trials, and failing the trials of dead workers;
- ``hooks``: the observer contracts, :class:`TrialHook`, :class:`TrialContext` and
  :class:`TrialListener`, and the order of their events.

Importing this package is cheap: names load on first use (TensorFlow is not imported).
"""

from __future__ import annotations

from search._lazy import lazy_getattr

_LAZY = {
    "OptunaOracle": "search.engine.oracle",
    "Tuner": "search.engine.tuner",
    "TrialContext": "search.engine.hooks",
    "TrialHook": "search.engine.hooks",
    "TrialListener": "search.engine.hooks",
    "FailureAwareTPESampler": "search.engine.failure_aware",
    "make_pruner": "search.engine.samplers",
    "make_sampler": "search.engine.samplers",
    "PRUNER_NAMES": "search.engine.samplers",
    "SAMPLER_NAMES": "search.engine.samplers",
    "Heartbeat": "search.engine.heartbeat",
    "StaleTrials": "search.engine.heartbeat",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr("search.engine", _LAZY)
