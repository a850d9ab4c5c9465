"""The text tables ``search compare`` prints: one per space, then the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from search.compare._summary import NOT_REACHED_RULE

if TYPE_CHECKING:
    from search.compare._run import CompareResult, SuiteResult


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def format_table(result: CompareResult) -> str:
    """One row per method: medians over the repeats, then where MLflow holds the runs."""
    target = "-" if result.target is None else f"{result.target:g}"
    head = ("method", f"best {result.objective}", "reached", "s to target", "trials to target",
            "epochs to target", "epochs", "trials", "wall s")
    rows = [head]
    for m in result.methods:
        rows.append((
            m.method, _fmt(m.best_value), f"{m.reached}/{result.repeats}", _fmt(m.time_to_target, ".1f"),
            _fmt(m.trials_to_target, ".3g"), _fmt(m.epochs_to_target, ".4g"), f"{m.epochs:g}", f"{m.trials:g}",
            f"{m.seconds:.1f}",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([
        f"{result.space}: {result.objective} ({result.direction}), target {target}, {result.epochs} epochs per trial, "
        f"medians of {result.repeats} repeat(s)",
        *lines,
        f"mlflow  {result.tracking_uri} experiment {result.experiment} (parent run {result.parent_run_id})",
    ])


def _ratio(value: float | None, lower_bound: bool) -> str:
    return "-" if value is None else f"{'>' if lower_bound else ''}{value:.3g}"


def format_summary(suite: SuiteResult) -> str:
    """One row per method: its ratio to the reference on each space and their geometric mean."""
    summary = suite.summary
    lines = ["summary: median seconds to target / the fastest kt-* tuner's on the space; geomean over the spaces "
             "(<1: faster than KerasTuner's best)"]
    if summary.why:
        return "\n".join([*lines, f"no figure: {summary.why}.", _suite_line(suite)])
    spaces = [ref.space for ref in summary.references if ref.seconds is not None]
    rows = [("method", *spaces, "geomean")]
    for row in summary.rows:
        ratios = [row.ratios.get(s) for s in spaces]
        rows.append((row.method, *(_ratio(r and r.value, bool(r and r.lower_bound)) for r in ratios),
                     _ratio(row.geomean, row.lower_bound)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    table.insert(1, "  ".join("-" * w for w in widths))
    refs = "; ".join(f"{ref.space} {ref.method} {ref.seconds:.1f} s" if ref.seconds is not None
                     else f"{ref.space} left out ({ref.why})" for ref in summary.references)
    bound = [f">: a lower bound; {NOT_REACHED_RULE}."] if any(r.lower_bound for r in summary.rows) else []
    return "\n".join([*lines, *table, f"reference (1): {refs}", *bound, _suite_line(suite)])


def _suite_line(suite: SuiteResult) -> str:
    return f"mlflow  {suite.tracking_uri} experiment compare-suite (run {suite.suite_run_id})"


def _methods_line(suite: SuiteResult) -> str | None:
    """What the ``default`` and ``SAMPLER+PRUNER`` methods ran, when any did."""
    first = suite.results[0].methods if suite.results else []
    described = [f"{m.method} = sampler {m.sampler}, pruner {m.pruner}" + (", the space's SUGGESTED first" if m.method == "default" else "")
                 for m in first if m.sampler is not None and (m.method == "default" or "+" in m.method)]
    return "; ".join(described) or None


def format_suite(suite: SuiteResult) -> str:
    """Each space's table, then the summary."""
    parts = [format_table(r) for r in suite.results]
    line = _methods_line(suite)
    return "\n\n".join([*parts, *([line] if line else []), format_summary(suite)])
