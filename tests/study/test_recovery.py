"""Crash recovery of a single `search run`: SIGTERM stops cleanly; after SIGKILL, reconcile repairs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from mlflow import MlflowClient
from optuna.trial import TrialState

SEARCH = str(Path(sys.executable).parent / "search")


def _start(space: str, study: str, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([SEARCH, "run", space, "--study", study, "--trials", "3", "--pruner", "none"],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"), text=True)


def _mid_trial(proc: subprocess.Popen, log: Path, storage: str, study: str, seconds: float = 240):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"search run ended early: {log.read_text()[-2000:]}"
        try:
            # skip_table_creation: creating the schema here would race `search run` creating it
            reader = optuna.storages.RDBStorage(storage, skip_table_creation=True)
            running = optuna.load_study(study_name=study, storage=reader).get_trials(states=(TrialState.RUNNING,))
        except Exception:  # the store, its tables or the study do not exist yet
            running = []
        if running and running[0].intermediate_values:
            return running[0]
        time.sleep(0.2)
    raise AssertionError("no trial got to its second epoch")


def _runs(home: Path, study: str):
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    return client.search_runs([client.get_experiment_by_name(study).experiment_id])


def test_sigterm_stops_gracefully(tmp_path, space_path):
    home = tmp_path / "home"
    env = {**os.environ, "SEARCH_HOME": str(home)}
    log = tmp_path / "stderr.log"
    proc = _start(space_path("slow"), "term", env, log)
    storage = f"sqlite:///{home / 'optuna.db'}"
    doomed = _mid_trial(proc, log, storage, "term")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    err = log.read_text()
    assert proc.returncode == 130
    assert "interrupted; running trials were marked FAIL and their runs closed." in err
    trial = optuna.load_study(study_name="term", storage=storage).trials[doomed.number]
    assert trial.state == TrialState.FAIL and trial.user_attrs["fail_reason"].startswith("interrupted")
    runs = _runs(home, "term")
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert next(r for r in runs if r.data.tags["search.role"] == "study").info.status == "KILLED"


def test_reconcile_repairs_a_killed_study_and_the_next_run_finishes_it(tmp_path, space_path):
    home = tmp_path / "home"
    env = {**os.environ, "SEARCH_HOME": str(home), "SEARCH_HEARTBEAT_INTERVAL": "1", "SEARCH_HEARTBEAT_GRACE": "3"}
    log = tmp_path / "stderr.log"
    proc = _start(space_path("slow"), "crash", env, log)
    storage = f"sqlite:///{home / 'optuna.db'}"
    doomed = _mid_trial(proc, log, storage, "crash")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(4)  # past the heartbeat grace period

    out = subprocess.run([SEARCH, "reconcile", "crash"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"optuna: trial {doomed.number} RUNNING -> FAIL (worker lost: no heartbeat (found by reconcile)); " \
           "retry queued with the same values" in lines
    assert f"mlflow: run trial-{doomed.number:04d} RUNNING -> FAILED" in lines
    assert any(line.startswith("mlflow: parent run crash-") and line.endswith("RUNNING -> KILLED") for line in lines)
    assert any(line.startswith("kerastuner: trial ") for line in lines)
    assert not [r for r in _runs(home, "crash") if r.info.status == "RUNNING"]

    again = subprocess.run([SEARCH, "reconcile", "crash"], env=env, capture_output=True, text=True, timeout=300)
    assert "optuna:" not in again.stdout and "mlflow:" not in again.stdout  # nothing left to repair

    done = subprocess.run([SEARCH, "run", space_path("slow"), "--study", "crash", "--pruner", "none"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    trials = optuna.load_study(study_name="crash", storage=storage).trials
    retries = [t for t in trials if t.user_attrs.get("retry_of") == doomed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[doomed.number].params
    assert sum(1 for t in trials if "retry_of" not in t.user_attrs) == 3  # the budget, each once
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert not [r for r in _runs(home, "crash") if r.info.status == "RUNNING"]
