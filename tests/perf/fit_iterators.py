"""``search.space.fit_arrays`` against Keras's own ``model.fit`` on arrays.

    .venv/bin/python tests/perf/fit_iterators.py --space iq_combiner --trials 12 --epochs 5 --rounds 4
    .venv/bin/python tests/perf/fit_iterators.py --cores 1     # pinned to one core, as each of 2 workers is

Given NumPy arrays, ``model.fit`` builds a new ``tf.data`` iterator for every epoch's
training pass and every validation pass; ``fit_arrays`` reads one shuffled, repeated dataset
per ``fit``, with tf.data's autotuning off (letting an autotuned iterator go waits on a
sleeping thread). One untimed ``search run`` (random sampler, seed 0) yields the trial
configurations; each round then trains them all (the same seeds, the space's model and data)
with ``model.fit`` and with ``fit_arrays``, interleaved, and prints the wall and CPU time of
each (``getrusage``: all of this process's threads) and how many cores were busy, then the
medians and the ratio. With ``--cores 1`` the process runs on one core
(``os.sched_setaffinity``) with one TensorFlow thread per pool, as a worker of
``search run --workers 2`` does: there a busy fraction under 1 is time the core sat idle.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--cores", type=int, default=0, help="run on this many cores (0: all, TensorFlow's threads)")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).parent))
    from harness_overhead import model_fit, random_configs, run_bare

    configs = random_configs(args.space, args.trials)
    if args.cores:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.cores])
        os.environ.update(TF_NUM_INTRAOP_THREADS=str(args.cores), TF_NUM_INTEROP_THREADS="1")

    from search.space import fit_arrays, load_data
    from search.space.loader import load_space

    space = load_space(args.space)
    settings = space.default_settings()
    space = space.with_settings(settings)
    data = load_data(space, 0, settings)
    variants = {"model.fit": model_fit, "fit_arrays": fit_arrays}
    for fit in variants.values():  # first-time costs, untimed
        run_bare(space, data, configs[:1], 1, fit=fit)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, fit in variants.items():
            started, cpu = time.perf_counter(), _cpu()
            run_bare(space, data, configs, args.epochs, fit=fit)
            times[name].append((time.perf_counter() - started, _cpu() - cpu))
        print(f"round {r}: " + ", ".join(f"{name} {t[-1][0]:.2f} s (CPU {t[-1][1]:.2f} s, {t[-1][1] / t[-1][0]:.2f} "
                                         f"cores busy)" for name, t in times.items())
              + f"; load {open('/proc/loadavg').read().split()[0]}", flush=True)
    (base, base_cpu), (fast, fast_cpu) = ((statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
                                          for t in times.values())
    where = f"on {args.cores} core(s)" if args.cores else "on all cores"
    print(f"median of {args.trials} trials x {args.epochs} epochs {where}: model.fit {base:.2f} s (CPU {base_cpu:.2f} s), "
          f"fit_arrays {fast:.2f} s (CPU {fast_cpu:.2f} s): {fast / base:.2f}x the time, {fast_cpu / base_cpu:.2f}x the CPU")


if __name__ == "__main__":
    main()
