"""One ``tf.data`` iterator per ``fit`` (``search.data.fit_arrays``) against Keras's one per epoch.

    .venv/bin/python tests/perf/fit_iterators.py --space iq_combiner --trials 12 --epochs 5 --rounds 4

Given NumPy arrays, ``model.fit`` builds a new ``tf.data`` iterator for every epoch's
training pass and every validation pass. One untimed ``search run`` (random sampler, seed
0) yields the trial configurations; each round then trains them all (the same seeds, the
space's model and data) with the space's ``fit`` and with ``fit_arrays``, interleaved, and
prints both wall times, their medians and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
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

    sys.path.insert(0, str(Path(__file__).parent))
    from harness_overhead import random_configs, run_bare

    from search.data import fit_arrays, load_data
    from search.spaces import load_space

    configs = random_configs(args.space, args.trials)
    space = load_space(args.space)
    settings = space.default_settings()
    space = space.with_settings(settings)
    data = load_data(space, 0, settings)
    variants = {"the space's fit (model.fit on arrays)": None, "fit_arrays": fit_arrays}
    for fit in variants.values():  # first-time costs, untimed
        run_bare(space, data, configs[:1], 1, fit=fit)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, fit in variants.items():
            started = time.perf_counter()
            run_bare(space, data, configs, args.epochs, fit=fit)
            times[name].append(time.perf_counter() - started)
        print(f"round {r}: " + ", ".join(f"{name} {t[-1]:.2f} s" for name, t in times.items())
              + f"; load {open('/proc/loadavg').read().split()[0]}", flush=True)
    base, fast = (statistics.median(t) for t in times.values())
    print(f"median of {args.trials} trials x {args.epochs} epochs: the space's fit {base:.2f} s, "
          f"fit_arrays {fast:.2f} s ({fast / base:.2f}x)")


if __name__ == "__main__":
    main()
