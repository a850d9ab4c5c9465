"""How often TPE samples a NaN region when FAIL trials are ignored vs shown as infeasible.

A learning-rate-like cliff: the objective improves toward x = 0.75 and is NaN beyond it
(the fastest learning rates diverge). Each run asks 60 trials; a NaN trial is told FAIL
with the constraint ``finite = 1``, exactly as ``search.doctor`` does.

    .venv/bin/python tests/perf/steer_nan.py
"""

from __future__ import annotations

import math
import statistics
import sys

import optuna
from optuna.trial import TrialState

from search.engine.failure_aware import FailureAwareTPESampler

optuna.logging.set_verbosity(optuna.logging.WARNING)
TRIALS, SEEDS = 60, range(20)


def objective(x: float, y: float) -> float:
    return math.nan if x >= 0.75 else (x - 0.75) ** 2 + 0.1 * (y - 0.5) ** 2


def run(sampler_cls, seed: int) -> tuple[int, float]:
    sampler = sampler_cls(seed=seed, multivariate=True, group=True, constant_liar=True)
    study = optuna.create_study(sampler=sampler)
    for _ in range(TRIALS):
        trial = study.ask()
        value = objective(trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1))
        if math.isnan(value):
            trial.set_constraint("finite", 1.0)
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)
    fails = sum(t.state == TrialState.FAIL for t in study.trials)
    return fails, study.best_value


def main() -> None:
    for cls in (optuna.samplers.TPESampler, FailureAwareTPESampler):
        results = [run(cls, s) for s in SEEDS]
        fails = [f for f, _ in results]
        best = [b for _, b in results]
        print(f"{cls.__name__:<24} NaN trials of {TRIALS}: mean {statistics.mean(fails):.1f} "
              f"(min {min(fails)}, max {max(fails)}); median best value {statistics.median(best):.2e}")


if __name__ == "__main__":
    sys.exit(main())
