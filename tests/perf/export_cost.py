"""What exporting costs: the per-trial hook, each format's export, and how faithful a retrain is.

1. Runs a study of SPACE (default ``iq_combiner``) and times every call of the export hook
   (``BestCheckpointHook``: load the best checkpoint, predict the probe, log ``best/`` to
   MLflow) against the trial's wall time.
2. Exports the best trial with ``search export`` in each format (a new process each, as
   a user runs it) and reports the wall time and the verification's max abs difference.
3. Retrains the best trial from its parameters and seed (the fallback when no weights are
   found) and compares its probe outputs with the ones recorded during the study.

    .venv/bin/python tests/perf/export_cost.py --trials 4 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    import numpy as np
    import optuna

    from search import StudyConfig, run_study
    from search.export import hook
    from search.export.probe import Probe
    from search.export.trial import trial_info
    from search.export.weights import _study_seed, restore_hp, retrain
    from search.space.loader import load_space
    from search.tracking.models import ModelStore

    calls: list[float] = []
    original = hook._RecordBest.on_train_end

    def timed(self, logs=None):
        started = time.perf_counter()
        original(self, logs)
        calls.append(time.perf_counter() - started)

    hook._RecordBest.on_train_end = timed
    home = Path(tempfile.mkdtemp(prefix="export-cost-")) / "home"
    started = time.perf_counter()
    run_study(StudyConfig(space=args.space, study="cost", trials=args.trials, epochs=args.epochs,
                          sampler="random", pruner="none", home=str(home), progress=False))
    study_s = time.perf_counter() - started
    print(f"hook: {len(calls)} calls, mean {1000 * np.mean(calls):.0f} ms, max {1000 * max(calls):.0f} ms; "
          f"study {study_s:.1f} s for {args.trials} trials ({100 * sum(calls) / study_s:.1f}% of the wall time)")

    search_bin = str(Path(sys.executable).parent / "search")
    for fmt, out in (("keras", "m.keras"), ("savedmodel", "m_saved"), ("mlflow", "m_mlflow")):
        started = time.perf_counter()
        done = subprocess.run([search_bin, "export", "cost", "--format", fmt, "--out", str(home.parent / out),
                               "--home", str(home)], capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode:
            print(f"export {fmt}: FAILED {done.stderr.strip()}")
            continue
        manifest = home.parent / (out + ".manifest.json" if fmt == "keras" else f"{out}/manifest.json")
        v = json.loads(manifest.read_text())["verification"]
        print(f"export {fmt}: {wall:.1f} s wall (one process + one fresh verification process), "
              f"max abs diff {v['max_abs_diff']:.3g} on {v['probe_rows']} rows")

    study = optuna.load_study(study_name="cost", storage=f"sqlite:///{home}/optuna.db")
    info = trial_info(study, study.best_trial)
    space = load_space(info.space_path)
    store = ModelStore(f"sqlite:///{home}/mlflow.db")
    recorded = Probe.load(home / "keras_tuner" / "cost" / f"trial_{info.kt_trial_id}" / "probe.npz")
    started = time.perf_counter()
    again = retrain(space, info, restore_hp(info.values, info.settings), _study_seed(store, info), lambda _: None)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(again.probe.outputs, recorded.outputs))
    scale = max(float(np.max(np.abs(b))) for b in recorded.outputs)
    print(f"retrain of trial {info.number}: {time.perf_counter() - started:.1f} s; probe outputs vs the study's: "
          f"max abs diff {diff:.3g} (outputs up to {scale:.3g})")


if __name__ == "__main__":
    main()
