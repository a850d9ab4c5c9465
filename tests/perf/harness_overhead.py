"""Harness overhead: the same K trial configurations as a bare loop, through KerasTuner, through ``search run``.

    .venv/bin/python tests/perf/harness_overhead.py --space iq_combiner --trials 6 --epochs 4 --rounds 2

One untimed ``search run`` (random sampler, seed 0, no pruner) first warms TensorFlow up
and yields the K configurations; another creates the stores (a user's MLflow and Optuna
stores exist after their first study). Then each round runs, interleaved:

  (a) a bare loop: ``build(hp)`` + the space's ``fit`` for each configuration;
  (b) KerasTuner: a stock ``keras_tuner.Tuner`` (RandomSearch's tuner) whose oracle
      replays the K configurations;
  (c) ``run_study`` as ``search run`` does it (random sampler seed 0, so the same K
      configurations, a new study in the existing stores), with every default hook and
      listener and full MLflow logging (no progress display);
  (c0) (c) with no trial hooks (``search.study.execute.default_trial_hooks`` returns none here);
  (c-nofreeze) (c) without ``search.Tuner.search``'s ``gc.freeze()``: what the freeze saves;
  (c-unbuffered) (c) with one MLflow write per hook metric call: what joining hook metrics
      to the next epoch's write saves.

Every trial n trains with ``keras.utils.set_random_seed(n)`` in every variant. Prints the
wall time of each variant per round, the medians and the ratios to (a), and, inside each
(c*) variant, the seconds spent per run (``run: ...``) and per trial in each hook's
callback, each listener, the oracle, ``gc.collect`` and KerasTuner's checkpoint and state
writes.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import statistics
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SPENT: collections.Counter = collections.Counter()
TIMING = [False]
STUDY_PLOTS = "StudyPlots.refresh (the study plots and trials.csv)"


def _timed(owner: Any, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not TIMING[0]:
            return original(*args, **kwargs)
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - started

    setattr(owner, name, wrapper)


CALLBACK_METHODS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_end",
                    "on_train_batch_begin", "on_test_begin", "on_test_end", "set_model")


def instrument() -> None:
    """Wraps the harness's per-trial and per-epoch work with timers (active only while TIMING)."""
    import keras
    import keras_tuner
    from keras_tuner.src.engine import tuner_utils

    import search.study.execute as execute
    from search.engine.oracle import OptunaOracle
    from search.plots import StudyPlots
    from search.study.progress import StudyProgress
    from search.tracking.tracker import Tracker

    import gc

    _timed(gc, "collect", "gc.collect (KerasTuner and clear_session, before each build)")
    _timed(tuner_utils.SaveBestEpoch, "on_epoch_end", "kt: best-epoch checkpoint")
    _timed(keras_tuner.Tuner, "save", "kt: tuner state save")
    _timed(OptunaOracle, "report", "oracle.report (optuna report+should_prune, listeners)")
    _timed(OptunaOracle, "create_trial", "oracle.create_trial")
    _timed(OptunaOracle, "end_trial", "oracle.end_trial (tell, listeners)")
    _timed(StudyPlots, "refresh", STUDY_PLOTS)
    for method in ("trial_started", "epoch_ended", "trial_ended"):
        _timed(Tracker, method, f"mlflow Tracker.{method}")
    _timed(StudyProgress, "epoch_ended", "progress.epoch_ended")
    import search.engine.tuner
    import search.study.create
    import search.study.plan
    import search.study.run
    import search.tracking.client

    # once per `search run`: what is paid before the first and after the last trial
    _timed(search.study.plan, "load_data", "run: load_data")
    _timed(search.tracking.client, "check_tracking", "run: check_tracking")
    _timed(search.study.create, "create_or_resume", "run: create/load study (incl. fingerprint)")
    _timed(search.study.create, "space_fingerprint", "run: space_fingerprint (a build)")
    _timed(Tracker, "__init__", "run: Tracker() (experiment)")
    _timed(Tracker, "start_parent", "run: Tracker.start_parent")
    _timed(Tracker, "end_parent", "run: Tracker.end_parent")
    _timed(search.engine.tuner.Tuner, "__init__", "run: Tuner() (initial space build)")
    # search.Tuner's replacement of SaveBestEpoch (weights kept in memory, written at train end)
    _timed(search.engine.tuner.BestEpochAtTrainEnd, "on_epoch_end", "kt: best-epoch checkpoint")
    _timed(search.engine.tuner.BestEpochAtTrainEnd, "on_train_end", "kt: best-epoch checkpoint")
    _timed(search.study.execute, "summarize", "run: summarize")
    made = execute.default_trial_hooks

    def timed_hooks(space: Any) -> list:
        out = made(space)
        for hook in out:
            if "callback" in vars(hook):  # a space's own hooks are the same objects every run: wrap them once
                continue
            label = f"hook {type(hook).__name__}"
            original = hook.callback

            def callback(context: Any, _original=original, _label=label) -> Any:
                started = time.perf_counter()
                cb = _original(context)
                SPENT[_label] += time.perf_counter() - started
                if cb is not None:
                    for m in CALLBACK_METHODS:
                        # Only what the callback defines: wrapping an inherited no-op (a batch
                        # method above all) would add a call per batch that the harness never
                        # makes, and charge it to the hook.
                        if getattr(type(cb), m, None) is not getattr(keras.callbacks.Callback, m, None):
                            _timed(cb, m, _label)
                return cb

            hook.callback = callback
        return out

    execute.default_trial_hooks = timed_hooks


def replay_configs(study: Any) -> list[dict]:
    return [t.user_attrs["hp"] for t in sorted(study.trials, key=lambda t: t.number)]


def random_configs(space_name: str, trials: int) -> list[dict]:
    """The configurations of ``trials`` random trials of the space (``search run``, seed 0,
    one epoch each, in a throw-away home), in trial order."""
    import subprocess
    import sys
    from pathlib import Path

    import optuna

    with tempfile.TemporaryDirectory() as home:
        subprocess.run([str(Path(sys.executable).parent / "search"), "run", space_name, "--study", "configs",
                        "--trials", str(trials), "--epochs", "1", "--sampler", "random", "--pruner", "none",
                        "--home", home], check=True, capture_output=True)
        return replay_configs(optuna.load_study(study_name="configs", storage=f"sqlite:///{home}/optuna.db"))


def model_fit(model: Any, x: Any, y: Any, batch_size: int | None = None, **kwargs: Any) -> Any:
    """Keras's own ``model.fit`` on arrays (a new ``tf.data`` iterator every epoch), a ``fit``
    for :func:`run_bare` to set against ``search.space.fit_arrays``."""
    return model.fit(x, y, batch_size=batch_size, **kwargs)


def run_bare(space: Any, data: Any, configs: list[dict], epochs: int, seed: int = 0, fit: Any = None) -> None:
    """Builds and trains each configuration with the space's ``fit``, or with
    ``fit(model, x=..., y=..., validation_data=..., batch_size=..., epochs=..., verbose=0)``
    (e.g. ``search.space.fit_arrays``; the configuration's ``batch_size``, else None)."""
    import keras
    import keras_tuner

    hypermodel = space.hypermodel()
    for n, values in enumerate(configs, start=seed):
        keras.utils.set_random_seed(n)
        hp = keras_tuner.HyperParameters()
        hp.values = dict(values)
        model = hypermodel.build(hp)
        if fit is None:
            hypermodel.fit(hp, model, **data.fit_kwargs(), epochs=epochs, verbose=0)
        else:
            fit(model, **data.fit_kwargs(), batch_size=values.get("batch_size"), epochs=epochs, verbose=0)


def run_kerastuner(space: Any, data: Any, configs: list[dict], epochs: int, directory: str) -> None:
    import keras
    import keras_tuner
    from keras_tuner.engine.trial import TrialStatus

    class Replay(keras_tuner.oracles.RandomSearchOracle):
        def populate_space(self, trial_id: str) -> dict:
            n = len(self.trials) - 1
            if n >= len(configs):
                return {"status": TrialStatus.STOPPED, "values": None}
            return {"status": TrialStatus.RUNNING, "values": dict(configs[n])}

    class Seeded(keras_tuner.Tuner):
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            keras.utils.set_random_seed(int(trial.trial_id))
            return super().run_trial(trial, *args, **kwargs)

    from search.space.sets import fixed_space

    oracle = Replay(objective=keras_tuner.Objective(space.objective, space.direction), max_trials=len(configs),
                    hyperparameters=fixed_space(space, space.default_settings(), {}))
    tuner = Seeded(oracle=oracle, hypermodel=space.hypermodel(), directory=directory, project_name="kt", overwrite=True)
    tuner.search(**data.fit_kwargs(), epochs=epochs, verbose=0)


def _unbuffered_log_trial_metrics(self: Any, trial_id: str, metrics: dict, step: int = 0) -> None:
    """``Tracker.log_trial_metrics`` writing on its own: one write per call."""
    from mlflow.entities import Metric

    run_id = self._runs.get(trial_id)
    if run_id and metrics:
        ts = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), ts, step) for k, v in metrics.items()])


def run_search(space_name: str, trials: int, epochs: int, home: str, hooks_on: bool, study: str = "bench",
               old: str = "") -> Any:
    """``old``: "nofreeze" runs without the gc.freeze of search.Tuner.search, "unbuffered" with a write per hook metric call."""
    import keras_tuner

    import search.study.execute as execute
    from search import StudyConfig, run_study
    from search.engine.tuner import Tuner
    from search.tracking.tracker import Tracker

    saved = execute.default_trial_hooks, Tuner.search, Tracker.log_trial_metrics
    if not hooks_on:
        execute.default_trial_hooks = lambda space: []
    if old == "nofreeze":
        Tuner.search = keras_tuner.Tuner.search
    if old == "unbuffered":
        Tracker.log_trial_metrics = _unbuffered_log_trial_metrics
    try:
        return run_study(StudyConfig(space=space_name, study=study, trials=trials, epochs=epochs, sampler="random",
                                     pruner="none", seed=0, progress=False, home=home))
    finally:
        execute.default_trial_hooks, Tuner.search, Tracker.log_trial_metrics = saved


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="iq_combiner")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="a,b,c,c0,c-nofreeze,c-unbuffered")
    args = parser.parse_args()

    import optuna

    from search.space import load_data
    from search.space.loader import load_space

    instrument()
    space = load_space(args.space)
    settings = space.default_settings()
    space = space.with_settings(settings)
    data = load_data(space, 0, settings)
    with tempfile.TemporaryDirectory() as home:  # the untimed warm-up, and the K configurations
        run_search(args.space, args.trials, args.epochs, home, hooks_on=True)
        study = optuna.load_study(study_name="bench", storage=f"sqlite:///{home}/optuna.db")
        configs = replay_configs(study)
    print(f"load {open('/proc/loadavg').read().split()[:3]}; {args.trials} trials x {args.epochs} epochs of "
          f"{args.space}; configs: {[{k: v for k, v in c.items() if k != 'target'} for c in configs]}", flush=True)
    times: dict[str, list[float]] = collections.defaultdict(list)
    profiles: dict[str, list[collections.Counter]] = collections.defaultdict(list)
    # (c) and (c0) share one home, created by an untimed run: a user's store exists after
    # their first study (creating MLflow's tables takes seconds once); each round is a new study.
    shared = tempfile.TemporaryDirectory()
    started = time.perf_counter()
    run_search(args.space, 1, 1, shared.name, hooks_on=False, study="create-store")
    print(f"creating the stores and a 1-trial 1-epoch study: {time.perf_counter() - started:.2f} s", flush=True)
    for r in range(args.rounds):
        for variant in args.variants.split(","):
            with tempfile.TemporaryDirectory() as home:
                SPENT.clear()
                TIMING[0] = variant.startswith("c") and variant != "c0"
                started = time.perf_counter()
                if variant == "a":
                    run_bare(space, data, configs, args.epochs)
                elif variant == "b":
                    run_kerastuner(space, data, configs, args.epochs, home)
                else:
                    run_search(args.space, args.trials, args.epochs, shared.name, hooks_on=variant != "c0",
                               study=f"bench-{variant}-{r}", old=variant.removeprefix("c-"))
                seconds = time.perf_counter() - started
                TIMING[0] = False
            times[variant].append(seconds)
            if variant.startswith("c") and variant != "c0":
                profiles[variant].append(collections.Counter(SPENT))
            print(f"round {r} ({variant}): {seconds:.2f} s  load {open('/proc/loadavg').read().split()[0]}", flush=True)
    med = {v: statistics.median(t) for v, t in times.items()}
    print("median s: " + ", ".join(f"({v}) {s:.2f}" for v, s in med.items()))
    if "a" in med:
        print("ratios: " + ", ".join(f"({v})/(a) {med[v] / med['a']:.3f}" for v in med if v != "a"))
        ratios = collections.defaultdict(list)
        for r in range(args.rounds):
            for v in med:
                if v != "a":
                    ratios[v].append(times[v][r] / times["a"][r])
        print("median of per-round ratios: " + ", ".join(f"({v})/(a) {statistics.median(x):.3f}" for v, x in ratios.items()))
        # The study plots are drawn once after the last trial (and at most every 10 trials
        # and 60 s before): a per-run cost, like start-up, that a K-trial run spreads over K.
        if profiles.get("c"):
            per_trial = [(times["c"][r] - profiles["c"][r].get(STUDY_PLOTS, 0.0)) / times["a"][r]
                         for r in range(min(args.rounds, len(profiles["c"])))]
            print(f"(c)/(a) without the end-of-run study plots (what each trial of a long study pays): "
                  f"{statistics.median(per_trial):.3f}; study plots "
                  f"{statistics.median(p.get(STUDY_PLOTS, 0.0) for p in profiles['c']):.2f} s per run")
    for variant, profile in profiles.items():
        print(f"inside ({variant}), median seconds per run (run: ...) or per trial (the rest):")
        for label in sorted({k for p in profile for k in p}):
            per = 1 if label.startswith("run:") else args.trials  # the study plots too: per trial, amortized
            print(f"  {statistics.median(p.get(label, 0.0) for p in profile) / per:7.3f}  {label}")


if __name__ == "__main__":
    main()
