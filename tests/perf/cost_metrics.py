"""What the cost metrics (``search.engine.costs``) add to a trial: the same trial with and without them.

    .venv/bin/python tests/perf/cost_metrics.py --rounds 15

A trial is SPACE's (default ``prototype_rbf``) model with its default hyperparameters and
settings, built and fitted ``--epochs`` (20) epochs through the space's ``fit``, started as
KerasTuner starts one (``keras.backend.clear_session()`` and ``gc.collect()``, untimed) with
``keras.utils.set_random_seed(0)``; the objects alive after the warm-up are frozen for the
collector, as ``search run`` does. *without*: that alone; *with*: the same, then ``params``,
``model_bytes`` and ``latency_ms`` measured as :func:`~search.engine.costs.measure` does
(each timed on its own) on the first fit-batch-size validation rows. After one untimed
trial of each arm the arms alternate for ``--rounds`` rounds (their order swapped every
round). Prints, in wall time and in the process's CPU time (all its threads: less
sensitive to other jobs on the machine), the medians and ranges of both arms, their ratio
(ratio of the medians and median of the rounds' ratios), and each metric's own time as a
share of the median trial without them.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

METRICS = ("params", "model_bytes", "latency_ms")
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _now() -> dict[str, float]:
    return {clock: read() for clock, read in CLOCKS.items()}


def _since(start: dict[str, float]) -> dict[str, float]:
    return {clock: read() - start[clock] for clock, read in CLOCKS.items()}


def _trial(setup, hypermodel, epochs: int, with_costs: bool) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The trial's wall and CPU seconds (build + fit, + the costs), and each cost's own."""
    import keras

    from search.engine.costs import latency_ms, saved_bytes, trainable_params
    from search.space.sets import fixed_space

    keras.backend.clear_session()  # as KerasTuner starts every trial, untimed
    gc.collect()
    keras.utils.set_random_seed(0)
    started = _now()
    hp = fixed_space(setup.space, setup.settings, setup.fixed)
    model = hypermodel.build(hp)
    hypermodel.fit(hp, model, **setup.data.fit_kwargs(), epochs=epochs, verbose=0)
    parts: dict[str, dict[str, float]] = {}
    if with_costs:
        x_batch = setup.data.x_val[:hp.values.get("batch_size", 32)]
        for name, run in zip(METRICS, (lambda: trainable_params(model), lambda: saved_bytes(model),
                                       lambda: latency_ms(model, x_batch))):
            begun = _now()
            run()
            parts[name] = _since(begun)
    return _since(started), parts


def _range(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    return (f"median {scale * statistics.median(values):.{digits}f} "
            f"(range {scale * min(values):.{digits}f}-{scale * max(values):.{digits}f})")


def _summary(clock: str, times: dict[bool, list[dict[str, float]]], parts: dict[str, list[dict[str, float]]]) -> None:
    without = [t[clock] for t in times[False]]
    with_ = [t[clock] for t in times[True]]
    ratios = [w / o for w, o in zip(with_, without)]
    base = statistics.median(without)
    print(f"-- {clock} time")
    print(f"without the costs: {_range(without)} s")
    print(f"with the costs:    {_range(with_)} s")
    print(f"with / without: ratio of the medians {statistics.median(with_) / base:.3f}, median of the rounds' "
          f"ratios {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})")
    own = {name: [p[clock] for p in values] for name, values in parts.items()}
    own["all three"] = [sum(own[n][i] for n in METRICS) for i in range(len(with_))]
    for name, values in own.items():
        print(f"{name:>11}: {_range(values, 1e3, 2)} ms = {100 * statistics.median(values) / base:.2f}% "
              f"of the median trial without them")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="prototype_rbf")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    from search.space.loader import load_space
    from search.space.sets import resolve_sets
    from search.study.plan import make_setup

    space = load_space(args.space)
    setup = make_setup(space, *resolve_sets(space, {}), None, 0)
    hypermodel = setup.space.hypermodel()
    print(f"load {open('/proc/loadavg').read().split()[:3]}", flush=True)
    for with_costs in (False, True):  # untimed: TensorFlow's first traces
        _trial(setup, hypermodel, args.epochs, with_costs)
    gc.freeze()  # as the tuner's search does (search.engine.tuner.LeanSearch)
    times: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    parts: dict[str, list[dict[str, float]]] = {name: [] for name in METRICS}
    for r in range(args.rounds):
        for with_costs in ((False, True) if r % 2 == 0 else (True, False)):
            seconds, measured = _trial(setup, hypermodel, args.epochs, with_costs)
            times[with_costs].append(seconds)
            for name, value in measured.items():
                parts[name].append(value)
        print(f"round {r}: without {times[False][-1]['wall']:.3f} s, with {times[True][-1]['wall']:.3f} s ("
              + ", ".join(f"{n} {1e3 * parts[n][-1]['wall']:.1f} ms" for n in METRICS) + ")", flush=True)
    print(f"\n{args.space}, build + fit {args.epochs} epochs, {args.rounds} interleaved rounds")
    for clock in CLOCKS:
        _summary(clock, times, parts)
    print(f"load {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
