"""The suite's summary: each method against KerasTuner's best tuner, over the spaces.

On each space the reference is the fastest KerasTuner tuner (``kt-*``) that ran there: the
one with the lowest median seconds to target. A method's figure on that space is its median
seconds to target divided by the reference's; its summary figure is the geometric mean of
those over the spaces that have a reference (1 is as fast as KerasTuner's best, 0.5 twice
as fast). A space without a target, without a ``kt-*`` method, or where no ``kt-*`` method's
median reached the target has no reference and is left out, with the reason.

A method whose median did not reach the target enters at a lower bound: each repeat that
did not reach it counts at the seconds it ran (with ``--budget-seconds``, at least the
budget), and the median of those is the figure, marked ``>``; a mean with such a figure
is a lower bound too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.compare._run import CompareResult

NOT_REACHED_RULE = "a median that did not reach the target counts at the seconds its repeats ran (at least the budget)"


@dataclass(frozen=True)
class Reference:
    """A space's reference: the fastest ``kt-*`` method and its median seconds, or why there is none."""

    space: str
    method: str | None
    seconds: float | None
    why: str | None = None


@dataclass(frozen=True)
class Ratio:
    """A method's median seconds to target over the reference's (``lower_bound``: marked '>')."""

    value: float
    lower_bound: bool


@dataclass(frozen=True)
class SummaryRow:
    """One method: its ratio on each space with a reference, and their geometric mean."""

    method: str
    ratios: dict[str, Ratio]
    geomean: float | None
    lower_bound: bool


@dataclass(frozen=True)
class Summary:
    """The suite's summary (``why``: the reason it has no figure, when it has none)."""

    references: list[Reference]
    rows: list[SummaryRow]
    why: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure": "geometric mean over the spaces of (median seconds to target / the fastest kt-* "
                      "tuner's median seconds to target on that space)",
            "not_reached": f"{NOT_REACHED_RULE}: a lower bound (lower_bound true)",
            **asdict(self),
        }


def reference(result: CompareResult) -> Reference:
    """The fastest ``kt-*`` method of ``result`` to its target, or why there is none."""
    kt = [m for m in result.methods if m.method.startswith("kt-")]
    if result.target is None:
        return Reference(result.space, None, None, "no --target")
    if not kt:
        return Reference(result.space, None, None, "no kt-* method ran")
    reached = [m for m in kt if m.time_to_target is not None]
    if not reached:
        return Reference(result.space, None, None, f"no kt-* method's median reached the target {result.target:g}")
    best = min(reached, key=lambda m: m.time_to_target)
    return Reference(result.space, best.method, best.time_to_target)


def summarize_suite(results: list[CompareResult]) -> Summary:
    """Each method's ratios to the reference on every space that has one, and their geometric mean."""
    refs = [reference(r) for r in results]
    methods = list(dict.fromkeys(m.method for r in results for m in r.methods))
    rows = []
    for name in methods:
        ratios = {}
        for result, ref in zip(results, refs):
            m = next((m for m in result.methods if m.method == name), None)
            if ref.seconds is None or m is None:
                continue
            seconds = m.time_to_target if m.time_to_target is not None else m.time_to_target_at_least
            if seconds is not None:
                ratios[result.space] = Ratio(seconds / ref.seconds, m.time_to_target is None)
        logs = [math.log(r.value) for r in ratios.values() if r.value > 0]
        geomean = math.exp(sum(logs) / len(logs)) if ratios and len(logs) == len(ratios) else None
        rows.append(SummaryRow(name, ratios, geomean, any(r.lower_bound for r in ratios.values())))
    why = None
    if all(ref.seconds is None for ref in refs):
        why = "no space has a reference (" + "; ".join(f"{ref.space}: {ref.why}" for ref in refs) + ")"
    return Summary(refs, rows, why)
