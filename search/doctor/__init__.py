"""The trial doctor: says why a trial failed, stalled or was pruned.

- :class:`GradientAuditHook`: every trainable variable whose gradient is None, zero or
  non-finite on one batch, named with its layer, before each trial trains;
- :class:`NumericsSentinelHook`: a NaN/inf loss or metric fails the trial at that
  epoch with the reason and the layer where it started (:class:`NumericsError`);
- :class:`TrainingEventsHook`: divergence and jump events with their epoch.

Everything is recorded on the trial's Optuna user attributes and MLflow tags (names in
:mod:`search.records.keys`). A numerics failure also violates the trial's ``finite``
constraint, which :class:`search.engine.FailureAwareTPESampler` (the default ``tpe``) learns from.
"""

from __future__ import annotations

from search._lazy import lazy_getattr

# Public name -> module; loaded on first use, so reading attribute names (results,
# failures) or making the sampler does not import TensorFlow.
_LAZY = {
    "TrainingEventsHook": "search.doctor._events",
    "diverged": "search.doctor._events",
    "GradientAuditHook": "search.doctor._gradients",
    "GradientReport": "search.doctor._gradients",
    "audit_gradients": "search.doctor._gradients",
    "NumericsError": "search.doctor._numerics",
    "NumericsSentinelHook": "search.doctor._numerics",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr("search.doctor", _LAZY)

