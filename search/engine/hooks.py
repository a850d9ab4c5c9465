"""The observer contracts: what may watch a trial while it runs, and in which order it hears of it.

Two kinds of observers, both optional, both never able to lose a trial:

- A :class:`TrialListener` is told by :class:`~search.engine.oracle.OptunaOracle` about every
  trial of its process (MLflow tracking, the progress display, the study plots). For one
  trial the order is::

      trial_started -> epoch_ended (once per epoch, in order) -> trial_ended

  ``trial_lost`` instead of ``trial_ended`` tells of a trial whose process died (it is then
  failed here, and a retry of it starts with its own ``trial_started``). A retry is a new
  Optuna trial with the same KerasTuner trial id. Listeners run synchronously in the
  tuner's process; an exception in one is printed once and the study goes on.
- A :class:`TrialHook` makes one Keras callback per trial execution, given a
  :class:`TrialContext` (the gradient audit, the numerics sentinel, pictures, the export's
  checkpoint, a space's own ``TRIAL_HOOKS``). ``callback`` is called before ``fit``, after
  the model is built; the callback then sees Keras's own order (``on_train_begin``,
  ``on_epoch_end`` ..., ``on_train_end``). Each epoch, the listeners' ``epoch_ended`` runs
  first (KerasTuner's own callback, ahead of the hooks', reports the epoch to the oracle,
  which may prune), then every hook's ``on_epoch_end``; what a hook logs for an epoch is
  written with the next epoch's metrics, or when the trial ends.

Hooks are made inside ``run_trial``: KerasTuner deep-copies the callbacks given to
``search()``, which would copy the oracle and the tracker too.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras
    import optuna
    from keras_tuner.engine.trial import Trial
    from optuna.trial import FrozenTrial, TrialState

    from search.engine.oracle import OptunaOracle
    from search.engine.tuner import Tuner
    from search.space import Space
    from search.tracking.tracker import Tracker


@dataclass
class TrialContext:
    """What a hook may use while one trial trains."""

    tuner: Tuner
    trial: Trial
    fit_args: tuple = ()
    fit_kwargs: dict = field(default_factory=dict)

    @property
    def oracle(self) -> OptunaOracle:
        return self.tuner.oracle

    @property
    def space(self) -> Space | None:
        """The space being searched (None when the tuner was not given one)."""
        return getattr(self.tuner, "space", None)

    @property
    def tracker(self) -> Tracker | None:
        """The MLflow tracker (None when not tracking)."""
        return getattr(self.tuner, "tracker", None)

    @property
    def trial_id(self) -> str:
        return self.trial.trial_id

    @property
    def number(self) -> int | None:
        """The Optuna trial number currently running this trial."""
        numbers = getattr(self.oracle, "optuna_number", None)
        return numbers(self.trial_id) if numbers else None

    @property
    def trial_dir(self) -> str:
        """KerasTuner's folder of this trial (checkpoints live there)."""
        return self.oracle._get_trial_dir(self.trial_id)

    def training_data(self) -> tuple[Any, Any]:
        """``(x, y)`` as given to ``fit``."""
        x = self.fit_kwargs.get("x", self.fit_args[0] if self.fit_args else None)
        y = self.fit_kwargs.get("y", self.fit_args[1] if len(self.fit_args) > 1 else None)
        return x, y

    def validation_data(self) -> tuple[Any, Any] | None:
        return self.fit_kwargs.get("validation_data")

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        """Logs a file or folder on the trial's MLflow run (no-op without a tracker)."""
        if self.tracker is not None:
            self.tracker.log_trial_artifact(self.trial_id, local_path, artifact_path)

    def set_tags(self, tags: dict[str, str]) -> None:
        """Sets tags on the trial's MLflow run, written with its next epoch metrics (no-op without a tracker)."""
        if self.tracker is not None:
            self.tracker.set_trial_tags(self.trial_id, tags)

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        """Logs metrics on the trial's MLflow run, written with its epoch metrics (no-op without a tracker)."""
        if self.tracker is not None:
            self.tracker.log_trial_metrics(self.trial_id, metrics, step)


class TrialHook:
    """Makes a Keras callback for each trial execution; return None to skip a trial."""

    def callback(self, context: TrialContext) -> keras.callbacks.Callback | None:
        raise NotImplementedError


class TrialListener:
    """Receives the trial events of :class:`~search.engine.oracle.OptunaOracle`; every method is optional.

    Methods run in the tuner's process, synchronously: keep them quick.
    """

    def trial_started(self, oracle: OptunaOracle, trial: Trial, optuna_trial: optuna.Trial) -> None:
        """A KerasTuner trial started as ``optuna_trial`` (a new trial or a retry)."""

    def epoch_ended(self, oracle: OptunaOracle, trial_id: str, step: int, logs: dict[str, float]) -> None:
        """Epoch ``step`` of trial ``trial_id`` ended with metrics ``logs``."""

    def trial_lost(self, oracle: OptunaOracle, frozen_trial: FrozenTrial, reason: str) -> None:
        """A trial whose process died was failed (``frozen_trial`` as it was, RUNNING)."""

    def trial_ended(
        self, oracle: OptunaOracle, trial: Trial, number: int, state: TrialState, value: float | None,
        reason: str | None,
    ) -> None:
        """Optuna trial ``number`` was told ``state`` (COMPLETE/PRUNED/FAIL)."""


def notify(listeners: Sequence[TrialListener], event: str, *args: Any) -> None:
    """Calls ``event`` on every listener in order. A listener (MLflow logging, a display) must
    never lose a trial, whose state Optuna already holds: an error in one is printed once per
    listener and event, and the others are still called."""
    for listener in listeners:
        try:
            getattr(listener, event)(*args)
        except Exception as e:  # noqa: BLE001 - reported, never fatal to the trial
            _warn_once(f"{type(listener).__name__}.{event} failed: {type(e).__name__}: {str(e)[:300]}")


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    key = message.split(":", 1)[0]
    if key not in _WARNED:
        _WARNED.add(key)
        print(f"warning: {message} (the trial's state is kept in Optuna; `search reconcile` "
              "closes runs left open once the tracking server is back)", file=sys.stderr)
