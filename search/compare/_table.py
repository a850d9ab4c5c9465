"""The text table ``search compare`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from search.compare._run import CompareResult


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
