"""What the oracle tells about trials as they run (MLflow tracking, progress display)."""

from __future__ import annotations

from typing import Any


class TrialListener:
    """Receives trial events from :class:`search.OptunaOracle`; every method is optional.

    Methods run in the tuner's process, synchronously: keep them quick.
    """

    def trial_started(self, oracle: Any, trial: Any, optuna_trial: Any) -> None:
        """A KerasTuner trial started as ``optuna_trial`` (a new trial or a retry)."""

    def epoch_ended(self, oracle: Any, trial_id: str, step: int, logs: dict[str, float]) -> None:
        """Epoch ``step`` of trial ``trial_id`` ended with metrics ``logs``."""

    def trial_lost(self, oracle: Any, frozen_trial: Any, reason: str) -> None:
        """A trial whose process died was failed (``frozen_trial`` as it was, RUNNING)."""

    def trial_ended(
        self, oracle: Any, trial: Any, number: int, state: Any, value: float | None, reason: str | None
    ) -> None:
        """Optuna trial ``number`` was told ``state`` (COMPLETE/PRUNED/FAIL)."""
