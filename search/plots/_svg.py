"""Learning curves and line plots as SVG pictures, written directly (no matplotlib).

Drawn for every trial, so it must cost little next to a trial of a few seconds: writing
the SVG directly costs milliseconds where a matplotlib figure's tick and text layout
costs a sizeable part of a short trial (``tests/perf/README.md``). MLflow's artifact view
shows ``.svg`` files as images.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

import numpy as np

from search.doctor._record import nonfinite_word

PANEL_W, PANEL_H = 420, 320
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 30, 42  # margins of the plot area inside a panel
TITLE_H = 30
LEGEND_ROW = 16  # pixels per legend entry
STYLES = (("train", "#1f77b4", "circle"), ("validation", "#ff7f0e", "square"))
MAX_MARKERS = 60  # more epochs than this: lines only


class SvgFigure:
    """An SVG picture; :meth:`savefig` writes it (``save_figures`` names it ``NAME.svg``)."""

    extension = "svg"

    def __init__(self, text: str) -> None:
        self.text = text

    def savefig(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.text)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2, 2.5 or 5 times a power of ten) covering ``[low, high]``."""
    if not high > low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]
    return [0.0 if abs(t) < step * 1e-9 else t for t in ticks]


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten in ``[low, high]`` (every k-th when there are many; with 2 and 5 when few)."""
    lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
    every = max(1, math.ceil((hi - lo + 1) / 6))
    ticks = [10.0 ** e for e in range(lo, hi + 1, every)]
    if hi - lo <= 3:
        ticks = sorted(m * t for t in ticks for m in (1, 2, 5))
    return [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)] or [low, high]


def _label(value: float) -> str:
    return f"{value:.3g}" if value else "0"


def axis_ticks(low: float, high: float, log: bool = False, labels: list[str] | None = None,
               integer: bool = False, count: int = 5) -> list[tuple[float, str]]:
    """``(value, text)`` ticks of an axis: each category (``labels``, at 0, 1, ...), powers
    of ten (``log``), or round values (whole numbers only when ``integer``)."""
    if labels is not None:
        return list(enumerate(labels))
    if log:
        return [(t, _label(t)) for t in log_ticks(low, high)]
    return [(t, str(int(t)) if integer else _label(t)) for t in nice_ticks(low, high, count)
            if not integer or t == int(t)]


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class _Panel:
    """One plot area: maps x and y values to pixels and writes SVG elements.

    ``x_range`` is the span of the x values (the epochs ``(1, n)`` for learning curves);
    ``values`` are the y values to fit. ``log_y``: None, a log scale when the values are
    positive and span more than 10x; True, a log scale when they are positive; False, linear.
    """

    def __init__(self, x0: float, y0: float, x_range: tuple[float, float], values: np.ndarray,
                 width: float = PANEL_W, height: float = PANEL_H, log_y: bool | None = None, x_log: bool = False,
                 x_labels: list[str] | None = None, left: float = LEFT, bottom: float = BOTTOM) -> None:
        self.left, self.bottom = left, bottom
        self.x0, self.y0 = x0 + left, y0 + TOP
        self.w, self.h = width - left - RIGHT, height - TOP - bottom
        self.x_log = x_log and x_range[0] > 0
        self.x_labels = x_labels  # categorical x: value i is the i-th label
        self.x_low, self.x_high = (math.log10(v) if self.x_log else float(v) for v in x_range)
        positive = bool(values.size) and values.min() > 0
        self.log = positive and (values.max() > 10 * values.min() if log_y is None else log_y)
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        if self.log:
            low, high = math.log10(low), math.log10(high)
        pad = (high - low) * 0.05 or (abs(high) * 0.05 or 1.0)
        self.low, self.high = low - pad, high + pad

    def x(self, value: float) -> float:
        v = math.log10(value) if self.x_log else value
        if self.x_labels is not None:  # categories: the middles of equal slots
            return self.x0 + (v + 0.5) / max(len(self.x_labels), 1) * self.w
        if not self.x_high > self.x_low:
            return self.x0 + self.w / 2
        return self.x0 + 0.03 * self.w + (v - self.x_low) / (self.x_high - self.x_low) * 0.94 * self.w

    def y(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.y0 + (self.high - v) / (self.high - self.low) * self.h

    def axes(self, title: str, xlabel: str, ylabel: str = "", integer_x: bool = False) -> list[str]:
        out = [f'<rect x="{self.x0}" y="{self.y0}" width="{self.w}" height="{self.h}" fill="#fafafa" stroke="#888"/>',
               f'<text x="{self.x0 + self.w / 2}" y="{self.y0 - 9}" text-anchor="middle" font-size="14">{escape(title)}</text>',
               f'<text x="{self.x0 + self.w / 2}" y="{self.y0 + self.h + self.bottom - 8}" text-anchor="middle">{escape(xlabel)}</text>']
        if ylabel:
            lx, ly = self.x0 - self.left + 14, self.y0 + self.h / 2
            out.append(f'<text x="{lx}" y="{ly}" text-anchor="middle" transform="rotate(-90 {lx} {ly})">{escape(ylabel)}</text>')
        x_ticks = axis_ticks(*((10 ** self.x_low, 10 ** self.x_high) if self.x_log else (self.x_low, self.x_high)),
                             log=self.x_log, labels=self.x_labels, integer=integer_x, count=6)
        # Labels wider than their share of the axis (many or long categories) are turned.
        turned = sum(len(_short(text)) for _, text in x_ticks) * 7.5 > self.w
        for tick, text in x_ticks:
            px, py = self.x(tick), self.y0 + self.h + 17
            place = (f'x="{px + 4:.1f}" y="{py - 4}" text-anchor="end" transform="rotate(-35 {px + 4:.1f} {py - 4})"'
                     if turned else f'x="{px:.1f}" y="{py}" text-anchor="middle"')
            out += [f'<line x1="{px:.1f}" y1="{self.y0 + self.h}" x2="{px:.1f}" y2="{self.y0 + self.h + 4}" stroke="#888"/>',
                    f'<text {place}>{escape(_short(text, 14 if turned else 18))}</text>']
        ticks = log_ticks(10 ** self.low, 10 ** self.high) if self.log else nice_ticks(self.low, self.high)
        for value in ticks:
            py = self.y(value)
            out += [f'<line x1="{self.x0}" y1="{py:.1f}" x2="{self.x0 + self.w}" y2="{py:.1f}" stroke="#e4e4e4"/>',
                    f'<text x="{self.x0 - 5}" y="{py + 4:.1f}" text-anchor="end">{_label(value)}</text>']
        return out

    def curve(self, label: str, xs: np.ndarray, values: np.ndarray, color: str, marker: str | None = None,
              dash: str | None = None, stroke_width: float = 1.6) -> list[str]:
        ok = np.isfinite(values) & ((values > 0) if self.log else True)
        points = [(self.x(x), self.y(v)) for x, v in zip(xs[ok], values[ok])]
        if not points:
            return []
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out = [f'<polyline class="{escape(label)}" points="{path}" fill="none" stroke="{color}" '
               f'stroke-width="{stroke_width}"{dashed}/>']
        if marker and len(points) <= MAX_MARKERS:
            for px, py in points:
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.8" fill="{color}"/>' if marker == "circle" else
                           f'<rect x="{px - 2.6:.1f}" y="{py - 2.6:.1f}" width="5.2" height="5.2" fill="{color}"/>')
        return out

    def mark(self, x: float, text: str) -> list[str]:
        """A red dotted line at ``x`` with ``text`` along it (a non-finite value there)."""
        px = self.x(x)
        return [f'<line class="non-finite" x1="{px:.1f}" y1="{self.y0}" x2="{px:.1f}" y2="{self.y0 + self.h}" '
                f'stroke="red" stroke-dasharray="2,3"/>',
                f'<text x="{px - 4:.1f}" y="{self.y0 + self.h - 4}" fill="red" font-size="10" '
                f'transform="rotate(-90 {px - 4:.1f} {self.y0 + self.h - 4})">{escape(text)}</text>']

    def legend(self, labels: list[tuple[str, str, str | None]], below: bool = False) -> list[str]:
        """A box of ``(label, color, dash)`` entries: top right inside the plot area, or
        under the x axis label when ``below`` (the figure leaves ``LEGEND_ROW`` per entry)."""
        width = 34 + 6.3 * max(len(label) for label, _, _ in labels)
        x = self.x0 + self.w - width - 6 if not below else self.x0
        y = self.y0 + 8 if not below else self.y0 + self.h + BOTTOM - 2
        out = [f'<rect x="{x}" y="{y}" width="{width:.0f}" height="{8 + LEGEND_ROW * len(labels)}" fill="white" '
               f'stroke="#ccc" opacity="0.9"/>']
        for i, (label, color, dash) in enumerate(labels):
            ly = y + 14 + LEGEND_ROW * i
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            out += [f'<line x1="{x + 6}" y1="{ly - 4}" x2="{x + 22}" y2="{ly - 4}" stroke="{color}" stroke-width="2"{dashed}/>',
                    f'<text x="{x + 27}" y="{ly}" font-size="11">{escape(label)}</text>']
        return out


def cross(px: float, py: float, inner: str, color: str = "#d62728", cls: str = "infeasible", data: str = "") -> str:
    """An x mark at pixel ``(px, py)`` (a trial that broke a constraint); ``inner``: its tooltip."""
    return (f'<g class="{cls}"{data}>{inner}<line x1="{px - 4:.1f}" y1="{py - 4:.1f}" x2="{px + 4:.1f}" y2="{py + 4:.1f}" '
            f'stroke="{color}" stroke-width="2"/><line x1="{px - 4:.1f}" y1="{py + 4:.1f}" x2="{px + 4:.1f}" '
            f'y2="{py - 4:.1f}" stroke="{color}" stroke-width="2"/></g>')


def _svg(width: float, height: float, body: list[str]) -> SvgFigure:
    return SvgFigure(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>')


def line_plot(series: list[dict], title: str = "", xlabel: str = "", ylabel: str = "",
              width: float = 750, height: float = 330) -> SvgFigure:
    """Lines against a shared x axis, with the legend under the plot.

    Args:
        series: one dict per line: ``label``, ``y`` (values), optional ``x`` (default
            ``0, 1, ...``), ``color``, ``dash`` (an SVG dash pattern such as ``"6,4"``) and
            ``width`` (the stroke width). Non-finite values are left out.
        title, xlabel, ylabel: the texts.
        width, height: the plot area's panel size in pixels (the legend adds a row per line).
    """
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
    lines = []
    for i, line in enumerate(series):
        y = np.asarray(line["y"], dtype="float64").reshape(-1)
        x = np.asarray(line.get("x", np.arange(y.size)), dtype="float64").reshape(-1)
        lines.append((line["label"], x, y, line.get("color", palette[i % len(palette)]), line.get("dash"),
                      line.get("width", 1.6)))
    xs = np.concatenate([x for _, x, *_ in lines]) if lines else np.zeros(0)
    ys = np.concatenate([y[np.isfinite(y)] for _, _, y, *_ in lines]) if lines else np.zeros(0)
    x_range = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    panel = _Panel(0, 0, x_range, ys, width, height, log_y=False)
    integer_x = bool(xs.size) and bool(np.all(xs == np.round(xs)))
    body = panel.axes(title, xlabel, ylabel, integer_x=integer_x)
    for label, x, y, color, dash, stroke in lines:
        body += panel.curve(label, x, y, color, dash=dash, stroke_width=stroke)
    if lines:
        body += panel.legend([(label, color, dash) for label, _, _, color, dash, _ in lines], below=True)
    return _svg(width, height + 12 + LEGEND_ROW * len(lines), body)


def learning_curves(history: dict[str, list[float]], title: str = "") -> SvgFigure:
    """One panel per metric (``loss``, ``mae``, ...), training and validation against the epoch.

    Args:
        history: metric name -> one value per epoch (``val_`` names are the validation
            curves). Non-finite values are left out and marked with a red dotted line. A
            panel whose positive values span more than 10x has a log scale.
        title: the picture's title.
    """
    names = sorted({k.removeprefix("val_") for k in history}, key=lambda k: (k != "loss", k)) or ["loss"]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    width, height = PANEL_W * cols, PANEL_H * rows + TITLE_H
    body = [f'<text x="{width / 2}" y="21" text-anchor="middle" font-size="16">{escape(title)}</text>'] if title else []
    for i, name in enumerate(names):
        curves = [(label, color, marker, np.asarray(history.get(key, []), dtype="float64"))
                  for key, (label, color, marker) in zip((name, f"val_{name}"), STYLES)]
        finite = np.concatenate([v[np.isfinite(v)] for *_, v in curves])
        epochs = max(v.size for *_, v in curves)
        panel = _Panel(PANEL_W * (i % cols), TITLE_H + PANEL_H * (i // cols), (1, max(epochs, 1)), finite)
        body.append(f'<g class="panel" data-metric="{escape(name)}" data-scale="{"log" if panel.log else "linear"}">')
        body += panel.axes(name, "epoch", integer_x=True)
        broken: dict[int, list[str]] = {}
        for label, color, marker, values in curves:
            body += panel.curve(label, np.arange(1, values.size + 1), values, color, marker)
            for epoch in np.flatnonzero(~np.isfinite(values)) + 1:
                broken.setdefault(int(epoch), []).append(f"{label} {nonfinite_word(values[epoch - 1])}")
        for epoch, what in broken.items():
            body += panel.mark(epoch, ", ".join(what))
        shown = [(label, color, None) for label, color, _, values in curves if np.isfinite(values).any()]
        if shown:
            body += panel.legend(shown)
        body.append("</g>")
    return _svg(width, height, body)
