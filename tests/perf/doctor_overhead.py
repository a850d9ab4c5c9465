"""What the trial doctor and the pictures cost: the same study with and without them.

Runs ``iq_combiner`` (random sampler, same seed, so both arms train the same
configurations) once with ``search run``'s default hooks and listeners and once with
the doctor's and the pictures' removed (gradient audit, events, numerics sentinel, trial
plots, study plots), alternating the arms ``--repeats`` times after one untimed warm-up run of each
(first imports of matplotlib and Optuna's plotting), and prints the wall time per trial
and the time the study-plot refreshes took.

    .venv/bin/python tests/perf/doctor_overhead.py --trials 6 --epochs 5 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import search.study.execute as execute
from search import StudyConfig, run_study

DOCTOR_AND_PICTURES = ("GradientAuditHook", "TrainingEventsHook", "NumericsSentinelHook", "TrialPlotsHook", "StudyPlots")
_hooks, _listeners = execute.default_trial_hooks, execute.default_listeners


_made: list = []


def _listeners_kept(study, tracker, *args):
    made = _listeners(study, tracker, *args)
    _made.extend(x for x in made if type(x).__name__ == "StudyPlots")
    return made


def _with_doctor_and_pictures(on: bool) -> None:
    if on:
        execute.default_trial_hooks, execute.default_listeners = _hooks, _listeners_kept
    else:
        execute.default_trial_hooks = lambda space: [h for h in _hooks(space) if type(h).__name__ not in DOCTOR_AND_PICTURES]
        execute.default_listeners = lambda s, t, *a: [x for x in _listeners(s, t, *a) if type(x).__name__ not in DOCTOR_AND_PICTURES]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    times: dict[bool, list[float]] = {True: [], False: []}
    for repeat in range(-1, args.repeats):  # -1: the untimed warm-up
        for on in (True, False):
            _with_doctor_and_pictures(on)
            _made.clear()
            trials = 1 if repeat < 0 else args.trials
            with tempfile.TemporaryDirectory() as home:
                os.environ["SEARCH_HOME"] = home
                started = time.perf_counter()
                result = run_study(StudyConfig(space=args.space, study="overhead", trials=trials,
                                               epochs=args.epochs, sampler="random", seed=0, progress=False))
                seconds = time.perf_counter() - started
            if repeat < 0:
                continue
            times[on].append(seconds / trials)
            plots = f"; study plots {_made[0].refreshes} refreshes, {_made[0].seconds:.1f} s" if _made else ""
            print(f"repeat {repeat} doctor+plots {'on ' if on else 'off'}: {seconds:.1f} s, "
                  f"{seconds / trials:.2f} s/trial ({result.complete} complete, {result.pruned} pruned, "
                  f"{result.failed} failed){plots}", flush=True)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"median s/trial: on {on:.2f}, off {off:.2f}, overhead {on - off:+.2f} s/trial ({(on - off) / off:+.0%})")


if __name__ == "__main__":
    main()
