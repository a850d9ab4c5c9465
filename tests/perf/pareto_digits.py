"""The accuracy / size / latency front of prototype_rbf on digits, its knee, and the tuned SVC beside it.

    .venv/bin/python tests/perf/pareto_digits.py --home /tmp/pareto_digits --trials 60 --rounds 5

Runs (unless ``HOME/time.json`` says it ran) one ``search run prototype_rbf`` study with the
objectives ``val_accuracy:max``, ``params:min`` and ``latency_ms:min`` (digits, fold 0, the space's
epochs unless ``--epochs``, the default sampler, ``--seed``), then reads two views of it: the
front of (val_accuracy, params) and the front of (val_accuracy, latency_ms) over all its trials
(:func:`search.records.pareto.front` on those two values).

The knee of a view is the front's cheapest trial within ``--within`` (0.5) percentage points of
the front's best accuracy. Also printed, for comparison: the front point farthest from the line
joining the front's two extremes, in coordinates normalised to [0, 1] with the cost in log10.

``latency_ms`` as the study recorded it is timed on a batch of the trial's own fit batch size
(16, 32 or 64 rows; :func:`search.engine.costs.latency_batch`). To compare like with like, each
front model is rebuilt with its best weights (:func:`search.export.weights.find_weights`, the
trial's local checkpoint) and timed again by :func:`search.engine.costs.latency_ms` on the first
``--batch`` (32) validation rows; the SVC is timed the same way: ``predict`` of the fitted
``StandardScaler`` + SVC pipeline on the same rows (raw features, as the pipeline takes them),
``WARMUP_CALLS`` untimed calls then the median of ``TIMED_CALLS``. The knees' models and the SVC are
also timed on 16 and 64 rows (the other batch sizes the space searches). The models and the SVC are
timed interleaved for ``--rounds`` rounds; medians and ranges over the rounds. The SVC is tuned
exactly as ``search baseline prototype_rbf`` tunes it (the space's ``SVC_GRID``, an inner
stratified 5-fold CV with ``random_state=seed`` on the training part of the fold).
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

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OBJECTIVES = (("val_accuracy", "max"), ("params", "min"), ("latency_ms", "min"))
SEARCH = str(Path(sys.executable).with_name("search"))
SETS = ("dataset=digits", "fold=0")


def run_study(args: argparse.Namespace) -> None:
    cmd = [SEARCH, "run", "prototype_rbf", "--home", str(args.home), "--study", args.study,
           "--trials", str(args.trials), "--seed", str(args.seed)]
    cmd += ["--epochs", str(args.epochs)] if args.epochs else []
    for name, direction in OBJECTIVES:
        cmd += ["--objective", f"{name}:{direction}"]
    for item in SETS:
        cmd += ["--set", item]
    args.home.mkdir(parents=True, exist_ok=True)
    print(" ".join(cmd), flush=True)
    load = open("/proc/loadavg").read().split()[:3]
    started = time.perf_counter()
    with open(args.home / "run.log", "w") as log:
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    seconds = time.perf_counter() - started
    (args.home / "time.json").write_text(json.dumps({"wall_s": seconds, "load_start": load}))
    print(f"study: {seconds:.0f} s", flush=True)


def view(trials, metrics: tuple[str, str]):
    """The trials with only the values of ``metrics`` (two of ``OBJECTIVES``), as pareto.front reads them."""
    index = [[n for n, _ in OBJECTIVES].index(m) for m in metrics]
    return [SimpleNamespace(trial=t, state=t.state, constraints=t.constraints, number=t.number,
                            values=None if t.values is None else [t.values[i] for i in index]) for t in trials]


def knees(points: list[tuple[float, float]], within: float) -> tuple[int, int]:
    """Indices of (the cheapest point within ``within`` of the best accuracy, the point farthest from the
    extremes' chord in normalised (accuracy, log10 cost) coordinates); ``points`` are (accuracy, cost)."""
    best = max(a for a, _ in points)
    near = [i for i, (a, _) in enumerate(points) if a >= best - within]
    cheapest = min(near, key=lambda i: points[i][1])
    acc = np.array([a for a, _ in points])
    cost = np.log10(np.array([c for _, c in points]))
    a = (acc - acc.min()) / (np.ptp(acc) or 1.0)
    c = (cost - cost.min()) / (np.ptp(cost) or 1.0)
    lo, hi = int(np.argmin(c)), int(np.argmax(c))  # the cheapest and the dearest: the front's extremes
    dx, dy = c[hi] - c[lo], a[hi] - a[lo]
    distance = np.abs(dy * (c - c[lo]) - dx * (a - a[lo])) / (math.hypot(dx, dy) or 1.0)
    return cheapest, int(np.argmax(distance))


def describe(params: dict) -> str:
    proto = params.get("prototypes")
    if proto in ("kmeans", "random"):
        proto = f"{proto}×{params.get('per_class')}"
    train = "trained" if params.get("trainable_prototypes") else "fixed"
    return f"{params.get('kernel')}, {proto} ({train}), {params.get('aggregation')}, bs {params.get('batch_size')}"


def svc_pipeline(seed: int):
    """The tuned SVC of ``search baseline prototype_rbf`` (fitted) and the raw validation rows."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from search.space import datasets
    from search.space.loader import load_space

    grid = load_space("prototype_rbf").module.SVC_GRID
    (x, y), (x_val, y_val) = datasets.split("digits", 0, scaled=False)
    search = GridSearchCV(make_pipeline(StandardScaler(), SVC(kernel="rbf")), grid,
                          cv=StratifiedKFold(5, shuffle=True, random_state=seed)).fit(x, y)
    return search, x_val, y_val


def svc_latency_ms(estimator, x_batch) -> float:
    """``predict`` timed as :func:`search.engine.costs.latency_ms` times a model."""
    from search.engine.costs import TIMED_CALLS, WARMUP_CALLS

    for _ in range(WARMUP_CALLS):
        estimator.predict(x_batch)
    times = []
    for _ in range(TIMED_CALLS):
        started = time.perf_counter()
        estimator.predict(x_batch)
        times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


def front_models(args: argparse.Namespace, study, numbers: list[int]) -> dict:
    """Each front trial's model rebuilt with its best weights (its local checkpoint)."""
    from search.export.trial import trial_info
    from search.export.weights import find_weights
    from search.space.loader import load_space

    space = load_space("prototype_rbf")
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    models = {}
    for n in numbers:
        weights = find_weights(space, trial_info(study, by_number[n]), args.home / "keras_tuner", None, print)
        models[n] = weights.model
    return models


def fmt_range(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/pareto_digits"))
    parser.add_argument("--study", default="digits-front")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the space's 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--within", type=float, default=0.005, help="the knee's accuracy tolerance (0.005 = 0.5 pp)")
    parser.add_argument("--batch", type=int, default=32, help="rows of the common latency batch")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the common-batch timing")
    args = parser.parse_args()
    args.home = args.home.resolve()
    if not (args.home / "time.json").exists():
        run_study(args)

    import optuna

    from search.engine.costs import intra_op_threads, latency_ms
    from search.records.pareto import front

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=args.study, storage=f"sqlite:///{args.home / 'optuna.db'}")
    trials = study.get_trials(deepcopy=False)
    timing = json.loads((args.home / "time.json").read_text())
    states = {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "FAIL", "PRUNED")}
    full = front(trials, OBJECTIVES)
    print(f"study {args.study}: {len(trials)} trials ({states}), {timing['wall_s']:.0f} s; "
          f"3-objective front: {len(full)} trials")

    views = {}
    for cost in ("params", "latency_ms"):
        on_front = sorted((v.trial for v in front(view(trials, ("val_accuracy", cost)), OBJECTIVES[:1] + ((cost, "min"),))),
                          key=lambda t: t.user_attrs[cost])
        views[cost] = on_front
    numbers = sorted({t.number for ts in views.values() for t in ts})

    search, x_val_raw, y_val = svc_pipeline(args.seed)
    svc_accuracy = float(search.score(x_val_raw, y_val))
    svc = search.best_estimator_
    n_sv = int(svc[-1].support_vectors_.shape[0])
    stored = n_sv * x_val_raw.shape[1] + svc[-1].dual_coef_.size + svc[-1].intercept_.size
    models = front_models(args, study, numbers)

    from search.space import datasets

    (_, _), (x_val, _) = datasets.split("digits", 0)
    x_val = x_val.astype("float32")
    sizes = (16, args.batch, 64)  # the fit batch sizes prototype_rbf searches: the harness times one of them
    knee_numbers = sorted({ts[knees([(t.values[0], t.user_attrs[c]) for t in ts], args.within)[0]].number
                           for c, ts in views.items()})
    common = {n: [] for n in numbers}
    by_size = {(n, b): [] for n in knee_numbers for b in sizes}
    svc_times = {b: [] for b in sizes}
    for r in range(args.rounds):  # interleaved: every model and the SVC in each round
        for n in numbers:
            common[n].append(latency_ms(models[n], x_val[:args.batch]))
        for n, b in by_size:
            by_size[n, b].append(latency_ms(models[n], x_val[:b]))
        for b in svc_times:
            svc_times[b].append(svc_latency_ms(svc, x_val_raw[:b]))
    print(f"latency: TensorFlow intra-op threads {intra_op_threads()}, scikit-learn's SVC predict single-threaded "
          f"(libsvm); load {open('/proc/loadavg').read().split()[:3]}")

    for cost, on_front in views.items():
        points = [(t.values[0], t.user_attrs[cost]) for t in on_front]
        knee, far = knees(points, args.within)
        print(f"\nfront of val_accuracy against {cost} ({len(on_front)} trials), cheapest first")
        print(f"{'trial':>5}  {'val_acc':>7}  {'params':>7}  {'latency_ms':>10}  {f'ms @ {args.batch} rows':>22}  "
              f"{'model KiB':>9}  configuration")
        for i, t in enumerate(on_front):
            mark = " <- knee" if i == knee else ""
            mark += " <- farthest from the chord" if i == far else ""
            print(f"{t.number:>5}  {t.values[0]:>7.4f}  {int(t.user_attrs['params']):>7}  "
                  f"{t.user_attrs['latency_ms']:>10.3f}  {fmt_range(common[t.number]):>22}  "
                  f"{t.user_attrs['model_bytes'] / 1024:>9.0f}  {describe(t.params)}{mark}")
        k = on_front[knee]
        print(f"knee (cheapest within {100 * args.within:.1f} pp of the front's best {max(p[0] for p in points):.4f}): "
              f"trial {k.number}, val_accuracy {k.values[0]:.4f}, {int(k.user_attrs['params'])} params, "
              f"{statistics.median(common[k.number]):.3f} ms @ {args.batch} rows")
    print(f"\nSVC (RBF, {search.best_params_}), tuned as `search baseline prototype_rbf`: val_accuracy {svc_accuracy:.4f}; "
          f"{n_sv} support vectors ({stored} stored floats)")
    print(f"\nlatency_ms by batch rows, median (range) over {args.rounds} rounds:")
    for n in knee_numbers:
        print(f"  knee trial {n:<4} " + ", ".join(f"@ {b}: {fmt_range(by_size[n, b])} ms" for b in sizes))
    print("  SVC predict     " + ", ".join(f"@ {b}: {fmt_range(v)} ms" for b, v in svc_times.items()))
    print(f"load {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
