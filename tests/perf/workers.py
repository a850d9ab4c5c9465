"""Parallel workers: trials per hour with 1 and 2 local workers (``search run --workers N``).

    .venv/bin/python tests/perf/workers.py --trials 24 --epochs 5 --rounds 2

Runs the CLI as a user would, fresh home each time (random sampler, no pruner, so every
trial trains all its epochs), interleaving 1 and 2 workers. Prints, per run, the wall
time split into start-up (command start to the first trial's start), the trials (first
start to last end, from the Optuna storage) and the tail (last end to exit), and two
rates: end to end (trials / wall time) and while trials run (trials / trial span, what an
hours-long study sees); then the medians and the 2-worker/1-worker ratios. Each run's CPU
time (all its processes, start-up included) shows how much of the machine it used and
whether the same trials cost more CPU when two workers run at once.

With ``--ceiling`` it first measures what this machine allows: the bare ``build`` + ``fit``
loop over the same kind of trials in one process (TensorFlow's default threads), then shared
by two processes running at once (one intra-op thread each, as ``--workers 2`` sets; each
takes the next configuration neither has claimed, as workers take a study's next trial);
the ratio of the two times (start to the end of the last trial, process exits left out, as
the "while trials run" rate does) is about the most 2 workers could gain here, harness or not.
Each bare loop also reports the CPU time it spent training: if the same trials take more
CPU time with two processes than with one, the cores slow each other down (shared caches,
memory bandwidth, or vCPUs that share a physical core), which no harness can avoid.
With ``--model-fit`` the ceiling is measured twice, interleaved: with the space's ``fit``
(``search.space.fit_arrays`` in the shipped spaces) and with Keras's own ``model.fit`` on the
arrays (a new ``tf.data`` iterator every epoch, as the spaces trained before).
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


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's ended, waited-for descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(space: str, workers: int, trials: int, epochs: int) -> dict[str, float]:
    import optuna

    with tempfile.TemporaryDirectory() as home:
        cpu = _children_cpu()
        started = time.time()
        subprocess.run(
            [str(Path(sys.executable).parent / "search"), "run", space, "--study", "bench", "--trials", str(trials),
             "--epochs", str(epochs), "--sampler", "random", "--pruner", "none", "--workers", str(workers),
             "--home", home],
            check=True, capture_output=True,
        )
        ended = time.time()
        cpu = _children_cpu() - cpu  # the workers are the search process's children, waited for
        done = optuna.load_study(study_name="bench", storage=f"sqlite:///{home}/optuna.db").trials
    first = min(t.datetime_start for t in done).timestamp()
    last = max(t.datetime_complete for t in done).timestamp()
    return {"wall": ended - started, "startup": first - started, "span": last - first, "tail": ended - last,
            "end_to_end": trials / (ended - started) * 3600, "steady": trials / (last - first) * 3600,
            "cpu": cpu}


def bare_child(space_name: str, configs_path: str, epochs: int, fit: str = "space") -> None:
    """Once told to go on stdin, trains the configurations no other bare-loop process has
    claimed yet, as a bare loop (the next free one each time, like workers sharing a study),
    with the space's ``fit`` or (``fit="model.fit"``) with Keras's ``model.fit`` on the arrays."""
    sys.path.insert(0, str(Path(__file__).parent))
    import harness_overhead
    from search.space import load_data
    from search.space.loader import load_space

    space = load_space(space_name)
    settings = space.default_settings()
    space = space.with_settings(settings)
    data = load_data(space, 0, settings)
    configs = json.loads(Path(configs_path).read_text())
    fit_with = None if fit == "space" else harness_overhead.model_fit
    harness_overhead.run_bare(space, data, configs[:1], 1, fit=fit_with)  # imports and first-time costs, untimed
    print("ready", flush=True)
    claims = Path(sys.stdin.readline().strip())
    cpu = time.process_time()
    for n, values in enumerate(configs):
        try:
            os.close(os.open(claims / str(n), os.O_CREAT | os.O_EXCL))
        except FileExistsError:  # another process trains it
            continue
        harness_overhead.run_bare(space, data, [values], epochs, seed=n, fit=fit_with)
    print(f"cpu {time.process_time() - cpu} end {time.time()}", flush=True)


def bare_processes(space: str, configs_path: str, processes: int, epochs: int, fit: str = "space") -> tuple[float, float]:
    """Seconds from the start of ``processes`` bare loops sharing the configurations to the end
    of the last one's last trial (not its exit: a TensorFlow process takes ~1.7 s to end),
    and the CPU seconds all of them spent training."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if processes > 1:
        env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
    children = [subprocess.Popen([sys.executable, __file__, "--bare-child", space, configs_path, str(epochs), fit],
                                 env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
                for _ in range(processes)]
    for child in children:
        assert child.stdout.readline().strip() == "ready", "a bare-loop process failed to start"
    claims = tempfile.mkdtemp(prefix="claims-")
    started = time.time()
    for child in children:
        child.stdin.write(claims + "\n")
        child.stdin.flush()
    cpu, ended = 0.0, started
    for child in children:
        line = child.stdout.readline().split()  # cpu SECONDS end TIMESTAMP
        if child.wait() or line[:1] != ["cpu"]:
            raise RuntimeError("a bare-loop process failed")
        cpu, ended = cpu + float(line[1]), max(ended, float(line[3]))
    shutil.rmtree(claims)
    return ended - started, cpu


def ceiling(space: str, trials: int, epochs: int, rounds: int, fits: tuple[str, ...] = ("space",)) -> None:
    """Prints the 2-process/1-process speed-up of the bare loop over ``trials`` random
    configurations, for each way of fitting in ``fits`` (interleaved)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import harness_overhead

    with tempfile.TemporaryDirectory() as home:
        path = os.path.join(home, "configs.json")
        Path(path).write_text(json.dumps(harness_overhead.random_configs(space, trials)))
        ratios: dict[str, list[float]] = {fit: [] for fit in fits}
        cpu_ratios: dict[str, list[float]] = {fit: [] for fit in fits}
        for r in range(rounds):
            for fit in fits:
                (one, one_cpu), (two, two_cpu) = (bare_processes(space, path, n, epochs, fit) for n in (1, 2))
                ratios[fit].append(one / two)
                cpu_ratios[fit].append(two_cpu / one_cpu)
                print(f"ceiling round {r} ({fit} fit): bare loop of {trials} trials x {epochs} epochs, 1 process "
                      f"{one:.1f} s (CPU {one_cpu:.1f} s, {one_cpu / one:.2f} cores busy), 2 processes {two:.1f} s "
                      f"(CPU {two_cpu:.1f} s, {two_cpu / two:.2f} cores): {one / two:.2f}x; the same work took "
                      f"{two_cpu / one_cpu:.2f}x the CPU time; load {open('/proc/loadavg').read().split()[0]}", flush=True)
        for fit in fits:
            print(f"median ceiling for 2 workers on this machine ({fit} fit): {statistics.median(ratios[fit]):.2f}x; "
                  f"median CPU time of the same work, 2 processes over 1: {statistics.median(cpu_ratios[fit]):.2f}x")


def main() -> None:
    if sys.argv[1:2] == ["--bare-child"]:
        space, path, epochs, fit = sys.argv[2:6]
        return bare_child(space, path, int(epochs), fit)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ceiling", action="store_true", help="first measure two bare loops at once")
    parser.add_argument("--model-fit", action="store_true",
                        help="the ceiling's bare loops also train with Keras's model.fit on arrays (both, interleaved)")
    args = parser.parse_args()
    if args.ceiling:
        ceiling(args.space, args.trials, args.epochs, args.rounds, ("space", "model.fit") if args.model_fit else ("space",))
    results: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for r in range(args.rounds):
        for workers in (1, 2):
            x = run(args.space, workers, args.trials, args.epochs)
            results[workers].append(x)
            print(f"round {r}, {workers} worker(s): {x['wall']:.1f} s (start-up {x['startup']:.1f}, trials "
                  f"{x['span']:.1f}, tail {x['tail']:.1f}); {x['end_to_end']:.0f} trials/h end to end, "
                  f"{x['steady']:.0f} while trials run; CPU {x['cpu']:.1f} s ({x['cpu'] / args.trials:.2f} s a trial, "
                  f"start-up included), {x['cpu'] / x['wall']:.2f} cores busy; "
                  f"load {open('/proc/loadavg').read().split()[0]}", flush=True)
    for key in ("end_to_end", "steady"):
        one = statistics.median(x[key] for x in results[1])
        two = statistics.median(x[key] for x in results[2])
        print(f"median trials/h ({key.replace('_', ' ')}): 1 worker {one:.0f}, 2 workers {two:.0f}, ratio {two / one:.2f}")
    one, two = (statistics.median(x["cpu"] for x in results[w]) for w in (1, 2))
    print(f"median CPU seconds per study: 1 worker {one:.1f}, 2 workers {two:.1f} ({two / one:.2f}x)")


if __name__ == "__main__":
    main()
