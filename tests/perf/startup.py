"""Start-up: ``search --help`` and the time from process start to the first finished epoch.

    .venv/bin/python tests/perf/startup.py --repeats 5

The first-epoch figure runs ``search run SPACE --trials 1 --epochs 1`` in a fresh
process (fresh home) and notes when MLflow tracking first receives an epoch's metrics.
Prints medians of ``--repeats`` runs and the load average.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
FIRST_EPOCH = """
import sys, time
T0 = float(sys.argv[1])
import search.tracking.tracker as t
_orig = t.Tracker.epoch_ended
def first(self, *a, **k):
    if not getattr(t, "_seen", False):
        t._seen = True
        print(f"FIRST_EPOCH {time.time() - T0:.3f}", file=sys.stderr, flush=True)
    return _orig(self, *a, **k)
t.Tracker.epoch_ended = first
from search.cli import main
sys.argv = ["search", *sys.argv[2:]]
main()
"""


def help_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([str(VENV_BIN / "search"), "--help"], check=True, capture_output=True)
    return time.perf_counter() - started


def first_epoch_seconds(space: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as home:
        started = time.time()
        done = subprocess.run(
            [sys.executable, "-c", FIRST_EPOCH, repr(started), "run", space, "--trials", "1", "--epochs", "1",
             "--home", home], capture_output=True, text=True, check=True,
        )
        total = time.time() - started
    line = next(x for x in done.stderr.splitlines() if x.startswith("FIRST_EPOCH"))
    return float(line.split()[1]), total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"load {open('/proc/loadavg').read().split()[:3]}")
    helps = [help_seconds() for _ in range(args.repeats)]
    print(f"search --help: median {statistics.median(helps):.3f} s of {[round(h, 3) for h in helps]}", flush=True)
    firsts = [first_epoch_seconds(args.space) for _ in range(max(1, args.repeats // 2))]
    print(f"search run {args.space} --trials 1 --epochs 1: first epoch finished after median "
          f"{statistics.median(f for f, _ in firsts):.2f} s, process ended after {statistics.median(t for _, t in firsts):.2f} s "
          f"({[(round(f, 2), round(t, 2)) for f, t in firsts]})")


if __name__ == "__main__":
    main()
