"""Time to target at other targets, from the traces a `search compare` stored: no trial is rerun.

`search compare` logs each space's traces (every finished trial's seconds, value and epochs) as
`compare.json` in its MLflow parent run. The target only decides what is reported, so the same
traces answer for any target: this prints, per space and target, each method's repeats that
reached it and its median seconds and epochs to it (the figures `search compare` prints), and
marks the targets that the best KerasTuner tuner reaches in at least 3 of 5 repeats. With one
target per space it prints what `search compare` would have printed with those targets: each
space's table and the summary over the spaces.

    .venv/bin/python tests/perf/compare_targets.py HOME [--target SPACE=V]...
    .venv/bin/python tests/perf/compare_targets.py ./compare-suite \\
        --target prototype_rbf=0.97,0.98,0.985,0.99 --target bounded_activation=0.97,0.98,0.985,0.99

    .venv/bin/python tests/perf/compare_targets.py ./compare-suite \\
        --target prototype_rbf=0.98 --target bounded_activation=0.99

A space without `--target` is reported at the target it was run with.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from search.compare._config import resolve_method
from search.compare._methods import Trace, TrialPoint
from search.compare._run import CompareResult, SuiteResult, summarize
from search.compare._summary import summarize_suite
from search.compare._table import format_suite


def _traces(run: dict) -> dict[str, list[Trace]]:
    out: dict[str, list[Trace]] = {}
    for t in run["traces"]:
        trace = Trace(t["method"], t["repeat"], t["seed"], [TrialPoint(**p) for p in t["points"]], t["seconds"])
        out.setdefault(t["method"], []).append(trace)
    return out


def _rows(run: dict, target: float) -> list:
    return [summarize(resolve_method(m, "none"), ts, run["direction"], target) for m, ts in _traces(run).items()]


def at_target(run: dict, target: float) -> CompareResult:
    """``run`` as `search compare` would have reported it with ``target``."""
    keep = {k: run[k] for k in ("space", "objective", "direction", "epochs", "repeats", "experiment",
                                "parent_run_id", "tracking_uri", "budget_trials", "budget_seconds")}
    return CompareResult(**keep, target=target, methods=_rows(run, target))


def report(run: dict, targets: list[float]) -> None:
    traces = _traces(run)
    print(f"{run['space']} ({run['objective']}, {run['direction']}, {run['repeats']} repeats)")
    for target in targets:
        rows = _rows(run, target)
        kt = [r for r in rows if r.method.startswith("kt-")]
        best_kt = max((r.reached for r in kt), default=0)
        mark = "  (best kt-* reaches it in >= 3 of 5)" if best_kt >= 3 else ""
        print(f"  target {target:g}{mark}")
        for r in rows:
            s = "-" if r.time_to_target is None else f"{r.time_to_target:.2f}"
            e = "-" if r.epochs_to_target is None else f"{r.epochs_to_target:g}"
            print(f"    {r.method:14s} reached {r.reached}/{len(traces[r.method])}  s to target {s:>6}  epochs {e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path, help="the --home of the `search compare` run")
    parser.add_argument("--target", action="append", default=[], help="SPACE=V[,V...] (repeatable)")
    args = parser.parse_args()
    wanted = {}
    for item in args.target:
        space, _, values = item.partition("=")
        wanted[space] = [float(v) for v in values.split(",")]
    found = sorted((args.home / "artifacts").glob("compare-*/*/artifacts/compare.json"))
    if not found:
        raise SystemExit(f"No compare.json under {args.home / 'artifacts'}; give the --home of a `search compare` run.")
    runs = [r for r in (json.loads(p.read_text()) for p in found) if "traces" in r]
    if all(len(wanted.get(r["space"], [None])) == 1 for r in runs):
        results = [at_target(r, wanted.get(r["space"], [r["target"]])[0]) for r in runs]
        print(format_suite(SuiteResult(results, summarize_suite(results))))
        return
    for run in runs:
        report(run, wanted.get(run["space"], [run["target"]]))


if __name__ == "__main__":
    main()
