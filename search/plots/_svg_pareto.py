"""The two pictures of a study of several objectives, as SVG written directly.

``pareto_front``: every completed trial in the plane of the first two objectives, the feasible
front highlighted and joined, infeasible trials (a constraint broken) drawn as red crosses;
``hypervolume_history``: the hypervolume of the front after each trial (the reference point:
the worst feasible value of each objective, 10% further; :mod:`search.records.pareto`).
Hovering over a point shows its trial and values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import numpy as np

from search.plots._svg import LEGEND_ROW, SvgFigure, _Panel, _svg, cross
from search.records import keys
from search.records.pareto import finished, front, hypervolume_history, reference_point, values_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from optuna.trial import FrozenTrial

BLUE, GREY, RED = "#1f77b4", "#9e9e9e", "#d62728"
LEFT = 84
WIDTH, HEIGHT = 680, 420


def _spans_decades(values: np.ndarray) -> bool:
    return bool(values.size) and values.min() > 0 and values.max() > 100 * values.min()


def pareto_front(trials: Sequence[FrozenTrial], objectives: Sequence[tuple[str, str]]) -> SvgFigure:
    """The completed trials against the first two objectives, the front highlighted."""
    done = finished(trials, len(objectives))
    if not done:
        raise ValueError("no completed trial yet")
    on = front(done, objectives)
    xs = np.array([t.values[0] for t in done], dtype="float64")
    ys = np.array([t.values[1] for t in done], dtype="float64")
    panel = _Panel(0, 0, (float(xs.min()), float(xs.max())), ys, WIDTH, HEIGHT, log_y=_spans_decades(ys),
                   x_log=_spans_decades(xs), left=LEFT)
    (xname, xdir), (yname, ydir) = objectives[0], objectives[1]
    title = "Pareto Front" + (f" (objectives 1 and 2 of {len(objectives)})" if len(objectives) > 2 else "")
    body = panel.axes(title, f"{xname} ({xdir})", f"{yname} ({ydir})")
    numbers = {t.number for t in on}
    for t in done:
        tip = f"<title>{escape(f'trial {t.number}: {values_text(objectives, t.values)}')}</title>"
        px, py = panel.x(t.values[0]), panel.y(t.values[1])
        if not keys.is_feasible(t):
            body.append(cross(px, py, tip, RED, data=f' data-trial="{t.number}"'))
        elif t.number in numbers:
            body.append(f'<circle class="pareto" data-trial="{t.number}" cx="{px:.1f}" cy="{py:.1f}" r="5" '
                        f'fill="{BLUE}">{tip}</circle>')
        else:
            body.append(f'<circle class="dominated" data-trial="{t.number}" cx="{px:.1f}" cy="{py:.1f}" r="3.5" '
                        f'fill="{GREY}" fill-opacity="0.7">{tip}</circle>')
    if len(on) > 1:
        ordered = sorted(on, key=lambda t: t.values[0])
        path = " ".join(f"{panel.x(t.values[0]):.1f},{panel.y(t.values[1]):.1f}" for t in ordered)
        body.append(f'<polyline class="front" points="{path}" fill="none" stroke="{BLUE}" stroke-width="1.4" '
                    'stroke-dasharray="5,3"/>')
    legend = [(f"Pareto front ({len(on)} trials)", BLUE, None), ("dominated", GREY, None)]
    if any(not keys.is_feasible(t) for t in done):
        legend.append(("infeasible (a constraint broken)", RED, None))
    body += panel.legend(legend, below=True)
    return _svg(WIDTH, HEIGHT + 12 + len(legend) * LEGEND_ROW, body)


def hypervolume_plot(trials: Sequence[FrozenTrial], objectives: Sequence[tuple[str, str]]) -> SvgFigure:
    """The front's hypervolume after each finished trial."""
    reference = reference_point(trials, objectives)
    if reference is None:
        raise ValueError("no completed feasible trial yet")
    history = hypervolume_history(trials, objectives, reference)
    xs = np.array([n for n, _ in history], dtype="float64")
    ys = np.array([v for _, v in history], dtype="float64")
    panel = _Panel(0, 0, (float(xs.min()), float(xs.max())), ys, WIDTH, HEIGHT, log_y=False, left=LEFT)
    body = panel.axes("Hypervolume History", "trial", "hypervolume", integer_x=True)
    body += panel.curve("hypervolume", xs, ys, BLUE, marker="circle")
    point = ", ".join(f"{name} {(-v if d == 'max' else v):.4g}" for (name, d), v in zip(objectives, reference))
    body += panel.legend([(f"reference point: {point}", BLUE, None)], below=True)
    return _svg(WIDTH, HEIGHT + 12 + LEGEND_ROW, body)
