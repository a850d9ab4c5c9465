"""How many workers one PostgreSQL database holds, straight and through ``search proxy``.

Starts a real PostgreSQL server (Debian's package, installed if absent) and, for each N,
N processes that make per trial the storage calls a worker's oracle makes (no TensorFlow:
the trials are not the subject): under the ask lock, fail stale trials and check the budget,
then ask; record the worker and trial id attributes; beat while "training" (a short sleep
per epoch) and report every epoch; tell. A process that found a dead worker's trial retries
it with the same values, as the oracle does. The storage code is the harness's own
(``search.storage``, ``search.engine.heartbeat``, ``search.engine.retries``).

10% of the processes are killed mid-trial once a third of the budget is done; the survivors
must find those trials stale (heartbeat grace 4 s) and retry them. Printed per path and N:
trials/s sustained, ask and tell p50/p99, the database connections held (peak of
``pg_stat_activity`` sampled every 0.2 s), and whether every trial ran exactly once, every
killed trial was retried and none is left RUNNING.

    .venv/bin/python tests/perf/storage_load.py --workers 8,32,64    # 0.25-s trials: what the storage sustains
    SEARCH_HEARTBEAT_INTERVAL=5 SEARCH_HEARTBEAT_GRACE=20 .venv/bin/python tests/perf/storage_load.py \
        --workers 64 --epoch-s 2 --trials-per-worker 3                 # 10-s trials: latency under a real load
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SEARCH = str(Path(sys.executable).parent / "search")
INTERVAL, GRACE = (int(os.environ.get(name, default)) for name, default in (
    ("SEARCH_HEARTBEAT_INTERVAL", "1"), ("SEARCH_HEARTBEAT_GRACE", "4")))  # heartbeat seconds


# -- one worker process ---------------------------------------------------------------------
def work(url: str, budget: int, epochs: int, epoch_s: float, out: str, start_file: str) -> None:
    import optuna

    from search._quiet import quiet_warnings

    quiet_warnings()
    from optuna.trial import TrialState

    from search.engine.heartbeat import Heartbeat, StaleTrials
    from search.engine.retries import start_again
    from search.records import keys
    from search.storage import ask_lock, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url, heartbeat=(INTERVAL, GRACE))
    study = optuna.load_study(study_name="load", storage=storage, sampler=optuna.samplers.RandomSampler())
    beat, stale, me = Heartbeat(storage, INTERVAL), StaleTrials(), f"{socket.gethostname()}-{os.getpid()}"
    print("ready", flush=True)
    while not os.path.exists(start_file):
        time.sleep(0.01)
    with open(out, "w") as log:
        first = True
        while True:
            started = time.perf_counter()
            stale.pending += stale.collect(study)
            if stale.pending:
                old = stale.pending.pop(0)
                trial = start_again(study, old.params, old.distributions, {keys.RETRY_OF: old.number}, old.number)
            else:
                with ask_lock(study):
                    trials = study.get_trials(deepcopy=False)
                    trial = study.ask() if keys.trials_used(trials) < budget else None
            asked = time.perf_counter() - started
            if trial is None:
                if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                    return
                time.sleep(INTERVAL)  # another worker's trial may still die: stay to retry it
                continue
            beat.add(trial._trial_id)
            x = trial.suggest_float("x", -1, 1)
            trial.set_user_attr(keys.WORKER, me)
            trial.set_user_attr(keys.KT_TRIAL_ID, f"{trial.number:04d}")
            reports = []
            for epoch in range(epochs):
                time.sleep(epoch_s)
                t = time.perf_counter()
                trial.report(x * x / (epoch + 1), epoch)
                reports.append(time.perf_counter() - t)
            beat.remove(trial._trial_id)
            t = time.perf_counter()
            study.tell(trial, x * x)
            log.write(json.dumps({"ask": asked, "tell": time.perf_counter() - t, "report": max(reports),
                                  "first": first}) + "\n")
            first = False
            log.flush()


# -- the driver ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _connections(server, db: str, peak: list[int], stop: threading.Event) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(server.url("postgres"), poolclass=sqlalchemy.pool.NullPool)
    query = sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db")
    while not stop.wait(0.2):
        with engine.connect() as connection:
            peak[0] = max(peak[0], connection.execute(query, {"db": db}).scalar() or 0)
    engine.dispose()


def _proxy(db_url: str, tmp: Path) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    env = {**os.environ, "SEARCH_HEARTBEAT_INTERVAL": str(INTERVAL), "SEARCH_HEARTBEAT_GRACE": str(GRACE)}
    proc = subprocess.Popen([SEARCH, "proxy", "--storage", db_url, "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp / "proxy.log").open("w"), start_new_session=True)
    url = f"grpc://127.0.0.1:{port}"
    from search.storage import open_storage

    deadline = time.monotonic() + 60
    while True:
        try:
            open_storage(url).close()
            return url, proc
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"search proxy did not start: {(tmp / 'proxy.log').read_text()[-500:]}") from None
            time.sleep(0.5)


def one(server, path: str, n: int, args: argparse.Namespace) -> dict:
    import optuna

    from search.storage import open_storage

    db = f"load_{path}_{n}_{random.randrange(10**6)}"
    db_url = server.createdb(db)
    tmp = Path(tempfile.mkdtemp(prefix=f"load-{path}-{n}-"))
    optuna.create_study(study_name="load", storage=open_storage(db_url, heartbeat=(INTERVAL, GRACE)))
    proxy = None
    url = db_url
    if path == "proxy":
        url, proxy = _proxy(db_url, tmp)
    budget = args.trials_per_worker * n
    start_file = str(tmp / "start")
    procs = [subprocess.Popen([sys.executable, __file__, "--work", url, str(budget), str(args.epochs),
                               str(args.epoch_s), str(tmp / f"w{i}.jsonl"), start_file],
                              stdout=subprocess.PIPE, stderr=(tmp / f"w{i}.err").open("w"), text=True)
             for i in range(n)]
    for i, p in enumerate(procs):
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"worker {i} did not start: {(tmp / f'w{i}.err').read_text()[-800:]}")
    peak, stop = [0], threading.Event()
    watcher = threading.Thread(target=_connections, args=(server, db, peak, stop), daemon=True)
    watcher.start()
    study = optuna.load_study(study_name="load", storage=open_storage(db_url))
    started = time.perf_counter()
    Path(start_file).touch()
    killed = _kill_some(procs, study, budget, args.kill)
    for p in procs:
        p.wait()
    wall = time.perf_counter() - started
    stop.set()
    watcher.join()
    if proxy is not None:
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait()
    return _figures(path, n, study, budget, wall, tmp, procs, killed, peak[0])


def _kill_some(procs: list, study, budget: int, share: float) -> list[int]:
    """SIGKILLs ``share`` of the workers, each mid-trial (after an epoch's report), once a third
    of the budget is done."""
    from optuna.trial import TrialState

    while len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < budget / 3:
        time.sleep(0.1)
    victims = random.sample(range(len(procs)), max(1, math.ceil(share * len(procs))))
    killed = []
    for i in victims:
        pid = procs[i].pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if any(t.user_attrs.get("worker", "").endswith(f"-{pid}") and t.intermediate_values for t in running):
                break
            time.sleep(0.02)
        procs[i].send_signal(signal.SIGKILL)
        killed.append(i)
    return killed


def _figures(path, n, study, budget, wall, tmp, procs, killed, connections) -> dict:
    from optuna.trial import TrialState

    from search.records import keys

    rows = [json.loads(line) for f in tmp.glob("w*.jsonl") for line in f.read_text().splitlines()]
    trials = study.get_trials(deepcopy=False)
    lost = [t for t in trials if t.state == TrialState.FAIL]
    retried = [t for t in lost if sum(keys.RETRY_OF in r.user_attrs and r.user_attrs[keys.RETRY_OF] == t.number
                                      and r.state == TrialState.COMPLETE for r in trials) == 1]
    originals = [t for t in trials if keys.RETRY_OF not in t.user_attrs]
    def q(key: str, p: int, later: bool = False) -> float:  # ms; later: each worker's first ask left out
        values = [r[key] for r in rows if not (later and r["first"])]
        return statistics.quantiles(values, n=100)[p - 1] * 1000 if len(values) > 1 else float("nan")

    exits = [p.returncode for i, p in enumerate(procs) if i not in killed]
    return {
        "path": path, "workers": n, "trials": len(trials), "wall_s": round(wall, 1),
        "trials_per_s": _sustained(trials),
        "ask_p50_ms": round(q("ask", 50)), "ask_p99_ms": round(q("ask", 99)),
        "later_ask_p99_ms": round(q("ask", 99, later=True)),
        "tell_p50_ms": round(q("tell", 50)), "tell_p99_ms": round(q("tell", 99)),
        "report_p99_ms": round(q("report", 99)), "db_connections": connections,
        "killed": len(killed), "lost": len(lost), "retried": len(retried),
        "exactly_once": len(originals) == budget and all(t.state == TrialState.COMPLETE for t in originals
                                                        if t not in lost),
        "running_left": sum(t.state == TrialState.RUNNING for t in trials),
        "survivors_ok": all(code == 0 for code in exits),
    }


def _sustained(trials) -> float:
    """Completed trials per second between the 10th and the 90th percentile of completions
    (the start-up and the wait for dead workers' trials to go stale left out)."""
    done = sorted(t.datetime_complete.timestamp() for t in trials if t.state.name == "COMPLETE")
    lo, hi = int(len(done) * 0.1), int(len(done) * 0.9)
    return round((hi - lo) / max(done[hi] - done[lo], 1e-9), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="8,32,64")
    parser.add_argument("--paths", default="direct,proxy")
    parser.add_argument("--trials-per-worker", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--epoch-s", type=float, default=0.05)
    parser.add_argument("--kill", type=float, default=0.1)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    import optuna

    from search._quiet import quiet_warnings
    from tests._postgres import Server

    quiet_warnings()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    root = Path(tempfile.mkdtemp(prefix="search-load-pg-"))
    root.chmod(0o755)
    server = Server(root / "cluster").start()
    rows = []
    try:
        for n in map(int, args.workers.split(",")):
            for path in args.paths.split(","):
                rows.append(one(server, path, n, args))
                print(" ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    finally:
        server.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--work":
        work(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6], sys.argv[7])
    else:
        main()
