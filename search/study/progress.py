"""The progress display of a running study: trials done, pruned, failed, best so far, epochs.

:class:`StudyProgress` follows the trials of this process (a listener of its oracle);
:class:`WorkersProgress` follows every worker's trials of ``search run --workers``, read
back from the Optuna storage on a thread.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from search.engine.hooks import TrialListener
from search.records import keys
from search.records.pareto import front, values_text

if TYPE_CHECKING:
    import optuna
    from keras_tuner.engine.trial import Trial
    from optuna.trial import FrozenTrial, TrialState

    from search.engine.oracle import OptunaOracle
    from search.study.plan import Plan

POLL_S = 1.0  # how often WorkersProgress reads the storage


def _notes(attrs: dict[str, Any]) -> str:
    """What a trial's line adds to its value: its GPU (on a machine with one) and the doctor's findings."""
    device = attrs.get(keys.DEVICE) or ""
    notes = [device] if device.startswith("gpu") else []
    notes += filter(None, [keys.findings_of(attrs)])
    return "".join(f" · {note}" for note in notes)


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
        self.front: int | None = None  # trials on the Pareto front (several objectives)
        self._started: dict[str, float] = {}
        self._optuna: dict[str, optuna.Trial] = {}
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
        if self.front is not None:
            best = f"front {self.front}"
        return f"complete {c['COMPLETE']} · pruned {c['PRUNED']} · failed {c['FAIL']} · best {best}"

    def trial_started(self, oracle: OptunaOracle, trial: Trial, optuna_trial: optuna.Trial) -> None:
        self._started[trial.trial_id] = time.monotonic()
        self._optuna[trial.trial_id] = optuna_trial
        self._progress.update(
            self._epochs, description=f"trial {optuna_trial.number}", completed=0,
            total=self.epochs, visible=True, status="",
        )

    def epoch_ended(self, oracle: OptunaOracle, trial_id: str, step: int, logs: dict[str, float]) -> None:
        value = logs.get(oracle.objective.name)
        status = "" if value is None else f"{oracle.objective.name} {value:.4g}"
        self._progress.update(self._epochs, completed=step + 1, status=status)

    def trial_ended(
        self, oracle: OptunaOracle, trial: Trial, number: int, state: TrialState, value: float | None,
        reason: str | None,
    ) -> None:
        name = getattr(state, "name", str(state))
        self.counts[name] = self.counts.get(name, 0) + 1
        several = isinstance(value, (list, tuple))
        if name == "COMPLETE" and value is not None and not several and math.isfinite(value):
            better = max if oracle.objective.direction == "max" else min
            self.best = value if self.best is None else better(self.best, value)
        seconds = time.monotonic() - self._started.pop(trial.trial_id, time.monotonic())
        if several:
            objectives = [(o.name, o.direction) for o in oracle.objectives]
            detail = values_text(objectives, value)
            self.front = len(front(oracle.study.get_trials(deepcopy=False), objectives))
        else:
            detail = f"{oracle.objective.name}={value:.6g}" if value is not None else (reason or "")
        otrial = self._optuna.pop(trial.trial_id, None)
        detail += _notes(otrial.user_attrs if otrial is not None else {})
        # soft_wrap: never crop the reason at the console width (80 columns in a log file).
        self._progress.console.print(f"trial {number:>4} {name:<8} {detail} ({seconds:.1f} s)", highlight=False,
                                     soft_wrap=True)
        retrying = bool(reason and "will retry" in reason)
        self._progress.update(self._trials, advance=0 if retrying else 1, status=self._status())
        self._progress.update(self._epochs, visible=False)


class WorkersProgress:
    """The combined progress of every worker of ``search run --workers N``, read from the storage.

    One line per finished trial, under a live status line: trials used out of the budget,
    counts by state, the best value and each running trial's epoch.
    """

    def __init__(self, plan: Plan, workers: int) -> None:
        self.plan = plan
        self.workers = workers
        self._done = threading.Event()
        self._seen: set[int] = set()
        self._thread = threading.Thread(target=self._watch, name="search-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Shows the trials that ended last, then stops."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        from rich.live import Live

        console = Console(stderr=True)
        with Live(console=console, refresh_per_second=2, transient=True) as live:
            while True:
                finished = self._done.is_set()  # then one last look, so every trial is printed
                trials = self.plan.study.get_trials(deepcopy=False)
                for t in trials:
                    if t.state.is_finished() and t.number not in self._seen:
                        self._seen.add(t.number)
                        console.print(f"trial {t.number:>4} {t.state.name:<8} {self._detail(t)}", highlight=False)
                live.update(self.status_line(trials))
                if finished:
                    break
                self._done.wait(POLL_S)

    def _detail(self, t: FrozenTrial) -> str:
        if t.values is not None and len(t.values) > 1:
            return values_text(self.plan.space.objectives, t.values) + _notes(t.user_attrs)
        detail = f"{self.plan.space.objective}={t.value:.6g}" if t.value is not None else (keys.reason_of(t) or "")
        return detail + _notes(t.user_attrs)

    def status_line(self, trials: list[FrozenTrial]) -> str:
        from optuna.trial import TrialState

        counts = {s: sum(t.state == s for t in trials) for s in TrialState}
        done = [t.values[0] for t in trials if t.state == TrialState.COMPLETE and t.values]
        better = max if self.plan.space.direction == "max" else min
        best = f"{better(done):.4g}" if done else "-"
        if self.plan.space.several:
            best = f"front {len(front(trials, self.plan.space.objectives))}"
        running = [
            f"#{t.number} epoch {max(t.intermediate_values, default=-1) + 1}/{self.plan.setup.epochs}"
            for t in trials if t.state == TrialState.RUNNING
        ]
        return (
            f"{self.workers} workers · trials {keys.trials_used(trials)}/{self.plan.budget} · "
            f"complete {counts[TrialState.COMPLETE]} · pruned {counts[TrialState.PRUNED]} · "
            f"failed {counts[TrialState.FAIL]} · best {best}" + (f" · running {', '.join(running)}" if running else "")
        )
