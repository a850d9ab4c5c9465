"""Heartbeats for running trials, recorded by the worker (ask-and-tell does not do it).

A daemon thread records a heartbeat for every Optuna trial this process is running,
every ``interval`` seconds. A worker that dies (SIGKILL, machine loss) stops beating;
once its trial has been silent for ``grace`` seconds, the next live worker that asks
for a trial fails it (``optuna.storages.fail_stale_trials``) and retries it with the
same parameters. Intervals come from ``SEARCH_HEARTBEAT_INTERVAL`` (default 10 s) and
``SEARCH_HEARTBEAT_GRACE`` (default 60 s).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from search.records import keys

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

DEFAULT_INTERVAL = 10
DEFAULT_GRACE = 60
LOST = "worker lost: no heartbeat"  # the fail reason of a dead worker's trial


def intervals() -> tuple[int, int]:
    """``(interval, grace)`` in seconds from the environment, validated."""
    from search.errors import UsageError

    out = []
    for name, default in (("SEARCH_HEARTBEAT_INTERVAL", DEFAULT_INTERVAL), ("SEARCH_HEARTBEAT_GRACE", DEFAULT_GRACE)):
        raw = os.environ.get(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise UsageError(f"{name} must be a positive whole number of seconds, got {raw!r}.")
        out.append(value)
    interval, grace = out
    if grace <= interval:
        raise UsageError(f"SEARCH_HEARTBEAT_GRACE ({grace}) must exceed SEARCH_HEARTBEAT_INTERVAL ({interval}).")
    return interval, grace


class Heartbeat:
    """Beats for a changing set of running trials until stopped."""

    def __init__(self, storage: optuna.storages.BaseStorage, interval: float) -> None:
        self.storage = storage
        self.interval = interval
        self._trial_ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="search-heartbeat", daemon=True)
        self._thread.start()

    def add(self, trial_id: int) -> None:
        """Starts beating for Optuna storage trial id ``trial_id`` (beats once at once, unless
        it beats already). Optuna finds a trial stale only once it has beaten: a worker beats
        for a trial right after asking for it."""
        with self._lock:
            if trial_id in self._trial_ids:
                return
            self._trial_ids.add(trial_id)
        self._beat(trial_id)

    def remove(self, trial_id: int) -> None:
        with self._lock:
            self._trial_ids.discard(trial_id)

    def stop(self) -> None:
        self._stop.set()

    def _beat(self, trial_id: int) -> None:
        try:
            self.storage.record_heartbeat(trial_id)
        except Exception:  # a missed beat is retried next interval; never kill the trial for it
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = list(self._trial_ids)
            for trial_id in ids:
                self._beat(trial_id)


class StaleTrials:
    """Fails the stale trials of dead workers and keeps those this process must retry."""

    def __init__(self) -> None:
        self.pending: list[FrozenTrial] = []  # failed here, waiting to be retried here

    def collect(self, study: optuna.Study, reason: str = LOST) -> list[FrozenTrial]:
        """Fails every stale RUNNING trial of ``study``; returns those failed by this call.

        Like ``optuna.storages.fail_stale_trials``, but the reason is written while the
        trial is still RUNNING (Optuna refuses attributes on finished trials), and when
        two workers race for one stale trial only the one whose update lands gets it.
        """
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.storages._heartbeat import is_heartbeat_enabled
        from optuna.trial import TrialState

        storage = study._storage
        if not is_heartbeat_enabled(storage):
            return []
        failed = []
        for trial_id in storage._get_stale_trial_ids(study._study_id):
            try:
                storage.set_trial_user_attr(trial_id, keys.FAIL_REASON, reason)
                before = storage.get_trial(trial_id)
                if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    failed.append(before)
            except UpdateFinishedTrialError:
                pass  # another worker failed it first
        return failed
