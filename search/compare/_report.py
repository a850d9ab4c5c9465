"""The comparison's plot and its MLflow runs: one parent per ``search compare``, one child per method."""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.compare._methods import best_so_far
from search.records import keys
from search.tracking.tracker import Tracker

if TYPE_CHECKING:
    from search.compare._config import CompareConfig
    from search.compare._run import CompareResult, MethodResult
    from search.storage import Location

PLOT_NAME = "best_so_far_vs_time.png"
TRACES_NAME = "compare.json"


def plot_best_so_far(result: CompareResult, path: Path) -> Path:
    """Best-so-far value against seconds, one step line per method and repeat, the target dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    values = []
    for i, method in enumerate(m.method for m in result.methods):
        for trace in (t for t in result.traces if t.method == method):
            pts = [(p.seconds, b) for p, b in zip(trace.points, best_so_far(trace, result.direction)) if b is not None]
            if not pts:
                continue
            xs, ys = zip(*pts)
            values += ys
            ax.step(xs, ys, where="post", color=colors[i % len(colors)], alpha=0.8,
                    label=method if trace.repeat == 0 else None)
    if result.target is not None:
        ax.axhline(result.target, color="black", linestyle="--", linewidth=1, label=f"target {result.target:g}")
        values.append(result.target)
    finite = [v for v in values if math.isfinite(v)]
    if finite and all(v >= 0 for v in finite):
        positive = [v for v in finite if v > 0]
        if len(positive) == len(finite):
            ax.set_yscale("log")
        elif positive:  # a value of exactly 0 (e.g. a float32 loss that underflowed): linear near 0
            ax.set_yscale("symlog", linthresh=min(positive))
            ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds since the method started")
    ax.set_ylabel(f"best {result.objective} so far ({result.direction})")
    ax.set_title(f"{result.space}: {result.repeats} repeat(s), {result.epochs} epochs per trial")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _method_metrics(m: MethodResult) -> dict[str, float]:
    out = {"epochs": m.epochs, "trials": m.trials, "seconds": m.seconds, "reached": m.reached}
    for key in ("best_value", "time_to_target", "trials_to_target", "epochs_to_target"):
        if getattr(m, key) is not None:
            out[key] = getattr(m, key)
    return out


def log_comparison(result: CompareResult, config: CompareConfig, loc: Location,
                   settings: dict[str, Any]) -> CompareResult:
    """Logs the parent run (settings, plot, traces) and one child run per method; returns the result with run ids."""
    tracker = Tracker(loc.tracking_uri, result.experiment, loc.artifact_root)
    params = {
        "space": result.space, "samplers": ",".join(config.methods), "budget_trials": config.trials,
        "budget_seconds": config.budget_seconds, "repeats": config.repeats, "target": config.target,
        "epochs": result.epochs, "pruner": config.pruner, "seed": config.seed, "objective": result.objective,
        "direction": result.direction, **keys.setting_params(settings),
    }
    tracker.start_parent(params, run_name=f"{result.experiment}-{_stamp()}", role=keys.ROLE_COMPARE)
    status = "FAILED"
    try:
        methods = []
        for m in result.methods:
            series = {}
            for t in (t for t in result.traces if t.method == m.method):
                series[f"best_so_far_r{t.repeat}"] = [(i, b) for i, b in enumerate(best_so_far(t, result.direction))
                                                      if b is not None]
                series[f"seconds_r{t.repeat}"] = [(i, p.seconds) for i, p in enumerate(t.points)]
            run_id = tracker.log_child_run(
                run_name=m.method, params={"method": m.method, **params}, metrics=_method_metrics(m),
                series=series, role=keys.ROLE_COMPARE_METHOD,
            )
            methods.append(dataclasses.replace(m, run_id=run_id))
        result = dataclasses.replace(result, methods=methods, parent_run_id=tracker.parent_run_id)
        with tempfile.TemporaryDirectory(prefix="search-compare-report-") as tmp:
            tracker.log_parent_artifact(str(plot_best_so_far(result, Path(tmp) / PLOT_NAME)))
            traces = Path(tmp) / TRACES_NAME
            traces.write_text(json.dumps(result.to_dict(), indent=1, default=str))
            tracker.log_parent_artifact(str(traces))
        status = "FINISHED"
    finally:
        tracker.end_parent(status)
    return result


def _stamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")
