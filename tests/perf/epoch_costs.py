"""What one epoch of a study costs the harness, piece by piece, measured alone.

    .venv/bin/python tests/perf/epoch_costs.py --writes 200 --rounds 6

- stores: one Optuna ``Trial.report`` and one MLflow ``log_batch`` of two metrics, on new
  SQLite stores in WAL mode, with SQLite's default ``synchronous=FULL`` (a plain
  SQLAlchemy engine) against the harness's stores (``search.storage.open_storage`` and
  ``search.tracking.tracker.Tracker``, which use ``synchronous=NORMAL``); milliseconds per write.
- callbacks: a 20-epoch ``iq_combiner`` fit at batch size 16 (64 batches an epoch) with no
  callback against eight empty ``keras.callbacks.Callback`` objects (Keras calls each at
  every batch), rounds interleaved; the median seconds and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _wal(path: str) -> None:
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def store_writes(writes: int) -> None:
    import optuna
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from search.storage import open_storage
    from search.tracking.tracker import Tracker

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as home:
        for label, harness in (("synchronous=FULL  ", False), ("harness (NORMAL)  ", True)):
            name = "harness" if harness else "full"
            optuna_url, mlflow_uri = f"sqlite:///{home}/{name}-optuna.db", f"sqlite:///{home}/{name}-mlflow.db"
            if harness:
                storage = open_storage(optuna_url)
                client = Tracker(mlflow_uri, "s").client
            else:
                storage = optuna.storages.RDBStorage(optuna_url)
                _wal(optuna_url.removeprefix("sqlite:///"))
                client = MlflowClient(mlflow_uri)
                _wal(mlflow_uri.removeprefix("sqlite:///"))
                client.create_experiment("s")
            trial = optuna.create_study(storage=storage, study_name="s").ask()
            started = time.perf_counter()
            for step in range(writes):
                trial.report(1.0, step)
            report_ms = (time.perf_counter() - started) / writes * 1e3
            run_id = client.create_run(client.get_experiment_by_name("s").experiment_id).info.run_id
            started = time.perf_counter()
            for step in range(writes):
                client.log_batch(run_id, metrics=[Metric("loss", 1.0, 0, step), Metric("val_loss", 1.0, 0, step)])
            batch_ms = (time.perf_counter() - started) / writes * 1e3
            print(f"stores, {label}: Optuna report {report_ms:.2f} ms, MLflow log_batch {batch_ms:.2f} ms "
                  f"(means of {writes})", flush=True)


def callbacks(rounds: int) -> None:
    import keras
    import keras_tuner

    from search.space import fit_arrays
    from search.space.loader import load_space

    space = load_space("iq_combiner")
    (x, y), validation = space.module.load_data(0)
    values = {"target": "atan2", "n_train": 1024, "combiner": "atan2", "loss": "mse", "init": "glorot",
              "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 16}

    def fit(extra: list) -> float:
        hp = keras_tuner.HyperParameters()
        hp.values = dict(values)
        keras.utils.set_random_seed(0)
        model = space.module.build(hp)
        started = time.perf_counter()
        fit_arrays(model, x, y, validation_data=validation, batch_size=16, epochs=20, verbose=0, callbacks=extra)
        return time.perf_counter() - started

    fit([])  # TensorFlow's first-time costs
    times: dict[str, list[float]] = {"none": [], "8 empty": []}
    for _ in range(rounds):
        times["none"].append(fit([]))
        times["8 empty"].append(fit([keras.callbacks.Callback() for _ in range(8)]))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"callbacks, 20 epochs at batch size 16: none {med['none']:.3f} s, 8 empty {med['8 empty']:.3f} s, "
          f"ratio {med['8 empty'] / med['none']:.3f} (medians of {rounds} interleaved rounds)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    if args.writes:
        store_writes(args.writes)
    if args.rounds:
        callbacks(args.rounds)


if __name__ == "__main__":
    main()
