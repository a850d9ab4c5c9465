"""One ``tf.data`` iterator per ``fit`` (``search.data.fit_arrays``) against Keras's one per epoch.

    .venv/bin/python tests/perf/fit_iterators.py --space iq_combiner --trials 12 --epochs 5 --rounds 4

Given NumPy arrays, ``model.fit`` builds a new ``tf.data`` iterator for every epoch's
training pass and every validation pass. One untimed ``search run`` (random sampler, seed
0) yields the trial configurations; each round then trains them all (the same seeds, the
space's model and data) with ``model.fit`` on the arrays and with ``fit_arrays``,
interleaved, and prints both wall times, their medians and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    import keras
    import keras_tuner
    import optuna

    from search.data import fit_arrays, load_data
    from search.spaces import load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as home:
        subprocess.run([str(Path(sys.executable).parent / "search"), "run", args.space, "--study", "configs", "--trials",
                        str(args.trials), "--epochs", "1", "--sampler", "random", "--pruner", "none", "--home", home],
                       check=True, capture_output=True)
        study = optuna.load_study(study_name="configs", storage=f"sqlite:///{home}/optuna.db")
        configs = [t.user_attrs["hp"] for t in sorted(study.trials, key=lambda t: t.number)]
    space = load_space(args.space)
    settings = space.default_settings()
    space = space.with_settings(settings)
    data = load_data(space, 0, settings)
    hypermodel = space.hypermodel()

    def train(fit) -> float:
        started = time.perf_counter()
        for n, values in enumerate(configs):
            keras.utils.set_random_seed(n)
            hp = keras_tuner.HyperParameters()
            hp.values = dict(values)
            model = hypermodel.build(hp)
            fit(model, data.x, data.y, batch_size=hp.values.get("batch_size"),
                validation_data=(data.x_val, data.y_val), epochs=args.epochs, verbose=0)
        return time.perf_counter() - started

    def keras_fit(model, *a, **k):
        return model.fit(*a, **k)

    variants = {"model.fit on arrays": keras_fit, "fit_arrays": fit_arrays}
    for fit in variants.values():  # first-time costs, untimed
        train(fit)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, fit in variants.items():
            times[name].append(train(fit))
        print(f"round {r}: " + ", ".join(f"{name} {t[-1]:.2f} s" for name, t in times.items())
              + f"; load {open('/proc/loadavg').read().split()[0]}", flush=True)
    base, fast = (statistics.median(times[name]) for name in variants)
    print(f"median of {args.trials} trials x {args.epochs} epochs: model.fit on arrays {base:.2f} s, "
          f"fit_arrays {fast:.2f} s ({fast / base:.2f}x)")


if __name__ == "__main__":
    main()
