"""Many workers on one study: a real PostgreSQL server, a real MLflow tracking server, real kills."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from tests._postgres import PASSWORD, Server, wait_http

SEARCH = str(Path(sys.executable).parent / "search")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg():
    # Outside pytest's 0700 temp folder: the server runs as the `postgres` user.
    root = Path(tempfile.mkdtemp(prefix="search-pg-"))
    root.chmod(0o755)
    server = Server(root / "cluster").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mlflow_server(pg):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    artifacts = tempfile.mkdtemp(prefix="search-mlflow-artifacts-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", pg.createdb("mlflow"),
         "--artifacts-destination", artifacts, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    wait_http(f"{uri}/health", proc)
    yield uri
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _env(tmp_path, **extra):
    return {**os.environ, "SEARCH_HOME": str(tmp_path / "home"), **extra}


def _trial_runs(uri: str, study: str):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(study)
    return client.search_runs([experiment.experiment_id], max_results=1000)


def test_three_workers_complete_a_12_trial_study(pg, mlflow_server, space_path, tmp_path):
    storage = pg.createdb("three")
    out = subprocess.run(
        [SEARCH, "run", space_path("tiny"), "--study", "three", "--trials", "12", "--epochs", "3",
         "--workers", "3", "--pruner", "none", "--storage", storage, "--tracking-uri", mlflow_server],
        env=_env(tmp_path), capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert PASSWORD not in out.stdout + out.stderr
    assert "study three: 12 complete, 0 pruned, 0 failed" in out.stdout

    trials = optuna.load_study(study_name="three", storage=storage).trials
    assert [t.number for t in trials] == list(range(12))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) >= 2  # the work was shared

    runs = _trial_runs(mlflow_server, "three")
    parents = [r for r in runs if r.data.tags.get("search.role") == "study"]
    children = [r for r in runs if r.data.tags.get("search.role") == "trial"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    numbers = sorted(int(r.data.tags["search.optuna_trial_number"]) for r in children)
    assert numbers == list(range(12))  # every trial exactly once in MLflow
    assert all(r.info.status == "FINISHED" for r in children)
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert {t.user_attrs["mlflow_run_id"] for t in trials} == {r.info.run_id for r in children}
    # The storage password never reaches MLflow.
    assert "***" in parents[0].data.params["storage"]
    for run in runs:
        assert PASSWORD not in str(run.data.params) + str(run.data.tags)


def _wait_for(predicate, seconds: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Polls ``predicate`` until it is true; fails at once, showing ``log``, if ``proc`` ends."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            shown = log.read_text()[-3000:] if log else ""
            raise AssertionError(f"{proc.args[:3]} exited {proc.returncode} before {what}: {shown}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _study_names(url: str) -> list[str]:
    """The studies in the Optuna database at ``url``, read with plain SQL: opening an
    ``RDBStorage`` would write to the database (Optuna stamps its schema version)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sqlalchemy.text("SELECT study_name FROM studies")).scalars())
    except sqlalchemy.exc.ProgrammingError:  # its tables do not exist yet
        return []
    finally:
        engine.dispose()


def _kill_mid_trial(study: optuna.Study, victim: subprocess.Popen, main: subprocess.Popen, log: Path):
    """SIGKILLs ``victim`` once it is mid-trial (an epoch reported), then waits for ``main`` to finish the
    study; returns the trial it was running."""

    def victim_mid_trial():
        for t in study.get_trials(states=(TrialState.RUNNING,)):
            if t.user_attrs.get("worker", "").endswith(f"-{victim.pid}") and t.intermediate_values:
                return t
        return None

    doomed = _wait_for(victim_mid_trial, 300, "the victim worker to be mid-trial", main, log)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    main.wait(timeout=600)
    assert main.returncode == 0, log.read_text()[-3000:]
    return doomed


def test_a_killed_worker_trial_is_failed_and_retried_and_nothing_is_lost(pg, mlflow_server, space_path, tmp_path):
    storage = pg.createdb("kill")
    env = _env(tmp_path, SEARCH_HEARTBEAT_INTERVAL="1", SEARCH_HEARTBEAT_GRACE="4")
    log = tmp_path / "main.err"  # a file: a pipe nobody reads while the test waits could fill and stall it
    with log.open("w") as err:
        main = subprocess.Popen(
            [SEARCH, "run", space_path("slow"), "--study", "kill", "--trials", "6", "--pruner", "none",
             "--storage", storage, "--tracking-uri", mlflow_server],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )
    _wait_for(lambda: "kill" in _study_names(storage), 120, "the study", main, log)
    victim = subprocess.Popen([SEARCH, "worker", "kill", "--no-progress", "--storage", storage,
                               "--tracking-uri", mlflow_server], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    study = optuna.load_study(study_name="kill", storage=storage)  # one engine for every poll

    doomed = _kill_mid_trial(study, victim, main, log)

    trials = optuna.load_study(study_name="kill", storage=storage).trials
    killed = trials[doomed.number]
    assert killed.state == TrialState.FAIL
    assert "worker lost" in killed.user_attrs["fail_reason"]
    retries = [t for t in trials if t.user_attrs.get("retry_of") == doomed.number]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE and retries[0].params == killed.params
    originals = [t for t in trials if "retry_of" not in t.user_attrs]
    assert len(originals) == 6  # the budget, each trial once
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6  # five originals and the retry
    assert not [t for t in trials if t.state == TrialState.RUNNING]

    runs = _trial_runs(mlflow_server, "kill")
    assert not [r for r in runs if r.info.status == "RUNNING"]
    killed_run = next(r for r in runs if r.info.run_id == killed.user_attrs["mlflow_run_id"])
    assert killed_run.info.status == "FAILED"
    assert "worker lost" in killed_run.data.tags["search.fail_reason"]


def test_local_workers_share_the_default_sqlite_store_without_locking(space_path, tmp_path):
    out = subprocess.run(
        [SEARCH, "run", space_path("tiny"), "--study", "local", "--trials", "9", "--epochs", "2",
         "--workers", "3", "--pruner", "none"],
        env=_env(tmp_path), capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "database is locked" not in out.stderr
    storage = f"sqlite:///{tmp_path / 'home' / 'optuna.db'}"
    trials = optuna.load_study(study_name="local", storage=storage).trials
    assert len(trials) == 9 and all(t.state == TrialState.COMPLETE for t in trials)
    runs = _trial_runs(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}", "local")
    assert sorted(int(r.data.tags["search.optuna_trial_number"]) for r in runs
                  if r.data.tags.get("search.role") == "trial") == list(range(9))
    assert not [r for r in runs if r.info.status == "RUNNING"]
    # `search run` itself is worker 0 (its KerasTuner folder holds trials), the other two
    # are processes of their own; the study plots are drawn once, on the parent run.
    home = tmp_path / "home"
    assert len({t.user_attrs["worker"] for t in trials}) >= 2
    assert list((home / "keras_tuner" / "local").glob("trial_*"))
    [parent] = [r for r in runs if r.data.tags.get("search.role") == "study"]
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    assert "plots/optimization_history.svg" in {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "all" not in json.loads(client.get_run(parent.info.run_id).data.tags["search.plot_notes"])


def test_two_studies_started_together_on_a_fresh_home_both_run(space_path, tmp_path):
    """Both create the home's Optuna and MLflow databases at once: before their tables were
    created under a lock, one of the two failed every time (8 of 8 pairs) with "table ...
    already exists", "duplicate column name" or a circular dependency from MLflow's migrations."""
    procs = [subprocess.Popen([SEARCH, "run", space_path("tiny"), "--study", name, "--trials", "2", "--epochs", "1",
                               "--pruner", "none"], env=_env(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for name in ("first", "second")]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    home = tmp_path / "home"
    storage = f"sqlite:///{home / 'optuna.db'}"
    assert sorted(optuna.get_all_study_names(storage)) == ["first", "second"]
    for name in ("first", "second"):
        trials = optuna.load_study(study_name=name, storage=storage).trials
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
        runs = _trial_runs(f"sqlite:///{home / 'mlflow.db'}", name)
        assert sorted(r.data.tags["search.role"] for r in runs) == ["study", "trial", "trial"]
        assert {r.info.status for r in runs} == {"FINISHED"}


# Child-process scaffolding: the first call of `pause()` prints "checked" and waits for a
# line on stdin, while the test makes another process act in between.
_PAUSE_ONCE = """
import sys

_paused = []

def pause(*args, **kwargs):
    if not _paused:
        _paused.append(True)
        print("checked", flush=True)
        sys.stdin.readline()
"""

_RUN_AFTER_A_PAUSE = _PAUSE_ONCE + """
import optuna
from mlflow import MlflowClient

def pause_after(owner, name):  # after its first call
    real = getattr(owner, name)

    def paused(*args, **kwargs):
        result = real(*args, **kwargs)
        pause()
        return result

    setattr(owner, name, paused)

if sys.argv[1] == "study":  # has the study been created?
    pause_after(optuna, "get_all_study_summaries")
else:  # has the experiment been created?
    pause_after(MlflowClient, "get_experiment_by_name")
from search.cli import main

sys.argv = ["search", "run", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize("missing", ["study", "experiment"])
def test_a_new_study_another_run_creates_after_the_check_is_resumed(missing, space_path, tmp_path):
    """`search run` finds the study (or its MLflow experiment) missing; another `search run` of
    the same study creates it and runs the budget meanwhile. The first resumes that study."""
    args = [space_path("tiny"), "--study", "same", "--trials", "2", "--epochs", "1", "--pruner", "none"]
    first = subprocess.Popen([sys.executable, "-c", _RUN_AFTER_A_PAUSE, missing, *args], env=_env(tmp_path),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.stdout.readline() == "checked\n"
    other = subprocess.run([SEARCH, "run", *args], env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert other.returncode == 0, other.stderr[-3000:]
    out, err = first.communicate("go\n", timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert "study same: 2 complete, 0 pruned, 0 failed" in out

    home = tmp_path / "home"
    trials = optuna.load_study(study_name="same", storage=f"sqlite:///{home / 'optuna.db'}").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    assert [e.name for e in client.search_experiments() if e.name == "same"] == ["same"]
    runs = _trial_runs(f"sqlite:///{home / 'mlflow.db'}", "same")
    assert sorted(r.data.tags["search.role"] for r in runs) == ["study", "study", "trial", "trial"]
    assert {r.info.status for r in runs} == {"FINISHED"}


def _standbys(parent_pid: int) -> list[int]:
    """The live `search standby` processes that `search run` process ``parent_pid`` started."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:  # it ended meanwhile
            continue
        if b"standby" in argv and b"--for-pid" in argv and argv[argv.index(b"--for-pid") + 1] == str(parent_pid).encode():
            found.append(int(entry.name))
    return found


def test_the_other_local_workers_start_at_once_and_a_bad_space_leaves_no_process_and_no_store(tmp_path):
    """`run --workers 2` starts its second worker before importing TensorFlow; the space is
    checked after that import, and a bad one kills the waiting worker: nothing is written."""
    proc = subprocess.Popen([SEARCH, "run", "no_such_space", "--workers", "2"], env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    while not seen and proc.poll() is None:
        seen = _standbys(proc.pid)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=300)
    assert seen, "no standby worker was seen while `search run` started up"
    assert proc.returncode == 2, err
    assert err.startswith("error: ") and "no_such_space" in err and err.count("\n") == 1
    assert _standbys(proc.pid) == []
    assert not (tmp_path / "home").exists()


def test_run_study_stops_the_local_workers_it_started_when_its_checks_fail(tmp_path):
    """The library call, in a process that lives on: its waiting workers must not."""
    from search.study.config import StudyConfig
    from search.errors import SpaceError
    from search.study.run import run_study

    with pytest.raises(SpaceError, match="no_such_space"):
        run_study(StudyConfig(space="no_such_space", workers=3, home=str(tmp_path / "home"), progress=False))
    assert _standbys(os.getpid()) == []
    assert not (tmp_path / "home").exists()


def test_a_standby_worker_that_is_told_nothing_exits_quietly_having_written_nothing(tmp_path):
    """What a standby worker does when `search run` dies before its study exists (its stdin closes)."""
    out = subprocess.run([sys.executable, "-m", "search.cli", "standby", "--for-pid", "1"], input="",
                         env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert not (tmp_path / "home").exists()


_HOLD = """
import sys, time
import optuna
from search.storage import ask_lock, open_storage
study = optuna.load_study(study_name="lock", storage=open_storage(sys.argv[1]))
with ask_lock(study):
    print(time.time(), flush=True)
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_ask_lock_holds_every_other_process_off(kind, pg, tmp_path):
    """Two workers checking the budget at once could both take its last trial: asking is locked."""
    from search.storage import ask_lock, open_storage

    url = f"sqlite:///{tmp_path}/optuna.db" if kind == "sqlite" else pg.createdb("asklock")
    study = optuna.create_study(study_name="lock", storage=open_storage(url))
    with ask_lock(study):
        other = subprocess.Popen([sys.executable, "-c", _HOLD, url], stdout=subprocess.PIPE, text=True)
        time.sleep(8.0)  # the other process imports, opens the storage and waits for the lock
        assert other.poll() is None
        released = time.time()
    out, _ = other.communicate(timeout=60)
    assert other.returncode == 0 and float(out.split()[0]) >= released
    with ask_lock(study):  # and it is released again
        pass


_OPEN_IN_STEP = """
import sys, time
from search.errors import StorageError
from search.storage import open_storage
start = float(sys.argv[1])
for i, url in enumerate(sys.argv[2:]):
    time.sleep(max(0.0, start + 0.5 * i - time.time()))  # every process opens database i at once
    try:
        open_storage(url)
        print("ok", flush=True)
    except StorageError as e:
        print(e, flush=True)
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_workers_starting_together_on_an_empty_database_all_open_it(kind, pg, tmp_path):
    """Four processes open each of 16 empty databases at the same moment. Before the schema
    was created under a lock, about 1 open in 27 failed on PostgreSQL with "relation already
    exists", and 2 in 3 on SQLite."""
    urls = [f"sqlite:///{tmp_path}/together{i}.db" if kind == "sqlite" else pg.createdb(f"together{i}")
            for i in range(16)]
    start = time.time() + 8  # after every process has imported
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_IN_STEP, str(start), *urls],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    lines = [line for p in procs for line in p.communicate(timeout=300)[0].splitlines()]
    assert all(p.returncode == 0 for p in procs)
    assert [line for line in lines if line != "ok"] == []
    assert len(lines) == 4 * 16


_OPEN_AFTER_A_PAUSE = _PAUSE_ONCE + """
import sqlalchemy
from optuna.storages._rdb import models
from search.storage import open_storage

# The tables were found missing; nothing is created yet. First among the listeners: the
# others create Optuna's enum types.
sqlalchemy.event.listen(models.BaseModel.metadata, "before_create", pause, insert=True)

open_storage(sys.argv[1])
print("ok", flush=True)
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_schema_another_program_creates_between_the_check_and_the_create_is_used(kind, pg, tmp_path):
    """`search` finds Optuna's tables missing; before it creates them a plain Optuna process
    (which takes no lock) does. Its "already exists" means the schema is there: it tries again."""
    url = f"sqlite:///{tmp_path}/between.db" if kind == "sqlite" else pg.createdb("between")
    lock_timeout = {"timeout": 30} if kind == "sqlite" else {"options": "-c lock_timeout=30s"}
    proc = subprocess.Popen([sys.executable, "-c", _OPEN_AFTER_A_PAUSE, url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "checked\n"
    # The other program creates the schema (a lock wait here would be a deadlock: fail instead).
    optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": lock_timeout}).engine.dispose()
    out, err = proc.communicate("go\n", timeout=120)
    assert (proc.returncode, out, err) == (0, "ok\n", "")


def _recipe() -> str:
    """The README's job script for N identical tasks (the block starting ``#!/bin/bash``)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    return readme.split("```bash\n#!/bin/bash\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_readme_job_script_as_three_tasks_started_together_runs_the_budget_once(kind, pg, space_path, tmp_path):
    """Workers started with (or before) their `search run` wait for the study instead of failing."""
    storage = {} if kind == "sqlite" else {"SEARCH_STORAGE": pg.createdb("recipe")}
    env = _env(tmp_path, SPACE=space_path("tiny"), STUDY="recipe", TRIALS="6", **storage)
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n" + _recipe())
    procs = []
    for task in (2, 1, 0):  # the workers first: the study does not exist when they start
        log = open(tmp_path / f"task{task}.log", "w")
        procs.append(subprocess.Popen(["bash", str(script)], cwd=Path(__file__).parents[2], stdout=log,
                                      stderr=subprocess.STDOUT, env={**env, "SLURM_ARRAY_TASK_ID": str(task)}))
        if task == 1:
            time.sleep(3)  # they are polling by now
    codes = [p.wait(timeout=600) for p in procs]
    logs = {task: (tmp_path / f"task{task}.log").read_text() for task in (0, 1, 2)}
    assert codes == [0, 0, 0], logs
    url = storage.get("SEARCH_STORAGE", f"sqlite:///{tmp_path}/home/optuna.db")
    trials = optuna.load_study(study_name="recipe", storage=url).trials
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)  # none failed
    assert len({t.user_attrs["worker"] for t in trials}) >= 2  # the waiting workers joined
    assert "no such study" not in str(logs).lower() and "Unknown study" not in str(logs)


def test_a_worker_without_wait_suggests_it_and_one_that_waits_in_vain_says_so(tmp_path):
    env = _env(tmp_path)
    done = subprocess.run([SEARCH, "worker", "later"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "Unknown study 'later'" in done.stderr and "--wait [SECONDS]" in done.stderr
    started = time.monotonic()
    done = subprocess.run([SEARCH, "worker", "later", "--wait", "2", "--no-progress"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and time.monotonic() - started >= 2
    assert done.stderr.strip().endswith("error: Study 'later' was not ready in "
                                        f"sqlite:///{tmp_path}/home/optuna.db within --wait 2 s "
                                        "(created, its `search run` started).")


@pytest.fixture(scope="module")
def proxy(pg):
    """`search proxy` in front of a PostgreSQL database (heartbeats every 1 s, stale after 4 s)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SEARCH_HEARTBEAT_INTERVAL": "1", "SEARCH_HEARTBEAT_GRACE": "4"}
    proc = subprocess.Popen([SEARCH, "proxy", "--storage", pg.createdb("proxied"), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stderr.readline().startswith(f"optuna storage proxy on grpc://127.0.0.1:{port} for postgresql://")
    yield f"grpc://127.0.0.1:{port}"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _load(proxy_url: str, name: str) -> optuna.Study:
    from search.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(proxy_url))


def test_local_workers_through_the_proxy_run_the_budget_once_and_resume(proxy, space_path, tmp_path):
    run = [SEARCH, "run", space_path("tiny"), "--study", "proxied", "--epochs", "2", "--pruner", "none",
           "--storage", proxy]
    done = subprocess.run([*run, "--trials", "8", "--workers", "2"], env=_env(tmp_path), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "study proxied: 8 complete, 0 pruned, 0 failed" in done.stdout
    trials = _load(proxy, "proxied").trials
    assert [t.number for t in trials] == list(range(8)) and len({t.user_attrs["worker"] for t in trials}) == 2
    done = subprocess.run([*run, "--trials", "10"], env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "study proxied: 10 complete" in done.stdout, done.stderr[-3000:]
    done = subprocess.run([SEARCH, "reconcile", "proxied", "--storage", proxy], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout) == (0, "nothing to repair\n"), done.stderr[-3000:]


def test_a_killed_worker_behind_the_proxy_is_found_by_its_heartbeat_and_its_trial_retried(proxy, space_path,
                                                                                         tmp_path):
    env = _env(tmp_path, SEARCH_HEARTBEAT_INTERVAL="1", SEARCH_HEARTBEAT_GRACE="4")
    log = tmp_path / "main.err"
    with log.open("w") as err:
        main = subprocess.Popen([SEARCH, "run", space_path("slow"), "--study", "proxy-kill", "--trials", "4",
                                 "--pruner", "none", "--storage", proxy], env=env, stdout=subprocess.DEVNULL, stderr=err)
    study = _wait_for(lambda: _try_load(proxy, "proxy-kill"), 120, "the study", main, log)
    victim = subprocess.Popen([SEARCH, "worker", "proxy-kill", "--no-progress", "--storage", proxy], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    doomed = _kill_mid_trial(study, victim, main, log)
    trials = _load(proxy, "proxy-kill").trials
    assert trials[doomed.number].state == TrialState.FAIL
    assert "worker lost" in trials[doomed.number].user_attrs["fail_reason"]
    assert [t.state for t in trials if t.user_attrs.get("retry_of") == doomed.number] == [TrialState.COMPLETE]
    assert len([t for t in trials if "retry_of" not in t.user_attrs]) == 4  # the budget, each trial once
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def _try_load(proxy_url: str, name: str) -> optuna.Study | None:
    try:
        return _load(proxy_url, name)
    except KeyError:
        return None


def test_a_proxy_that_does_not_answer_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run([SEARCH, "trials", "x", "--storage", f"grpc://127.0.0.1:{port}"], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == (f"error: Cannot open storage 'grpc://127.0.0.1:{port}': no answer within 5 s; "
                           "is `search proxy` running there?\n")
