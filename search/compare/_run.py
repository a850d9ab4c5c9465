"""``compare``: run every method ``repeats`` times, summarise, plot and log to MLflow."""

from __future__ import annotations

import math
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from search import storage as storage_mod
from search.compare._config import CompareConfig
from search.compare._methods import Trace, best_so_far, run_method, warm_up
from search.compare._report import log_comparison
from search.space.data import load_data
from search.space.loader import load_space
from search.space.sets import fixed_space, resolve_sets
from search.tracking.client import check_tracking


@dataclass(frozen=True)
class MethodResult:
    """One method's figures: medians over the repeats (None where not reached in most)."""

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


@dataclass(frozen=True)
class CompareResult:
    """What ``search compare`` measured."""

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

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["traces"] = [asdict(t) for t in self.traces]
        return out


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


def summarize(method: str, traces: list[Trace], direction: str, target: float | None) -> MethodResult:
    """One method's medians over its repeats."""
    bests = [next((b for b in reversed(best_so_far(t, direction)) if b is not None), None) for t in traces]
    hits = [_reached(t, direction, target) for t in traces]
    worst = math.inf if direction == "min" else -math.inf
    best_median = statistics.median([worst if b is None else b for b in bests])
    return MethodResult(
        method=method,
        best_value=None if math.isinf(best_median) else float(best_median),
        best_values=bests,
        reached=sum(h is not None for h in hits),
        time_to_target=_median([h and h[0] for h in hits]),
        trials_to_target=_median([h and h[1] for h in hits]),
        epochs_to_target=_median([h and h[2] for h in hits]),
        epochs=float(statistics.median(t.epochs for t in traces)),
        trials=float(statistics.median(len(t.points) for t in traces)),
        seconds=float(statistics.median(t.seconds for t in traces)),
    )


def compare(config: CompareConfig, notify: Callable[[str], None] | None = None) -> CompareResult:
    """Runs each method of ``config`` ``repeats`` times on one space and logs the comparison.

    Repeats are interleaved (every method once, then every method again), so a change
    in the machine's load falls on all methods alike; one untimed epoch first warms
    TensorFlow up. Everything is checked before
    anything runs or is written.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    space = load_space(config.space)
    settings, fixed = resolve_sets(space, config.sets)
    space = space.with_settings(settings)
    epochs = config.epochs or space.epochs
    data = load_data(space, config.seed, settings)
    loc = storage_mod.resolve(config.home, None, config.tracking_uri)
    check_tracking(loc.tracking_uri)

    traces: list[Trace] = []
    warm_up(space, fixed_space(space, settings, fixed), data)
    with tempfile.TemporaryDirectory(prefix="search-compare-") as tmp:
        for repeat in range(config.repeats):
            for method in config.methods:
                seed = config.seed + repeat
                trace = run_method(
                    method, repeat, seed, space=space, hp=fixed_space(space, settings, fixed), data=data,
                    epochs=epochs, trials=config.trials, seconds=config.budget_seconds, pruner=config.pruner,
                    workdir=Path(tmp) / f"{method}-{repeat}",
                )
                traces.append(trace)
                if notify:
                    best = next((b for b in reversed(best_so_far(trace, space.direction)) if b is not None), None)
                    notify(f"{method} repeat {repeat}: {len(trace.points)} trials, {trace.epochs} epochs, "
                           f"{trace.seconds:.1f} s, best {'-' if best is None else f'{best:.6g}'}")
    methods = [summarize(m, [t for t in traces if t.method == m], space.direction, config.target)
               for m in config.methods]
    result = CompareResult(
        space=space.name, objective=space.objective, direction=space.direction, target=config.target,
        epochs=epochs, repeats=config.repeats, methods=methods, traces=traces,
        experiment=f"compare-{space.name}", tracking_uri=storage_mod.mask_password(loc.tracking_uri),
    )
    return log_comparison(result, config, loc, settings)
