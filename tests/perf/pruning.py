"""Pruning: epochs spent and best value with each pruner (by default ASHA, the default, and median) versus none.

    .venv/bin/python tests/perf/pruning.py --trials 16 --epochs 20 --samplers random --set n_train=256

Every arm runs ``iq_combiner`` with the same sampler and seed, without the space's
``SUGGESTED`` configurations, one after another per sampler.
With ``--sampler random`` both arms draw the same configurations, so the comparison
isolates the pruner: epochs saved, and whether the best trial survived. With ``tpe`` the
sampler learns from pruned trials too, so the arms diverge after the first trials.
Prints, per arm: epochs trained, trials complete/pruned, best value, wall time (after an
untimed one-trial run that pays TensorFlow's and the stores' first-time costs).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samplers", default="random,tpe")
    parser.add_argument("--pruners", default="asha,median,none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()

    import optuna

    from search import StudyConfig, run_study
    from search.study.config import parse_sets

    print(f"load {open('/proc/loadavg').read().split()[:3]}; {args.space}, {args.trials} trials x {args.epochs} epochs, "
          f"seed {args.seed}, sets {args.sets}", flush=True)
    with tempfile.TemporaryDirectory() as home:  # TensorFlow's and the stores' first-time costs, untimed
        run_study(StudyConfig(space=args.space, study="warm-up", trials=1, epochs=1, sampler="random", pruner="none",
                              seed=args.seed, sets=parse_sets(args.sets), suggested=False, progress=False,
                              home=home))
    for sampler in args.samplers.split(","):
        for pruner in args.pruners.split(","):
            with tempfile.TemporaryDirectory() as home:
                started = time.perf_counter()
                result = run_study(StudyConfig(space=args.space, study="prune", trials=args.trials, epochs=args.epochs,
                                               sampler=sampler, pruner=pruner, seed=args.seed, sets=parse_sets(args.sets),
                                               suggested=False, progress=False, home=home))
                seconds = time.perf_counter() - started
                study = optuna.load_study(study_name="prune", storage=f"sqlite:///{home}/optuna.db")
                epochs = sum(len(t.intermediate_values) for t in study.trials)
            print(f"{sampler:7s} pruner {pruner:9s}: {epochs:4d} epochs, {result.complete} complete, {result.pruned} pruned, "
                  f"{result.failed} failed, best {result.best_value:.4g} (trial {result.best_trial}), {seconds:.0f} s",
                  flush=True)


if __name__ == "__main__":
    main()
