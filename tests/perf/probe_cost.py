"""What the start-up probe (:func:`search.space.probe.probe`) adds to ``search run`` for each shipped space.

    .venv/bin/python tests/perf/probe_cost.py --rounds 5

Each round starts a fresh process per space (as ``search run`` is one), which imports
TensorFlow, loads the space and its data with the default settings and seed 0 (untimed),
then times the probe once (``first``: what ``search run`` pays) and again ``--repeats``
times (``again``: the probe without first-call costs). Prints, per space, the median, min
and max over rounds of both, and the load average.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

ONE_ROUND = """
import json, sys, time
from search.space.loader import load_space
from search.space.probe import probe
from search.space.sets import resolve_sets
from search.study.plan import make_setup
import keras  # imported by search run before the probe too

space = load_space(sys.argv[1])
setup = make_setup(space, *resolve_sets(space, {}), None, 0)
times = []
for _ in range(1 + int(sys.argv[2])):
    started = time.perf_counter()
    probe(setup.space, setup.settings, setup.fixed, setup.data)
    times.append(time.perf_counter() - started)
print("PROBE " + json.dumps(times))
"""


def one_round(space: str, repeats: int) -> list[float]:
    done = subprocess.run([sys.executable, "-c", ONE_ROUND, space, str(repeats)], capture_output=True, text=True,
                          check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    from search.space.loader import list_spaces

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spaces", default=",".join(list_spaces()))
    args = parser.parse_args()
    spaces = args.spaces.split(",")
    print(f"load {open('/proc/loadavg').read().split()[:3]}")
    first: dict[str, list[float]] = {s: [] for s in spaces}
    again: dict[str, list[float]] = {s: [] for s in spaces}
    for _ in range(args.rounds):
        for space in spaces:  # interleaved
            times = one_round(space, args.repeats)
            first[space].append(times[0])
            again[space].extend(times[1:])
    for space in spaces:
        print(f"{space}: first probe {summary(first[space])}; again {summary(again[space])} "
              f"over {args.rounds} rounds")
    print(f"load {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
