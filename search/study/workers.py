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
import time
from typing import TYPE_CHECKING, Any

from search.errors import StudyFailedError

if TYPE_CHECKING:
    from search.records.summary import StudyResult
    from search.study.plan import Plan


def worker_options(plan: Plan, index: int) -> dict[str, Any]:
    """The ``search worker`` options of local worker ``index`` (:func:`search.study.worker.run_worker` keywords)."""
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

    def __init__(self, workers: int, gpus: list[str | None] | None = None) -> None:
        from search.study.devices import device_env

        self.workers = workers
        self.joined = False
        gpus = gpus or [None] * workers  # worker i's GPU (search.study.devices.assign)
        self.procs = [
            subprocess.Popen([sys.executable, "-m", "search.cli", "standby", "--for-pid", str(os.getpid())],
                             env={**worker_env(workers), **device_env(gpus[i])}, start_new_session=True,
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            for i in range(1, workers)
        ]

    def join(self, plan: Plan) -> None:
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


def run_local_workers(plan: Plan, local: LocalWorkers) -> StudyResult:
    """Runs the study with this process as worker 0 and ``local``'s processes as the others."""
    from search.plots import StudyPlots
    from search.records import keys
    from search.study.execute import end_parent, execute
    from search.study.progress import WorkersProgress
    from search.tracking.tracker import Tracker

    study, workers = plan.study, local.workers
    tracker = Tracker(plan.loc.tracking_uri, study.study_name, plan.loc.artifact_root)
    tracker.start_parent({**plan.parent_params, keys.PARAM_WORKERS: workers})
    study.set_user_attr(keys.STUDY_PARENT_RUN_ID, tracker.parent_run_id)
    local.join(plan)
    here = dataclasses.replace(plan, join_parent_run=tracker.parent_run_id, progress=False, study_plots="periodic")
    display = WorkersProgress(plan, workers) if plan.progress else None
    status = "FAILED"
    try:
        if display:
            display.start()
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
        if display:
            display.stop()
        if status != "KILLED":
            StudyPlots(study, tracker).refresh()  # every worker's trials, once all are done
        result = end_parent(tracker, study, plan.loc, plan.space.objective, status)
    return result
