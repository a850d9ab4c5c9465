"""``search run --workers N``: N local workers on one study, one progress display.

This process is worker 0. The N - 1 other workers are ``search standby`` processes started
before this process imports TensorFlow, so both import at once on separate cores; each
then waits on its stdin. The study and the parent MLflow run are created here, after the
space and options are checked; only then is each worker told (one JSON line: the
``search worker`` options) to join, and all start training within a second of each other.
A bad option or space leaves nothing written: the waiting workers, which have touched no
store, are killed. Every worker's TensorFlow is limited to its share of the cores, and
all trials nest under the one parent run. Progress is read back from the Optuna storage
on a thread, so it shows every worker's trials. The other workers draw no study plots;
this process draws them while the study runs and once more when every worker is done.
Ctrl-C or SIGTERM is passed on to the workers, which end their running trials (FAIL, run
closed) before exiting.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from search.errors import StudyFailedError

POLL_S = 1.0


def worker_options(plan: Any, index: int) -> dict[str, Any]:
    """The ``search worker`` options of local worker ``index`` (:func:`search.worker.run_worker` keywords)."""
    return {
        "study_name": plan.study.study_name, "home": str(plan.loc.home), "storage": plan.loc.storage_url,
        "tracking_uri": plan.loc.tracking_uri, "worker_index": index, "progress": False, "study_plots": False,
        "timeout": plan.timeout,
    }


class LocalWorkers:
    """Workers 1 .. N - 1 of ``search run --workers N``: started at once, told the study later.

    Each is a ``search standby`` process: it imports TensorFlow, Keras, Optuna and MLflow
    while this process does the same, then reads one line from its stdin: the options of
    ``search worker`` as JSON (:meth:`join`), or end of file (it exits, having written
    nothing). Their stdout (each worker's summary) is discarded: this process prints the
    study's; their stderr is this process's.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.joined = False
        self.procs = [
            subprocess.Popen([sys.executable, "-m", "search.cli", "standby", "--for-pid", str(os.getpid())],
                             env=worker_env(workers), start_new_session=True, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, text=True)
            for _ in range(1, workers)
        ]

    def join(self, plan: Any) -> None:
        """Tells every worker to join ``plan``'s study (which exists by now)."""
        for index, p in enumerate(self.procs, start=1):
            try:
                p.stdin.write(json.dumps(worker_options(plan, index)) + "\n")
                p.stdin.close()
            except BrokenPipeError:  # it died starting up; its exit code says so in wait()
                pass
        self.joined = True

    def wait(self) -> list[int]:
        return [p.wait() for p in self.procs]

    def stop(self) -> None:
        """Stops every worker still running. Before :meth:`join` they have written nothing
        and are killed at once; after it, SIGTERM (they end their trials cleanly), then
        SIGKILL for any still running a minute later."""
        running = [p for p in self.procs if p.poll() is None]
        for p in running:
            _signal(p, signal.SIGTERM if self.joined else signal.SIGKILL)
        deadline = time.monotonic() + 60
        for p in running:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(p, signal.SIGKILL)
                p.wait()
        for p in self.procs:
            if p.stdin and not p.stdin.closed:
                try:
                    p.stdin.close()
                except BrokenPipeError:
                    pass


def _signal(p: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(p.pid, signum)
    except ProcessLookupError:  # it ended meanwhile
        pass


def core_share(workers: int) -> int:
    """The cores each of ``workers`` local workers gets (at least one)."""
    return max(1, (os.cpu_count() or 1) // workers)


def limit_threads(workers: int) -> None:
    """Limits this process's TensorFlow to its share of the cores, if TensorFlow has not
    started its thread pools yet (they are sized once, at the first operation)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(core_share(workers))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialized (an earlier study in this process): keep its pools
        pass


def worker_env(workers: int) -> dict[str, str]:
    """The environment of a worker: TensorFlow and BLAS limited to its share of the cores."""
    share = core_share(workers)
    env = dict(os.environ)
    env.update({
        "TF_NUM_INTRAOP_THREADS": str(share), "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": str(share), "TF_CPP_MIN_LOG_LEVEL": "2",
    })
    return env


def run_local_workers(plan: Any, local: LocalWorkers) -> Any:
    """Runs the study with this process as worker 0 and ``local``'s processes as the others."""
    from search.plots import StudyPlots
    from search.runner import execute
    from search.study import count_used, summarize
    from search.tracking import Tracker

    study, workers = plan.study, local.workers
    tracker = Tracker(plan.loc.tracking_uri, study.study_name, plan.loc.artifact_root)
    tracker.start_parent({**plan.parent_params, "workers": workers})
    study.set_user_attr("parent_run_id", tracker.parent_run_id)
    local.join(plan)
    here = dataclasses.replace(plan, join_parent_run=tracker.parent_run_id, progress=False, study_plots="periodic")
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(plan, count_used, done, workers), daemon=True)
    status = "FAILED"
    try:
        if plan.progress:
            watcher.start()
        execute(here)
        codes = local.wait()
        status = "FINISHED" if all(c == 0 for c in codes) else "FAILED"
        if any(c != 0 for c in codes):
            raise StudyFailedError(f"{sum(c != 0 for c in codes)} of {workers - 1} worker processes failed "
                                   f"(exit codes {codes}).")
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        local.stop()
        done.set()
        if watcher.is_alive():
            watcher.join()
        if status != "KILLED":
            StudyPlots(study, tracker).refresh()  # every worker's trials, once all are done
        result = summarize(study, tracker.parent_run_id, plan.loc)
        summary = {"complete": result.complete, "pruned": result.pruned, "failed": result.failed}
        if result.best_value is not None:
            summary[f"best_{plan.space.objective}"] = result.best_value
        tracker.end_parent(status, summary)
    return result


def _watch(plan: Any, count_used: Any, done: threading.Event, workers: int) -> None:
    """Shows the combined progress of all workers, read from the storage, until ``done``."""
    from rich.console import Console
    from rich.live import Live

    console = Console(stderr=True)
    seen: set[int] = set()
    with Live(console=console, refresh_per_second=2, transient=True) as live:
        while True:
            finished = done.is_set()  # then one last look, so every trial is printed
            trials = plan.study.get_trials(deepcopy=False)
            for t in trials:
                if t.state.is_finished() and t.number not in seen:
                    seen.add(t.number)
                    detail = f"{plan.space.objective}={t.value:.6g}" if t.value is not None else (
                        t.user_attrs.get("fail_reason") or t.user_attrs.get("pruned_by") or "")
                    console.print(f"trial {t.number:>4} {t.state.name:<8} {detail}", highlight=False)
            live.update(_status_line(plan, trials, count_used, workers))
            if finished:
                break
            done.wait(POLL_S)


def _status_line(plan: Any, trials: list, count_used: Any, workers: int) -> str:
    from optuna.trial import TrialState

    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    done = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    better = max if plan.space.direction == "max" else min
    best = f"{better(done):.4g}" if done else "-"
    running = [
        f"#{t.number} epoch {max(t.intermediate_values, default=-1) + 1}/{plan.epochs}"
        for t in trials if t.state == TrialState.RUNNING
    ]
    used = sum(1 for t in trials if "retry_of" not in t.user_attrs)
    return (
        f"{workers} workers · trials {used}/{plan.budget} · complete {counts[TrialState.COMPLETE]} · "
        f"pruned {counts[TrialState.PRUNED]} · failed {counts[TrialState.FAIL]} · best {best}"
        + (f" · running {', '.join(running)}" if running else "")
    )
