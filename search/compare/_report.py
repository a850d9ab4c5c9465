"""The comparison's plot and its MLflow runs.

Each space: a parent run in experiment ``compare-SPACE`` (settings, plot, traces), one child
run per method. The suite: one run in experiment ``compare-suite`` per ``search compare``
(with one space too) holding the summary: metrics ``geomean_METHOD`` (and
``geomean_METHOD_lower_bound``, 1 when the figure is a lower bound), ``summary.json`` (the
summary, each space's reference and the reasons a space is left out) and, as params, the
spaces' parent run ids.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.compare._methods import best_so_far
from search.records import keys
from search.tracking.tracker import Tracker

if TYPE_CHECKING:
    from search.compare._config import CompareConfig
    from search.compare._plan import SpacePlan
    from search.compare._run import CompareResult, MethodResult, SuiteResult
    from search.storage import Location

PLOT_NAME = "best_so_far_vs_time.png"
TRACES_NAME = "compare.json"
SUMMARY_NAME = "summary.json"
SUITE_EXPERIMENT = "compare-suite"


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
    for key in ("best_value", "time_to_target", "trials_to_target", "epochs_to_target", "time_to_target_at_least"):
        if getattr(m, key) is not None:
            out[key] = getattr(m, key)
    return out


def log_comparison(result: CompareResult, plan: SpacePlan, config: CompareConfig, loc: Location) -> CompareResult:
    """Logs the parent run (settings, plot, traces) and one child run per method; returns the result with run ids."""
    tracker = Tracker(loc.tracking_uri, result.experiment, loc.artifact_root)
    params = {
        "space": result.space, "samplers": ",".join(config.methods), "budget_trials": plan.trials,
        "budget_seconds": plan.seconds, "repeats": config.repeats, "target": plan.target,
        "epochs": result.epochs, "pruner": config.pruner, "seed": config.seed, "objective": result.objective,
        "direction": result.direction, **keys.setting_params(plan.settings, plan.fixed),
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
            own = {"method": m.method, "method_sampler": m.sampler, "method_pruner": m.pruner}
            run_id = tracker.log_child_run(
                run_name=m.method, params={**own, **params}, metrics=_method_metrics(m),
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


def _metric_name(text: str) -> str:
    """``text`` as MLflow accepts in a metric name (``tpe+sha`` -> ``tpe_sha``)."""
    return re.sub(r"[^\w.\- /]", "_", text)


def log_suite(suite: SuiteResult, config: CompareConfig, loc: Location) -> SuiteResult:
    """Logs the suite's summary as a run of experiment ``compare-suite``; returns the suite with its run id."""
    tracker = Tracker(loc.tracking_uri, SUITE_EXPERIMENT, loc.artifact_root)
    params = {
        "spaces": ",".join(r.space for r in suite.results), "samplers": ",".join(config.methods),
        "repeats": config.repeats, "pruner": config.pruner, "seed": config.seed,
        **{f"target.{r.space}": r.target for r in suite.results},
        **{f"parent_run.{r.space}": r.parent_run_id for r in suite.results},
    }
    tracker.start_parent(params, run_name=f"{SUITE_EXPERIMENT}-{_stamp()}", role=keys.ROLE_COMPARE_SUITE)
    suite = dataclasses.replace(suite, suite_run_id=tracker.parent_run_id)
    metrics: dict[str, float] = {}
    for row in suite.summary.rows:
        if row.geomean is not None:
            metrics[f"geomean_{_metric_name(row.method)}"] = row.geomean
            metrics[f"geomean_{_metric_name(row.method)}_lower_bound"] = float(row.lower_bound)
    status = "FAILED"
    try:
        with tempfile.TemporaryDirectory(prefix="search-compare-suite-") as tmp:
            path = Path(tmp) / SUMMARY_NAME
            path.write_text(json.dumps(suite.to_dict(), indent=1, default=str))
            tracker.log_parent_artifact(str(path))
        status = "FINISHED"
    finally:
        tracker.end_parent(status, summary=metrics)
    return suite


def _stamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")
