"""The progress display of a running study: trials done, pruned, failed, best so far, epochs."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from search.listeners import TrialListener


class StudyProgress(TrialListener):
    """A rich progress display fed by the oracle's trial events.

    Prints one line per finished trial (so logs of non-interactive runs show progress
    too) under a live bar of trials and a bar of the running trial's epochs.
    """

    def __init__(self, total: int | None, epochs: int, done: int = 0, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.epochs = epochs
        self.counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        self.best: float | None = None
        self._started: dict[str, float] = {}
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._trials = self._progress.add_task("trials", total=total, completed=done, status="")
        self._epochs = self._progress.add_task("epochs", total=epochs, status="", visible=False)

    def __enter__(self) -> StudyProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def _status(self) -> str:
        c = self.counts
        best = "-" if self.best is None else f"{self.best:.4g}"
        return f"complete {c['COMPLETE']} · pruned {c['PRUNED']} · failed {c['FAIL']} · best {best}"

    def trial_started(self, oracle: Any, trial: Any, optuna_trial: Any) -> None:
        self._started[trial.trial_id] = time.monotonic()
        self._progress.update(
            self._epochs, description=f"trial {optuna_trial.number}", completed=0,
            total=self.epochs, visible=True, status="",
        )

    def epoch_ended(self, oracle: Any, trial_id: str, step: int, logs: dict[str, float]) -> None:
        value = logs.get(oracle.objective.name)
        status = "" if value is None else f"{oracle.objective.name} {value:.4g}"
        self._progress.update(self._epochs, completed=step + 1, status=status)

    def trial_ended(
        self, oracle: Any, trial: Any, number: int, state: Any, value: float | None, reason: str | None
    ) -> None:
        name = getattr(state, "name", str(state))
        self.counts[name] = self.counts.get(name, 0) + 1
        if name == "COMPLETE" and value is not None and math.isfinite(value):
            better = max if oracle.objective.direction == "max" else min
            self.best = value if self.best is None else better(self.best, value)
        seconds = time.monotonic() - self._started.pop(trial.trial_id, time.monotonic())
        detail = f"{oracle.objective.name}={value:.6g}" if value is not None else (reason or "")
        # soft_wrap: never crop the reason at the console width (80 columns in a log file).
        self._progress.console.print(f"trial {number:>4} {name:<8} {detail} ({seconds:.1f} s)", highlight=False,
                                     soft_wrap=True)
        self._progress.update(self._trials, advance=0 if reason and "will retry" in reason else 1, status=self._status())
        self._progress.update(self._epochs, visible=False)
