"""Parallel workers: trials per hour with 1 and 2 local workers (``search run --workers N``).

    .venv/bin/python tests/perf/workers.py --trials 24 --epochs 5 --rounds 2

Runs the CLI as a user would, fresh home each time (random sampler, no pruner, so every
trial trains all its epochs), interleaving 1 and 2 workers. Prints, per run, the wall
time split into start-up (command start to the first trial's start), the trials (first
start to last end, from the Optuna storage) and the tail (last end to exit), and two
rates: end to end (trials / wall time) and while trials run (trials / trial span, what an
hours-long study sees); then the medians and the 2-worker/1-worker ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(space: str, workers: int, trials: int, epochs: int) -> dict[str, float]:
    import optuna

    with tempfile.TemporaryDirectory() as home:
        started = time.time()
        subprocess.run(
            [str(Path(sys.executable).parent / "search"), "run", space, "--study", "bench", "--trials", str(trials),
             "--epochs", str(epochs), "--sampler", "random", "--pruner", "none", "--workers", str(workers),
             "--home", home],
            check=True, capture_output=True,
        )
        ended = time.time()
        done = optuna.load_study(study_name="bench", storage=f"sqlite:///{home}/optuna.db").trials
    first = min(t.datetime_start for t in done).timestamp()
    last = max(t.datetime_complete for t in done).timestamp()
    return {"wall": ended - started, "startup": first - started, "span": last - first, "tail": ended - last,
            "end_to_end": trials / (ended - started) * 3600, "steady": trials / (last - first) * 3600}


def main() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for r in range(args.rounds):
        for workers in (1, 2):
            x = run(args.space, workers, args.trials, args.epochs)
            results[workers].append(x)
            print(f"round {r}, {workers} worker(s): {x['wall']:.1f} s (start-up {x['startup']:.1f}, trials "
                  f"{x['span']:.1f}, tail {x['tail']:.1f}); {x['end_to_end']:.0f} trials/h end to end, "
                  f"{x['steady']:.0f} while trials run; load {open('/proc/loadavg').read().split()[0]}", flush=True)
    for key in ("end_to_end", "steady"):
        one = statistics.median(x[key] for x in results[1])
        two = statistics.median(x[key] for x in results[2])
        print(f"median trials/h ({key.replace('_', ' ')}): 1 worker {one:.0f}, 2 workers {two:.0f}, ratio {two / one:.2f}")


if __name__ == "__main__":
    main()
