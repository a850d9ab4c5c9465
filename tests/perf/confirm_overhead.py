"""``search confirm`` against the bare retrains it consists of.

    .venv/bin/python tests/perf/confirm_overhead.py --trials 5 --seeds 5 --epochs 20 --rounds 4

One untimed ``search run SPACE`` (random sampler, seed 0, no pruner, ``--trials + 1`` trials of
``--epochs``) makes the study. Then each round runs, interleaved (in reverse order every other round,
so a drift in the machine's load weighs on every variant alike), each variant in a fresh process:

  (a) bare: the same ``trials x seeds`` retrains (the confirmation's configurations, seeds and
      order) as ``keras.utils.set_random_seed(seed)`` + ``build(hp)`` + the space's ``fit`` in a
      loop, on data loaded before the clock starts;
  (b) ``search.study.confirm.confirm(STUDY, top=trials, seeds=seeds)``, on a fresh copy of the
      study's home: opening the study, loading the space and its data, the parent run, every
      retrain's MLflow run and study attribute, the statistics and the summary;
  (c) optional (``--variants a,b,c``): (b) with ``--workers 2``.

A fresh process per variant and round: a bare loop keeps every model's traced graphs (Keras's
optimizer registers them in TensorFlow's gradient registry), which slows whatever runs after it in
its process. Each process first pays the first-time costs untimed (TensorFlow's import, the first
trace; (a) one bare retrain, (b) and (c) a confirmation of that retrain on another copy).

Prints each variant's wall time per round, the medians with their ranges, and the ratios to (a):
the ratio of the medians and the median of the rounds' ratios; the same for the CPU time of the
process and the workers it waited for (user + system), which other jobs on a shared machine disturb
less than the wall time. For (b) and (c) also the time their retrains spent in ``build`` + ``fit``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_study(space: str, trials: int, epochs: int, home: Path) -> None:
    """The study to confirm, made by the CLI as a user makes it (untimed)."""
    subprocess.run([str(Path(sys.executable).parent / "search"), "run", space, "--study", "bench", "--trials",
                    str(trials), "--epochs", str(epochs), "--sampler", "random", "--pruner", "none", "--home",
                    str(home)], check=True, capture_output=True)


def bare_retrains(study: Any, top: int, seeds: int) -> tuple[Any, Any, list[tuple[dict, int]], int]:
    """The space, its data, the (values, seed) of every retrain a confirmation of ``study`` trains, in
    its order, and the study's epochs."""
    from search.records import keys
    from search.space.data import load_data
    from search.study.confirm import retrain_seed, select_trials
    from search.study.plan import space_for_study

    attrs = study.user_attrs
    settings = attrs[keys.STUDY_SETTINGS]
    space = space_for_study(attrs).with_settings(settings)
    seed = int(attrs.get(keys.STUDY_SEED) or 0)
    chosen = select_trials(study, top, None)
    runs = [(keys.values_of(t), retrain_seed(seed, t.user_attrs[keys.KT_TRIAL_ID], s))
            for s in range(seeds) for t in chosen]
    return space, load_data(space, seed, settings), runs, int(attrs[keys.STUDY_EPOCHS])


def run_bare(space: Any, data: Any, runs: list[tuple[dict, int]], epochs: int) -> None:
    import keras
    import keras_tuner

    hypermodel = space.hypermodel()
    for values, seed in runs:
        keras.utils.set_random_seed(seed)
        hp = keras_tuner.HyperParameters()
        hp.values = dict(values)
        model = hypermodel.build(hp)
        hypermodel.fit(hp, model, **data.fit_kwargs(), epochs=epochs, verbose=0)


def run_confirm(pristine: Path, top: int, seeds: int, workers: int = 1) -> tuple[float, Any, float]:
    """Seconds of one confirmation on a fresh copy of the study's home (the copy untimed), its result, and
    the seconds its retrains spent in ``build`` + ``fit`` (as each retrain's record has it)."""
    import optuna

    from search.records.confirmed import retrains
    from search.study.confirm import confirm

    with tempfile.TemporaryDirectory() as folder:
        home = Path(shutil.copytree(pristine, Path(folder) / "home"))
        started = time.perf_counter()
        result = confirm("bench", top=top, seeds=seeds, workers=workers, home=str(home))
        seconds = time.perf_counter() - started
        study = optuna.load_study(study_name="bench", storage=f"sqlite:///{home}/optuna.db")
        return seconds, result, sum(r["seconds"] for r in retrains(study.user_attrs).values())


def cpu_seconds() -> float:
    """User + system time of this process and of the children it waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def arm(variant: str, pristine: Path, top: int, seeds: int) -> dict[str, Any]:
    """One variant in this (fresh) process, after its untimed warm-up: wall and CPU seconds."""
    from search._quiet import quiet_imports

    quiet_imports()
    import optuna

    study = optuna.load_study(study_name="bench", storage=f"sqlite:///{pristine}/optuna.db")
    space, data, runs, epochs = bare_retrains(study, top, seeds)
    if variant == "a":
        run_bare(space, data, runs[:1], epochs)
        cpu, started = cpu_seconds(), time.perf_counter()
        run_bare(space, data, runs, epochs)
        return {"wall": time.perf_counter() - started, "cpu": cpu_seconds() - cpu}
    run_confirm(pristine, 1, 1)
    cpu = cpu_seconds()
    seconds, result, training = run_confirm(pristine, top, seeds, 2 if variant == "c" else 1)
    assert result.trained == len(runs), result.lines()
    return {"wall": seconds, "cpu": cpu_seconds() - cpu, "training": training, "lines": result.lines()}


def _range(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="bounded_activation")
    parser.add_argument("--trials", type=int, default=5, help="trials confirmed (--top)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="a,b")
    parser.add_argument("--home", help="a home with study 'bench' to reuse (made there when missing)")
    parser.add_argument("--arm", help=argparse.SUPPRESS)  # one variant, in a process of its own
    args = parser.parse_args()

    kept = tempfile.TemporaryDirectory()
    pristine = Path(args.home or kept.name).resolve()
    if args.arm:
        print(json.dumps(arm(args.arm, pristine, args.trials, args.seeds)))
        sys.stdout.flush()
        os._exit(0)  # skip TensorFlow's slow finalization
    if not (pristine / "optuna.db").exists():
        started = time.perf_counter()
        make_study(args.space, args.trials + 1, args.epochs, pristine)
        print(f"study: {args.trials + 1} trials x {args.epochs} epochs of {args.space} in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
    print(f"{args.trials} trials x {args.seeds} seeds of study 'bench' in {pristine}; load {_load()}", flush=True)
    times: dict[str, list[float]] = {v: [] for v in args.variants.split(",")}
    cpu: dict[str, list[float]] = {v: [] for v in times}
    lines: list[str] = []
    for r in range(args.rounds):
        for variant in (list(times) if r % 2 == 0 else list(times)[::-1]):  # a, b, b, a, ...: drift cancels
            done = subprocess.run([sys.executable, __file__, "--arm", variant, "--home", str(pristine), "--trials",
                                   str(args.trials), "--seeds", str(args.seeds)], check=True, capture_output=True,
                                  text=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            times[variant].append(figures["wall"])
            cpu[variant].append(figures["cpu"])
            lines = figures.get("lines", lines)
            inside = f", its retrains' build + fit {figures['training']:.2f} s" if "training" in figures else ""
            print(f"round {r} ({variant}): {figures['wall']:.2f} s, cpu {figures['cpu']:.2f} s{inside}  "
                  f"load {_load()}", flush=True)
    print("\n".join(lines))
    for label, found in (("wall", times), ("cpu", cpu)):
        print(f"{label}: median s (range): " + ", ".join(f"({v}) {_range(t)}" for v, t in found.items()))
        for v, t in found.items():
            if v != "a" and "a" in found:
                per_round = [x / a for x, a in zip(t, found["a"])]
                print(f"  ({v})/(a): ratio of medians {statistics.median(t) / statistics.median(found['a']):.3f}; "
                      f"median of the rounds' ratios {statistics.median(per_round):.3f} "
                      f"(rounds {min(per_round):.3f}-{max(per_round):.3f})")
    kept.cleanup()


if __name__ == "__main__":
    main()
