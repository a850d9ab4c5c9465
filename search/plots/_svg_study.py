"""Optuna's five study plots as SVG pictures, written directly (no matplotlib).

The same pictures as ``optuna.visualization.matplotlib`` (optimization history, parameter
importances, parallel coordinates, slice, intermediate values) in a few milliseconds each,
where matplotlib's take seconds, paid after the last trial of every ``search run``
(``tests/perf/README.md``). Each function takes a single-objective study with at least one completed
trial (:func:`search.plots._study._why_not` says when a plot cannot be drawn yet); values
that are not finite are left out. Hovering over a point or line in a browser shows its
trial number (an SVG ``<title>``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import numpy as np

from search.records import keys
from search.plots._svg import LEGEND_ROW, TITLE_H, SvgFigure, _Panel, _short, _svg, axis_ticks, cross

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

BLUE, RED = "#1f77b4", "#d62728"
Y_LABELLED = 84  # left margin of a panel with a y axis label (room for "0.0001")
BOTTOM_TURNED = 72  # bottom margin of a slice panel (room for turned category names)
LIGHT, DARK = (198, 219, 239), (8, 48, 107)  # the colour ramp: early/worse trials light, late/better dark


def _ramp(t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    return "#%02x%02x%02x" % tuple(round(a + (b - a) * t) for a, b in zip(LIGHT, DARK))


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    from optuna.trial import TrialState

    if len(study.directions) > 1:
        raise ValueError("a multi-objective study: the study plots draw one objective")
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]


def _minimize(study: optuna.Study) -> bool:
    from optuna.study import StudyDirection

    return study.direction == StudyDirection.MINIMIZE


def _tip(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def optimization_history(study: optuna.Study, log_y: bool = False) -> SvgFigure:
    """Each completed trial's objective value against its number, and the best feasible one so far
    (a trial that breaks a constraint: a red cross)."""
    trials = _complete(study)
    numbers = [t.number for t in trials]
    values = np.array([t.value for t in trials], dtype="float64")
    feasible = np.array([keys.is_feasible(t) for t in trials])
    worst = np.inf if _minimize(study) else -np.inf
    counted = np.where(feasible, values, worst)
    best = np.minimum.accumulate(counted) if _minimize(study) else np.maximum.accumulate(counted)
    width, height = 680, 400
    panel = _Panel(0, 0, (min(numbers), max(numbers)), values, width, height, log_y=log_y,
                   left=Y_LABELLED)
    body = panel.axes("Optimization History", "trial", "objective value", integer_x=True)
    for number, value, ok in zip(numbers, values, feasible):
        if value > 0 or not panel.log:
            px, py, tip = panel.x(number), panel.y(value), _tip(f"trial {number}: {value:.6g}" + ("" if ok else " (infeasible)"))
            body.append(f'<circle class="objective" cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{BLUE}" fill-opacity="0.8">'
                        f'{tip}</circle>' if ok else cross(px, py, tip, RED))
    steps = []  # the best-so-far line as steps: it changes only at an improving trial
    for i, (number, value) in enumerate(zip(numbers, best)):
        if i:
            steps.append((number, best[i - 1]))
        steps.append((number, value))
    xs, ys = np.array([s[0] for s in steps], dtype="float64"), np.array([s[1] for s in steps], dtype="float64")
    body += panel.curve("best", xs, ys, RED)
    legend = [("objective value", BLUE, None), ("best value", RED, None)]
    if not feasible.all():
        legend.append(("infeasible (a constraint broken): a cross", RED, "2,2"))
    body += panel.legend(legend, below=True)
    return _svg(width, height + 12 + len(legend) * LEGEND_ROW, body)


def intermediate_values(study: optuna.Study, log_y: bool = False) -> SvgFigure:
    """Every trial's reported values against the step (pruned trials dashed)."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    steps = [s for t in trials for s in t.intermediate_values]
    values = np.array([v for t in trials for v in t.intermediate_values.values()], dtype="float64")
    width, height = 680, 400
    panel = _Panel(0, 0, (min(steps), max(steps)), values[np.isfinite(values)], width, height, log_y=log_y,
                   left=Y_LABELLED)
    body = panel.axes("Intermediate Values", "step", "intermediate value", integer_x=True)
    last = max(t.number for t in trials) or 1
    for t in trials:
        points = [(panel.x(s), panel.y(v)) for s, v in sorted(t.intermediate_values.items())
                  if math.isfinite(v) and (v > 0 or not panel.log)]
        if not points:
            continue
        dash = ' stroke-dasharray="4,3"' if t.state == TrialState.PRUNED else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline class="trial" data-trial="{t.number}" data-state="{t.state.name}" points="{path}" '
                    f'fill="none" stroke="{_ramp(t.number / last)}" stroke-width="1.6"{dash}>'
                    f'{_tip(f"trial {t.number} ({t.state.name.lower()})")}</polyline>')
    body += panel.legend([("complete (lighter: earlier trial)", BLUE, None), ("pruned", BLUE, "4,3")], below=True)
    return _svg(width, height + 12 + 2 * LEGEND_ROW, body)


def _axis_of(trials: list[FrozenTrial], name: str) -> dict[str, Any]:
    """How parameter ``name`` maps to an axis: its categories, a log scale, its range."""
    from optuna.distributions import CategoricalDistribution

    dist = next(t.distributions[name] for t in trials if name in t.distributions)
    if isinstance(dist, CategoricalDistribution):
        labels = [str(c) for c in dist.choices]
        return {"labels": labels, "log": False, "range": (0, len(labels) - 1),
                "value": lambda t: float(dist.to_internal_repr(t.params[name]))}
    present = [float(t.params[name]) for t in trials if name in t.params]
    log = bool(getattr(dist, "log", False)) and min(present) > 0
    return {"labels": None, "log": log, "range": (min(present), max(present)),
            "value": lambda t: float(t.params[name])}


def _param_names(trials: list[FrozenTrial]) -> list[str]:
    return sorted({name for t in trials for name in t.params})


def slice_plot(study: optuna.Study, log_y: bool = False) -> SvgFigure:
    """One panel per parameter: the objective value against the parameter's value."""
    trials = _complete(study)
    names = _param_names(trials)
    values = np.array([t.value for t in trials], dtype="float64")
    last = max(t.number for t in trials) or 1
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    panel_w, panel_h = 380, 330
    width, height = panel_w * cols + 36, TITLE_H + panel_h * rows  # 36: room for the last column's end labels
    body = [f'<text x="{width / 2}" y="21" text-anchor="middle" font-size="16">Slice Plot '
            f'(lighter: earlier trial)</text>']
    for i, name in enumerate(names):
        axis = _axis_of(trials, name)
        having = [t for t in trials if name in t.params]
        panel = _Panel(panel_w * (i % cols), TITLE_H + panel_h * (i // cols), axis["range"], values, panel_w, panel_h,
                       log_y=log_y, x_log=axis["log"], x_labels=axis["labels"],
                       left=Y_LABELLED, bottom=BOTTOM_TURNED)
        body.append(f'<g class="panel" data-param="{escape(name)}">')
        body += panel.axes(name, "log scale" if axis["log"] else "", "objective value" if i % cols == 0 else "")
        for t in having:
            if t.value > 0 or not panel.log:
                body.append(f'<circle cx="{panel.x(axis["value"](t)):.1f}" cy="{panel.y(t.value):.1f}" r="3.5" '
                            f'fill="{_ramp(t.number / last)}" stroke="#555" stroke-width="0.4">'
                            f'{_tip(f"trial {t.number}: {name}={t.params[name]}, {t.value:.6g}")}</circle>')
        body.append("</g>")
    return _svg(width, height, body)


def param_importances(study: optuna.Study) -> SvgFigure:
    """Optuna's parameter importances (its default evaluator) as horizontal bars."""
    import optuna

    importances = optuna.importance.get_param_importances(study)
    names = list(importances)
    label_w = 14 + 7 * max(len(_short(n, 24)) for n in names)
    bar_h, width = 26, 680
    top = 44
    height = top + bar_h * len(names) + 40
    span = width - label_w - 70
    biggest = max(importances.values()) or 1.0
    body = [f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16">Hyperparameter Importances</text>']
    for i, name in enumerate(names):
        value = importances[name]
        y = top + bar_h * i
        length = span * value / biggest
        shown = "<0.01" if value < 0.01 else f"{value:.2f}"
        body += [f'<text x="{label_w - 6}" y="{y + bar_h / 2 + 4:.1f}" text-anchor="end">{escape(_short(name, 24))}</text>',
                 f'<rect class="importance" data-param="{escape(name)}" data-value="{value:.6g}" x="{label_w}" '
                 f'y="{y + 3}" width="{length:.1f}" height="{bar_h - 6}" fill="{BLUE}">{_tip(f"{name}: {value:.4f}")}</rect>',
                 f'<text x="{label_w + length + 5:.1f}" y="{y + bar_h / 2 + 4:.1f}">{escape(shown)}</text>']
    body.append(f'<text x="{label_w + span / 2:.0f}" y="{height - 12}" text-anchor="middle">importance '
                f'for the objective value</text>')
    return _svg(width, height, body)


def parallel_coordinate(study: optuna.Study, log_y: bool = False) -> SvgFigure:
    """One vertical axis for the objective and each parameter; a line per completed trial
    (darker: a better objective value), broken where the trial lacks a parameter (a dot
    where a single axis lies between two gaps)."""
    trials = _complete(study)
    names = _param_names(trials)
    values = np.array([t.value for t in trials], dtype="float64")
    space = 120
    width, height = max(680, space * (len(names) + 1) + 160), 440
    top, bottom = 56, height - 64
    axes = [{"name": "objective value", "labels": None, "log": log_y and values.min() > 0,
             "range": (float(values.min()), float(values.max())), "value": lambda t: float(t.value)}]
    axes += [{"name": name, **_axis_of(trials, name)} for name in names]
    for k, axis in enumerate(axes):
        axis["x"] = 60 + space * k + space / 2
    body = [f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16">Parallel Coordinates '
            f'(darker: better objective value)</text>']
    order = np.argsort(-values if _minimize(study) else values)  # worst first: the best are drawn on top
    ranks = np.empty(len(values))
    ranks[order] = np.linspace(0, 1, len(values)) if len(values) > 1 else 1.0
    for idx in order:
        body += _trial_lines(trials[idx], axes, _ramp(ranks[idx]), top, bottom)
    for axis in axes:
        body += _axis_marks(axis, top, bottom)
    body.append(f'<text x="{width / 2}" y="{height - 14}" text-anchor="middle" font-size="11" fill="#555">'
                f'{len(trials)} completed trials; a line breaks where a trial has no such parameter</text>')
    return _svg(width, height, body)


def _axis_y(axis: dict[str, Any], value: float, top: float, bottom: float) -> float:
    """Where ``value`` lies on a parallel-coordinates axis running from ``bottom`` up to ``top``."""
    low, high = axis["range"]
    if axis["log"]:
        value, low, high = math.log10(value), math.log10(low), math.log10(high)
    if not high > low:
        return (top + bottom) / 2
    return bottom - (value - low) / (high - low) * (bottom - top)


def _trial_lines(t: FrozenTrial, axes: list[dict[str, Any]], color: str, top: float, bottom: float) -> list[str]:
    """A trial's polyline across the axes, broken where it lacks a parameter (a dot for a lone axis)."""
    segments: list[list[tuple[float, float]]] = [[]]
    for axis in axes:
        if axis["name"] == "objective value" or axis["name"] in t.params:
            segments[-1].append((axis["x"], _axis_y(axis, axis["value"](t), top, bottom)))
        elif segments[-1]:
            segments.append([])
    out = []
    tip = _tip(f"trial {t.number}: {t.value:.6g}")
    for points in segments:
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            out.append(f'<polyline class="trial" data-trial="{t.number}" points="{path}" fill="none" '
                       f'stroke="{color}" stroke-width="1.4" stroke-opacity="0.85">{tip}</polyline>')
        elif points:  # one axis between two gaps: a dot
            (px, py), = points
            out.append(f'<circle class="trial" data-trial="{t.number}" cx="{px:.1f}" cy="{py:.1f}" r="3" '
                       f'fill="{color}">{tip}</circle>')
    return out


def _axis_marks(axis: dict[str, Any], top: float, bottom: float) -> list[str]:
    """A parallel-coordinates axis: its line, its name below and its ticks."""
    x = axis["x"]
    out = [f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#444"/>',
           f'<text x="{x}" y="{bottom + 22}" text-anchor="middle">{escape(_short(axis["name"], 17))}</text>']
    low, high = axis["range"]
    ticks = axis_ticks(low, high, log=axis["log"], labels=axis["labels"])
    for value, text in ticks if axis["labels"] is not None else [(v, t) for v, t in ticks if low <= v <= high]:
        py = _axis_y(axis, value, top, bottom)
        out += [f'<line x1="{x - 3}" y1="{py:.1f}" x2="{x + 3}" y2="{py:.1f}" stroke="#444"/>',
                f'<text x="{x + 5}" y="{py + 4:.1f}" font-size="10">{escape(_short(text, 14))}</text>']
    return out


DRAW = {
    "optimization_history": optimization_history,
    "param_importances": lambda study, log_y: param_importances(study),
    "parallel_coordinate": parallel_coordinate,
    "slice": slice_plot,
    "intermediate_values": intermediate_values,
}
