"""Parallel workers: trials per hour with 1 and 2 local workers (``search run --workers N``).

    .venv/bin/python tests/perf/workers.py --trials 8 --epochs 3 --rounds 2

Runs the CLI as a user would, fresh home each time (random sampler, no pruner, so every
trial trains all its epochs), interleaving 1 and 2 workers, and prints trials per hour
and the ratio. On a shared machine the load average is printed beside each figure.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(space: str, workers: int, trials: int, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "search"), "run", space, "--trials", str(trials), "--epochs", str(epochs),
             "--sampler", "random", "--pruner", "none", "--workers", str(workers), "--home", home],
            check=True, capture_output=True,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rates: dict[int, list[float]] = {1: [], 2: []}
    for r in range(args.rounds):
        for workers in (1, 2):
            seconds = run(args.space, workers, args.trials, args.epochs)
            rates[workers].append(args.trials / seconds * 3600)
            print(f"round {r}, {workers} worker(s): {seconds:.1f} s, {rates[workers][-1]:.0f} trials/h, "
                  f"load {open('/proc/loadavg').read().split()[0]}", flush=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"median trials/h: 1 worker {one:.0f}, 2 workers {two:.0f}, ratio {two / one:.2f}")


if __name__ == "__main__":
    main()
