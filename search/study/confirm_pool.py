"""Running the retrains of ``search confirm``: this process, its worker processes, the recorder, the display.

This process trains retrains itself; with ``--workers N`` it also starts N - 1 worker processes
(``python -m search.study.confirm_train``, each with TensorFlow limited to its share of the cores,
as ``search run --workers`` does) and hands each one retrain at a time from the same queue, so
every process stays busy until the queue is empty. Workers write to no store: every finished
retrain, wherever it trained, goes to the :class:`Recorder`, a thread of this process that writes
it (its finished MLflow run, then its study attribute) while training goes on.

Ctrl-C: the workers are stopped (what they were training is lost), what finished is recorded,
and the caller ends its parent run: nothing is left RUNNING.
"""

from __future__ import annotations

import gc
import json
import math
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from search.errors import StudyFailedError
from search.records import keys
from search.records.confirmed import NO_FOLD, retrain_key
from search.study.confirm_train import Job, Outcome, Task, Trainer

if TYPE_CHECKING:
    import optuna

    from search.tracking.tracker import Tracker

STOP_WAIT_S = 10.0  # how long a stopped worker may take to exit before it is killed


def best_epoch(values: list[float], direction: str) -> tuple[float, int]:
    """The best finite value of an objective's epochs and its epoch (from 1); (nan, 0) when none is finite."""
    finite = [(v, i) for i, v in enumerate(values, start=1) if math.isfinite(v)]
    if not finite:
        return math.nan, 0
    sign = 1.0 if direction == "max" else -1.0
    return max(finite, key=lambda pair: (sign * pair[0], -pair[1]))  # the earliest of equal values


class Recorder:
    """Writes finished retrains on a thread, in the order they arrive.

    Each becomes a finished MLflow child run of the confirmation's parent run (every metric at
    every epoch, the objective's best and final values; the configuration, seed and fold as
    params; tags ``search.role=confirm-retrain`` and ``search.confirms``), then the study attribute
    that marks it done (:func:`search.records.confirmed.retrain_key`).
    """

    def __init__(self, study: optuna.Study, tracker: Tracker, job: Job, direction: str,
                 values: dict[int, dict[str, Any]], recorded: Callable[[Outcome, float], None]) -> None:
        self.study, self.tracker, self.job, self.direction = study, tracker, job, direction
        self.values = values  # trial number -> its configuration
        self.recorded = recorded
        self.error: BaseException | None = None
        self._queue: queue.Queue[Outcome | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="search-confirm-recorder", daemon=True)
        self._thread.start()

    def put(self, outcome: Outcome) -> None:
        self._queue.put(outcome)

    def close(self) -> None:
        """Writes what is queued, then stops; a second Ctrl-C does not cut the writes short."""
        self._queue.put(None)
        while self._thread.is_alive():
            try:
                self._thread.join()
            except KeyboardInterrupt:
                continue
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        while (outcome := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._record(outcome)
                except Exception as e:  # noqa: BLE001 - raised by close() in the caller's thread
                    self.error = e

    def _record(self, o: Outcome) -> None:
        name = self.job.objective
        curve = o.history[name]
        best, epoch = best_epoch(curve, self.direction)
        fold = NO_FOLD if o.fold is None else o.fold
        run_id = self.tracker.log_child_run(
            run_name=f"confirm-{o.number:04d}-seed{o.seed}" + ("" if o.fold is None else f"-fold{o.fold}"),
            params={**self.values[o.number], "trial": o.number, "seed": o.seed, "fold": fold},
            metrics={f"best_{name}": best, f"final_{name}": curve[-1], "best_epoch": float(epoch)},
            series={k: list(enumerate(vs)) for k, vs in o.history.items()},
            role=keys.ROLE_RETRAIN, tags={keys.TAG_CONFIRMS: str(o.number)},
        )
        self.study.set_user_attr(retrain_key(o.number, o.seed, o.fold), {
            "best": best, "final": curve[-1], "best_epoch": epoch, "epochs": len(curve), "seed": o.seed,
            "fold": o.fold, "run_id": run_id, "seconds": round(o.seconds, 3),
        })
        self.recorded(o, best)


class RetrainPool:
    """Worker processes 1 .. N - 1 of ``search confirm --workers N``, fed from a shared queue on a thread."""

    def __init__(self, workers: int) -> None:
        from search.study.devices import assign, device_env
        from search.study.workers import worker_env

        gpus = assign(workers, None)
        os.environ.update(device_env(gpus[0]))  # this process is worker 0; TensorFlow is not imported yet
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.procs = [
            subprocess.Popen([sys.executable, "-m", "search.study.confirm_train"],
                             env={**worker_env(workers), **device_env(gpus[i])}, start_new_session=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for i in range(1, workers)
        ]

    def start(self, job: Job, tasks: queue.Queue[Task], deliver: Callable[[Outcome], None]) -> None:
        """Sends every worker the job, then one task at a time until ``tasks`` is empty."""
        self._thread = threading.Thread(target=self._dispatch, args=(job, tasks, deliver),
                                        name="search-confirm-pool", daemon=True)
        self._thread.start()

    def _dispatch(self, job: Job, tasks: queue.Queue[Task], deliver: Callable[[Outcome], None]) -> None:
        try:
            self._feed(job, tasks, deliver)
        except (OSError, ValueError) as e:  # a worker that died on start: its pipe is closed
            self.error = StudyFailedError(f"A worker process of `search confirm` stopped: {type(e).__name__}: {e}")
            self._stopping.set()

    def _feed(self, job: Job, tasks: queue.Queue[Task], deliver: Callable[[Outcome], None]) -> None:
        busy: dict[subprocess.Popen, Task] = {}
        with selectors.DefaultSelector() as selector:
            for p in self.procs:
                self._send(p, asdict(job))
                if self._hand(p, tasks, busy):
                    selector.register(p.stdout, selectors.EVENT_READ, p)
            while busy and not self._stopping.is_set():
                for key, _ in selector.select(timeout=0.5):
                    p = key.data
                    task = busy.pop(p)
                    reply = json.loads(p.stdout.readline() or "null")
                    if not isinstance(reply, dict) or "error" in reply:
                        why = reply["error"] if isinstance(reply, dict) else f"it exited with code {p.wait()}"
                        self.error = StudyFailedError(f"The retrain of trial {task.number} (seed {task.seed}) "
                                                      f"in a worker process failed: {why}")
                        self._stopping.set()
                        return
                    deliver(Outcome(**reply))
                    if not self._hand(p, tasks, busy):
                        selector.unregister(p.stdout)

    def _hand(self, p: subprocess.Popen, tasks: queue.Queue[Task], busy: dict) -> bool:
        """Gives ``p`` the next task (True), or closes its input when none is left (False)."""
        try:
            task = None if self._stopping.is_set() else tasks.get_nowait()
        except queue.Empty:
            task = None
        if task is None:
            p.stdin.close()
            return False
        busy[p] = task
        self._send(p, asdict(task))
        return True

    @staticmethod
    def _send(p: subprocess.Popen, message: dict) -> None:
        p.stdin.write(json.dumps(message) + "\n")
        p.stdin.flush()

    def wait(self) -> None:
        """Waits until every task handed out is done; raises a worker's failure."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)
        if self.error is not None:
            raise self.error
        for p in self.procs:
            p.wait()

    def stop(self) -> None:
        """Stops the workers, finished or not (they hold nothing that is not recorded)."""
        self._stopping.set()
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if self._thread is not None:
            self._thread.join()


class ConfirmProgress:
    """Retrains done out of the total, under a live bar on a terminal; nothing otherwise."""

    def __init__(self, total: int, done: int, objective: str) -> None:
        self.console = Console(stderr=True)
        self.objective = objective
        self._progress = None
        if self.console.is_terminal:
            self._progress = Progress(TextColumn("retrains"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                      console=self.console, transient=True)
            self._task = self._progress.add_task("retrains", total=total, completed=done, status="")

    def __enter__(self) -> ConfirmProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def recorded(self, outcome: Outcome, best: float) -> None:
        if self._progress is not None:
            fold = "" if outcome.fold is None else f" fold {outcome.fold}"
            status = f"trial {outcome.number} seed {outcome.seed}{fold}: {self.objective} {best:.4g}"
            self._progress.update(self._task, advance=1, status=status)


def train_all(job: Job, tasks: list[Task], recorder: Recorder, pool: RetrainPool | None) -> None:
    """Trains ``tasks`` here and in ``pool``'s processes, each outcome handed to ``recorder``.

    The objects alive now are frozen for the garbage collector while this process trains (as
    :class:`search.engine.tuner.LeanSearch` does): its collections then scan only what the retrains make.
    """
    todo: queue.Queue[Task] = queue.Queue()
    for task in tasks:
        todo.put(task)
    if pool is not None:
        pool.start(job, todo, recorder.put)
    trainer = None
    gc.freeze()
    try:
        while recorder.error is None and (pool is None or pool.error is None):
            try:
                task = todo.get_nowait()
            except queue.Empty:
                break
            trainer = trainer or Trainer(job)
            recorder.put(trainer.train(task))
        if pool is not None:
            pool.wait()
    finally:
        gc.unfreeze()
