"""Learning curves as an SVG picture, written directly (no matplotlib).

Drawn for every trial, so it must cost little next to a trial of a few seconds: the
matplotlib figure took 0.2-0.4 s on 2 CPU cores (tick and text layout), this takes a few
milliseconds. MLflow's artifact view shows ``.svg`` files as images.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

import numpy as np

from search.doctor._record import nonfinite_word

PANEL_W, PANEL_H = 420, 320
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 30, 42  # margins of the plot area inside a panel
TITLE_H = 30
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


class _Panel:
    """One metric's plot area: maps epochs and values to pixels and writes SVG elements."""

    def __init__(self, x0: float, y0: float, epochs: int, values: np.ndarray) -> None:
        self.x0, self.y0 = x0 + LEFT, y0 + TOP
        self.w, self.h = PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM
        self.epochs = max(epochs, 1)
        self.log = bool(values.size) and values.min() > 0 and values.max() > 10 * values.min()
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        if self.log:
            low, high = math.log10(low), math.log10(high)
        pad = (high - low) * 0.05 or (abs(high) * 0.05 or 1.0)
        self.low, self.high = low - pad, high + pad

    def x(self, epoch: float) -> float:
        return self.x0 + (epoch - 0.5) / self.epochs * self.w if self.epochs == 1 else \
            self.x0 + 0.03 * self.w + (epoch - 1) / (self.epochs - 1) * 0.94 * self.w

    def y(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.y0 + (self.high - v) / (self.high - self.low) * self.h

    def axes(self, title: str) -> list[str]:
        out = [f'<rect x="{self.x0}" y="{self.y0}" width="{self.w}" height="{self.h}" fill="#fafafa" stroke="#888"/>',
               f'<text x="{self.x0 + self.w / 2}" y="{self.y0 - 9}" text-anchor="middle" font-size="14">{escape(title)}</text>',
               f'<text x="{self.x0 + self.w / 2}" y="{self.y0 + self.h + 34}" text-anchor="middle">epoch</text>']
        for epoch in nice_ticks(1, self.epochs, 6):
            if epoch == int(epoch):
                px = self.x(epoch)
                out += [f'<line x1="{px:.1f}" y1="{self.y0 + self.h}" x2="{px:.1f}" y2="{self.y0 + self.h + 4}" stroke="#888"/>',
                        f'<text x="{px:.1f}" y="{self.y0 + self.h + 17}" text-anchor="middle">{int(epoch)}</text>']
        ticks = log_ticks(10 ** self.low, 10 ** self.high) if self.log else nice_ticks(self.low, self.high)
        for value in ticks:
            py = self.y(value)
            out += [f'<line x1="{self.x0}" y1="{py:.1f}" x2="{self.x0 + self.w}" y2="{py:.1f}" stroke="#e4e4e4"/>',
                    f'<text x="{self.x0 - 5}" y="{py + 4:.1f}" text-anchor="end">{_label(value)}</text>']
        return out

    def curve(self, label: str, values: np.ndarray, color: str, marker: str) -> list[str]:
        epochs = np.arange(1, values.size + 1)
        ok = np.isfinite(values) & ((values > 0) if self.log else True)
        points = [(self.x(e), self.y(v)) for e, v in zip(epochs[ok], values[ok])]
        if not points:
            return []
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        out = [f'<polyline class="{label}" points="{path}" fill="none" stroke="{color}" stroke-width="1.6"/>']
        if len(points) <= MAX_MARKERS:
            for px, py in points:
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.8" fill="{color}"/>' if marker == "circle" else
                           f'<rect x="{px - 2.6:.1f}" y="{py - 2.6:.1f}" width="5.2" height="5.2" fill="{color}"/>')
        return out

    def mark(self, epoch: int, text: str) -> list[str]:
        """A red dotted line at ``epoch`` with ``text`` along it (a non-finite value there)."""
        px = self.x(epoch)
        return [f'<line class="non-finite" x1="{px:.1f}" y1="{self.y0}" x2="{px:.1f}" y2="{self.y0 + self.h}" '
                f'stroke="red" stroke-dasharray="2,3"/>',
                f'<text x="{px - 4:.1f}" y="{self.y0 + self.h - 4}" fill="red" font-size="10" '
                f'transform="rotate(-90 {px - 4:.1f} {self.y0 + self.h - 4})">{escape(text)}</text>']

    def legend(self, labels: list[tuple[str, str]]) -> list[str]:
        x, y = self.x0 + self.w - 92, self.y0 + 8
        out = [f'<rect x="{x}" y="{y}" width="86" height="{8 + 16 * len(labels)}" fill="white" stroke="#ccc" opacity="0.9"/>']
        for i, (label, color) in enumerate(labels):
            ly = y + 14 + 16 * i
            out += [f'<line x1="{x + 6}" y1="{ly - 4}" x2="{x + 22}" y2="{ly - 4}" stroke="{color}" stroke-width="2"/>',
                    f'<text x="{x + 27}" y="{ly}" font-size="11">{label}</text>']
        return out


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
        panel = _Panel(PANEL_W * (i % cols), TITLE_H + PANEL_H * (i // cols), max(v.size for *_, v in curves), finite)
        body.append(f'<g class="panel" data-metric="{escape(name)}" data-scale="{"log" if panel.log else "linear"}">')
        body += panel.axes(name)
        broken: dict[int, list[str]] = {}
        for label, color, marker, values in curves:
            body += panel.curve(label, values, color, marker)
            for epoch in np.flatnonzero(~np.isfinite(values)) + 1:
                broken.setdefault(int(epoch), []).append(f"{label} {nonfinite_word(values[epoch - 1])}")
        for epoch, what in broken.items():
            body += panel.mark(epoch, ", ".join(what))
        shown = [(label, color) for label, color, _, values in curves if np.isfinite(values).any()]
        if shown:
            body += panel.legend(shown)
        body.append("</g>")
    return SvgFigure(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>')
