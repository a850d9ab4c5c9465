"""Does a 40-trial multi-objective study cover the trade-off? Its front's hypervolume against a 200-trial random search's.

    .venv/bin/python tests/perf/pareto_hypervolume.py --home /tmp/pareto_hv --epochs 5 --parallel 2

For each seed of ``--seeds`` (0,1,2) it runs, each as its own ``search run`` process and in its own
home (``HOME/NAME``), on SPACE (default ``prototype_rbf``, digits, fold 0) with the objectives
``val_accuracy:max`` and ``params:min``: one ``--trials`` (40) study with each sampler of ``--samplers``
(default ``tpe``, the default sampler; ``tpe,nsga2`` adds NSGA-II) and one ``--random-trials`` (200)
study with ``--sampler random``. Every study has the same ``--epochs`` and the CLI's other defaults
(the space's ``SUGGESTED`` configuration runs first in each; a study of several objectives prunes
nothing). ``--parallel 2`` runs two studies at once, longest first: the wall times printed are then
those of a shared machine, which the hypervolumes do not depend on. A study whose ``time.json`` exists
is not run again (``--report-only`` runs nothing).

Hypervolume: per seed, the reference point is computed once from the union of the finished feasible
trials of every study of that seed (:func:`search.records.pareto.reference_point`), and each study's
front is measured against it (:func:`search.records.pareto.hypervolume`). Printed per seed: each
study's hypervolume, front size, trials complete/failed and wall time; HV(study) / HV(random-200);
the same for the random study's first ``--trials`` trials (what random search finds in the same budget);
and, as a stricter view, the same ratios with ``log10(params)`` in place of ``params`` (in linear
params, the largest models set the reference point and every small accurate model dominates most of
the box). Then the median and range of each ratio over the seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OBJECTIVES = (("val_accuracy", "max"), ("params", "min"))
SEARCH = str(Path(sys.executable).with_name("search"))


def study_name(sampler: str, seed: int) -> str:
    return f"{sampler}-s{seed}"


def command(args: argparse.Namespace, sampler: str, seed: int, trials: int, home: Path) -> list[str]:
    cmd = [SEARCH, "run", args.space, "--home", str(home), "--study", study_name(sampler, seed),
           "--trials", str(trials), "--sampler", sampler, "--seed", str(seed)]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    for name, direction in OBJECTIVES:
        cmd += ["--objective", f"{name}:{direction}"]
    for item in args.set:
        cmd += ["--set", item]
    return cmd


def run_queue(jobs: list[tuple[list[str], Path]], parallel: int) -> None:
    """Runs the commands, ``parallel`` at a time, in the given order; writes ``time.json`` beside each log."""
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < parallel:
            cmd, home = pending.pop(0)
            home.mkdir(parents=True, exist_ok=True)
            log = open(home / "run.log", "w")
            print(f"start {home.name}: {' '.join(cmd)}", flush=True)
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), home, log,
                            time.perf_counter(), _load()))
        time.sleep(1.0)
        for job in list(running):
            proc, home, log, started, load = job
            if proc.poll() is None:
                continue
            running.remove(job)
            log.close()
            seconds = time.perf_counter() - started
            print(f"done  {home.name}: rc {proc.returncode}, {seconds:.0f} s", flush=True)
            if proc.returncode == 0:
                (home / "time.json").write_text(json.dumps(
                    {"wall_s": seconds, "load_start": load, "load_end": _load(), "parallel": parallel}))


def _load() -> list[str]:
    return open("/proc/loadavg").read().split()[:3]


def load_trials(home: Path, name: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=f"sqlite:///{home / 'optuna.db'}").get_trials(deepcopy=False)


def log_params(trials):
    """The trials with ``log10(params)`` in place of ``params`` (what :mod:`search.records.pareto` reads)."""
    index = [n for n, _ in OBJECTIVES].index("params")
    out = []
    for t in trials:
        values = None if t.values is None else [
            math.log10(max(v, 1.0)) if i == index else v for i, v in enumerate(t.values)]
        out.append(SimpleNamespace(state=t.state, values=values, constraints=t.constraints, number=t.number))
    return out


def hypervolumes(studies: dict[str, list]) -> dict[str, float]:
    """Each study's hypervolume with one reference point from the union of all of them."""
    from search.records.pareto import hypervolume, reference_point

    union = [t for trials in studies.values() for t in trials]
    reference = reference_point(union, OBJECTIVES)
    return {name: hypervolume(trials, OBJECTIVES, reference) for name, trials in studies.items()}


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} (range {min(values):.3f}-{max(values):.3f})"


def report(args: argparse.Namespace, samplers: list[str]) -> None:
    from search.records.pareto import finished, front

    ratios: dict[str, list[float]] = {}
    for seed in args.seeds:
        studies, rows = {}, []
        for sampler in [*samplers, "random"]:
            name = study_name(sampler, seed)
            home = args.home / name
            trials = load_trials(home, name)
            timing = json.loads((home / "time.json").read_text()) if (home / "time.json").exists() else {}
            studies[name] = trials
            spans = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials
                     if t.datetime_complete and t.datetime_start]
            rows.append((name, len(trials), len(finished(trials, len(OBJECTIVES))),
                         sum(t.state.name == "FAIL" for t in trials), len(front(trials, OBJECTIVES)),
                         timing.get("wall_s", math.nan), sum(spans)))
        random_name = study_name("random", seed)
        prefix = f"random@{args.trials}-s{seed}"
        first = sorted(studies[random_name], key=lambda t: t.number)[:args.trials]
        # The reference point comes from the studies compared (the union of their trials); the random
        # study's first trials are a subset of it, so adding them changes nothing.
        hv = hypervolumes(studies)
        hv[prefix] = hypervolumes({**studies, prefix: first})[prefix]
        hv_log = hypervolumes({name: log_params(trials) for name, trials in studies.items()})
        hv_log[prefix] = hypervolumes({**{n: log_params(t) for n, t in studies.items()}, prefix: log_params(first)})[prefix]
        print(f"\nseed {seed}")
        print(f"{'study':<16} {'trials':>6} {'complete':>8} {'failed':>6} {'front':>5} {'wall s':>7} "
              f"{'trials s':>8} {'HV':>12} {'/ random':>8} {'HV log':>9} {'/ random':>8}")
        for name, n, complete, failed, on_front, wall, spent in rows + [(prefix, args.trials, None, None, None,
                                                                          math.nan, math.nan)]:
            ratio, ratio_log = hv[name] / hv[random_name], hv_log[name] / hv_log[random_name]
            key = name.rsplit("-s", 1)[0]
            if name != random_name:
                ratios.setdefault(key, []).append(ratio)
                ratios.setdefault(key + " (log10 params)", []).append(ratio_log)
            print(f"{name:<16} {n:>6} {'' if complete is None else complete:>8} {'' if failed is None else failed:>6} "
                  f"{'' if on_front is None else on_front:>5} {wall:>7.0f} {spent:>8.0f} {hv[name]:>12.2f} "
                  f"{ratio:>8.3f} {hv_log[name]:>9.4f} {ratio_log:>8.3f}")
    print(f"\nHV / HV(random, {args.random_trials} trials), over seeds {','.join(map(str, args.seeds))}:")
    for key, values in ratios.items():
        print(f"  {key:<26} {summary(values)}  per seed: {', '.join(f'{v:.3f}' for v in values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/pareto_hv"))
    parser.add_argument("--space", default="prototype_rbf")
    parser.add_argument("--set", action="append", default=["dataset=digits", "fold=0"])
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--random-trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the space's)")
    parser.add_argument("--samplers", default="tpe", help="comma-separated: the samplers of the short studies")
    parser.add_argument("--parallel", type=int, default=1, help="studies run at once")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    args.home = args.home.resolve()
    samplers = args.samplers.split(",")

    if not args.report_only:
        jobs = []
        # Longest first, so that the queue's slots end together.
        for sampler, trials in [("random", args.random_trials), *[(s, args.trials) for s in samplers]]:
            for seed in args.seeds:
                home = args.home / study_name(sampler, seed)
                if not (home / "time.json").exists():
                    jobs.append((command(args, sampler, seed, trials, home), home))
        started = time.perf_counter()
        print(f"load {_load()}; {len(jobs)} studies to run, {args.parallel} at a time", flush=True)
        run_queue(jobs, args.parallel)
        print(f"all studies: {time.perf_counter() - started:.0f} s; load {_load()}", flush=True)
    print(f"\n{args.space} {' '.join('--set ' + s for s in args.set)}, objectives "
          f"{', '.join(f'{n}:{d}' for n, d in OBJECTIVES)}, "
          f"{f'{args.epochs} epochs' if args.epochs else 'the space' + chr(39) + 's epochs'} per trial")
    report(args, samplers)


if __name__ == "__main__":
    main()
