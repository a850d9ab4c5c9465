"""``compare``: on each space, run every method ``repeats`` times, summarise, plot and log to MLflow;
then the suite's summary over the spaces."""

from __future__ import annotations

import math
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search import storage as storage_mod
from search.compare._config import CompareConfig, Method
from search.compare._methods import Trace, best_so_far, run_method, warm_up
from search.compare._plan import SpacePlan, plan_spaces
from search.compare._report import log_comparison, log_suite
from search.compare._summary import Summary, summarize_suite
from search.space.sets import fixed_space
from search.tracking.client import check_tracking

if TYPE_CHECKING:
    from search.storage import Location


@dataclass(frozen=True)
class MethodResult:
    """One method's figures: medians over the repeats (None where not reached in most).

    ``time_to_target_at_least``: when the median did not reach the target, the median over
    the repeats of the seconds to target, a repeat that did not reach it counted at the
    seconds it ran: a lower bound of the median. ``sampler``/``pruner``: what an Optuna
    method ran (None for KerasTuner's tuners).
    """

    method: str
    best_value: float | None
    best_values: list[float | None]
    reached: int
    time_to_target: float | None
    trials_to_target: float | None
    epochs_to_target: float | None
    epochs: float
    trials: float
    seconds: float
    run_id: str | None = None
    time_to_target_at_least: float | None = None
    sampler: str | None = None
    pruner: str | None = None


@dataclass(frozen=True)
class CompareResult:
    """What ``search compare`` measured on one space."""

    space: str
    objective: str
    direction: str
    target: float | None
    epochs: int
    repeats: int
    methods: list[MethodResult]
    traces: list[Trace] = field(repr=False, default_factory=list)
    experiment: str = ""
    parent_run_id: str | None = None
    tracking_uri: str = ""
    budget_trials: int | None = None
    budget_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["traces"] = [asdict(t) for t in self.traces]
        return out


@dataclass(frozen=True)
class SuiteResult:
    """What ``search compare`` measured: each space's result, and the summary over them."""

    results: list[CompareResult]
    summary: Summary
    suite_run_id: str | None = None
    tracking_uri: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``--format json``: with one space, its result's keys (without the traces)
        and ``summary``; with several, ``spaces`` (one such object each) and ``summary``."""
        spaces = [{k: v for k, v in r.to_dict().items() if k != "traces"} for r in self.results]
        summary = {**self.summary.to_dict(), "suite_run_id": self.suite_run_id}
        if len(spaces) == 1:
            return {**spaces[0], "summary": summary}
        return {"spaces": spaces, "summary": summary}


def _reached(trace: Trace, direction: str, target: float | None) -> tuple[float, float, float] | None:
    """(seconds, trials, epochs) when the best value first met ``target``; None if never."""
    if target is None:
        return None
    epochs = 0
    for i, (p, best) in enumerate(zip(trace.points, best_so_far(trace, direction))):
        epochs += p.epochs
        if best is not None and (best <= target if direction == "min" else best >= target):
            return p.seconds, float(i + 1), float(epochs)
    return None


def _median(values: list[float | None]) -> float | None:
    """Median where None (not reached) counts as worst; None if it is the median."""
    m = statistics.median([math.inf if v is None else v for v in values]) if values else math.inf
    return None if math.isinf(m) else float(m)


def summarize(method: Method, traces: list[Trace], direction: str, target: float | None) -> MethodResult:
    """One method's medians over its repeats."""
    bests = [next((b for b in reversed(best_so_far(t, direction)) if b is not None), None) for t in traces]
    hits = [_reached(t, direction, target) for t in traces]
    worst = math.inf if direction == "min" else -math.inf
    best_median = statistics.median([worst if b is None else b for b in bests])
    time_to_target = _median([h and h[0] for h in hits])
    at_least = None
    if target is not None and time_to_target is None:
        at_least = float(statistics.median(h[0] if h else t.seconds for h, t in zip(hits, traces)))
    return MethodResult(
        method=method.name,
        best_value=None if math.isinf(best_median) else float(best_median),
        best_values=bests,
        reached=sum(h is not None for h in hits),
        time_to_target=time_to_target,
        trials_to_target=_median([h and h[1] for h in hits]),
        epochs_to_target=_median([h and h[2] for h in hits]),
        epochs=float(statistics.median(t.epochs for t in traces)),
        trials=float(statistics.median(len(t.points) for t in traces)),
        seconds=float(statistics.median(t.seconds for t in traces)),
        time_to_target_at_least=at_least,
        sampler=method.sampler,
        pruner=method.pruner,
    )


def compare(config: CompareConfig, notify: Callable[[str], None] | None = None) -> SuiteResult:
    """Runs each method of ``config`` ``repeats`` times on each space, logs each space's
    comparison and the suite's summary.

    Every space, ``--set``, target and ``SUGGESTED`` configuration is checked before
    anything runs or is written. The spaces run one after the other; within a space the
    repeats are interleaved (every method once, then every method again), so a change in
    the machine's load falls on all methods alike; one untimed epoch first warms
    TensorFlow up on each space.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    plans = plan_spaces(config)
    loc = storage_mod.resolve(config.home, None, config.tracking_uri)
    check_tracking(loc.tracking_uri)
    prefix = len(plans) > 1
    results = []
    for plan in plans:
        say = notify and (lambda line, name=plan.space.name: notify(f"{name}: {line}" if prefix else line))
        results.append(_compare_space(plan, config, loc, say))
    summary = summarize_suite(results)
    tracking = storage_mod.mask_password(loc.tracking_uri)
    return log_suite(SuiteResult(results, summary, tracking_uri=tracking), config, loc)


def _compare_space(plan: SpacePlan, config: CompareConfig, loc: Location,
                   notify: Callable[[str], None] | None) -> CompareResult:
    """Runs every method ``repeats`` times on one space, interleaved, and logs it as ``compare-SPACE``."""
    space, methods = plan.space, config.method_specs
    traces: list[Trace] = []
    with tempfile.TemporaryDirectory(prefix="search-compare-") as tmp:
        warm_up(space, fixed_space(space, plan.settings, plan.fixed), plan.data, methods, Path(tmp) / "warm-up")
        for repeat in range(config.repeats):
            for method in methods:
                seed = config.seed + repeat
                trace = run_method(
                    method, repeat, seed, space=space, hp=fixed_space(space, plan.settings, plan.fixed),
                    data=plan.data, epochs=plan.epochs, trials=plan.trials, seconds=plan.seconds,
                    workdir=Path(tmp) / f"{method.name}-{repeat}", suggested=plan.suggested if method.suggested else None,
                )
                traces.append(trace)
                if notify:
                    best = next((b for b in reversed(best_so_far(trace, space.direction)) if b is not None), None)
                    notify(f"{method.name} repeat {repeat}: {len(trace.points)} trials, {trace.epochs} epochs, "
                           f"{trace.seconds:.1f} s, best {'-' if best is None else f'{best:.6g}'}")
    results = [summarize(m, [t for t in traces if t.method == m.name], space.direction, plan.target) for m in methods]
    result = CompareResult(
        space=space.name, objective=space.objective, direction=space.direction, target=plan.target,
        epochs=plan.epochs, repeats=config.repeats, methods=results, traces=traces,
        experiment=f"compare-{space.name}", tracking_uri=storage_mod.mask_password(loc.tracking_uri),
        budget_trials=plan.trials, budget_seconds=plan.seconds,
    )
    return log_comparison(result, plan, config, loc)
