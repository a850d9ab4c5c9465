"""How a failed trial reads, and which failures end a search.

KerasTuner ends a search after ``max_consecutive_failed_trials`` FAILED trials in a row: its
safety net against a broken harness. A trial failed by a NaN/inf loss (the trial doctor's
``NumericsError``) says its region of the space is bad, not that the harness is broken:
it neither counts nor breaks a run of failures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from keras_tuner.engine import trial as kt_trial

# "keras_tuner.src.errors.FailedTrialError: ", "search.doctor._numerics.NumericsError: ": the
# messages of these errors are written for the user, so the class name is dropped.
_FAILED_TRIAL_PREFIX = re.compile(r"^[\w.]*(?:FailedTrialError|NumericsError): ")


def reason_line(message: str | None) -> str:
    """The line of a failed trial's message (KerasTuner keeps the traceback) that says why."""
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    return _FAILED_TRIAL_PREFIX.sub("", lines[-1] if lines else "unknown error")


def is_numerics_failure(trial: kt_trial.Trial) -> bool:
    lines = (trial.message or "").strip().splitlines()
    return trial.status == kt_trial.TrialStatus.FAILED and bool(lines) and "NumericsError: " in lines[-1]


def check_consecutive_failures(trials: Iterable[kt_trial.Trial], limit: int | None) -> None:
    """Raises KerasTuner's ``RuntimeError`` once ``limit`` trials in a row (in the order they
    ended) failed for another reason than their numerics."""
    failures = 0
    for trial in trials:
        if is_numerics_failure(trial):
            continue
        failures = failures + 1 if trial.status == kt_trial.TrialStatus.FAILED else 0
        if failures == limit:
            message = f"Number of consecutive failures exceeded the limit of {limit}.\n"
            raise RuntimeError(message + (trial.message or ""))
