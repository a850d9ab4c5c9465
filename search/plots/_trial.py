"""Per-trial pictures, logged on the trial's MLflow run under ``plots/``.

- ``learning_curves.svg`` for every trial that trained (train and validation, every
  metric; SVG written directly), drawn when training ends, or at once when an epoch logs
  a non-finite value (the numerics sentinel is about to fail the trial, and Keras will not
  call ``on_train_end``);
- ``confusion_matrix.png`` on the validation data when the model is a classifier;
- whatever the space draws (:meth:`search.space.Space.figures`): a space module may define
  ``plots(model, data)`` (or ``plots(model, data, hp)``) returning ``{name: figure}``: a
  matplotlib Figure, saved as ``plots/NAME.png``, or a :class:`search.plots.SvgFigure`
  (``line_plot`` draws one without matplotlib), saved as ``plots/NAME.svg``.

A plotting error never fails a trial: it is recorded as tag ``search.plot_error``.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from typing import Any

import keras

from search.engine.hooks import TrialContext, TrialHook
from search.plots import _figures, _svg
from search.records import keys

ARTIFACT_DIR = "plots"


def save_figures(figures: dict[str, Any], folder: str) -> list[str]:
    """Saves each figure as ``folder/NAME.png`` (``NAME.svg`` for an :class:`SvgFigure`) and
    closes it; returns the paths."""
    paths = []
    for name, fig in figures.items():
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "figure"
        path = os.path.join(folder, f"{safe}.{getattr(fig, 'extension', 'png')}")
        fig.savefig(path)
        paths.append(path)
        if not isinstance(fig, _svg.SvgFigure):
            _close(fig)
    return paths


def _close(fig: Any) -> None:
    import sys

    if "matplotlib.pyplot" in sys.modules:  # figures made with pyplot stay registered there
        sys.modules["matplotlib.pyplot"].close(fig)


def _error_line(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}"[:300]


class _PlotsCallback(keras.callbacks.Callback):
    def __init__(self, context: TrialContext) -> None:
        super().__init__()
        self.context = context
        self.history: dict[str, list[float]] = {}
        self.drawn = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        broken = False
        for name, value in (logs or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            self.history.setdefault(name, []).append(value)
            broken |= not math.isfinite(value)
        if broken:  # training is about to fail: no on_train_end will come
            self._draw(final=False)

    def on_train_end(self, logs: dict | None = None) -> None:
        if not self.drawn:
            self._draw(final=True)

    def _draw(self, final: bool) -> None:
        self.drawn = True
        figures: dict[str, Any] = {}
        errors: list[str] = []
        number = self.context.number
        title = f"trial {number}" if number is not None else f"trial {self.context.trial_id}"
        for name, make in (
            ("learning_curves", lambda: {"learning_curves": _svg.learning_curves(self.history, title)}),
            ("confusion_matrix", lambda: self._confusion(title) if final else {}),
            ("space plots", lambda: self._space_plots() if final else {}),
        ):
            try:
                figures.update(make())
            except Exception as e:  # a picture is never worth a failed trial
                errors.append(f"{name}: {_error_line(e)}")
        try:
            with tempfile.TemporaryDirectory(prefix="search-plots-") as folder:
                if save_figures(figures, folder):
                    self.context.log_artifact(folder, ARTIFACT_DIR)
        except Exception as e:
            errors.append(f"saving: {_error_line(e)}")
        if errors:
            self.context.set_tags({keys.TAG_PLOT_ERROR: "; ".join(errors)})

    def _confusion(self, title: str) -> dict[str, Any]:
        data = self.context.validation_data()
        if not data or len(data) < 2:
            return {}
        x_val, y_val = data[0], data[1]
        if not _figures.may_be_classifier(self.model, y_val):
            return {}
        y_pred = self.model.predict(x_val, verbose=0)
        found = _figures.class_labels(self.model, y_val, y_pred)
        if found is None:
            return {}
        labels, predicted, n = found
        return {"confusion_matrix": _figures.confusion_matrix(labels, predicted, n, title)}

    def _space_plots(self) -> dict[str, Any]:
        space = self.context.space
        if space is None:
            return {}
        x, y = self.context.training_data()
        x_val, y_val = (self.context.validation_data() or (None, None))[:2]
        return space.figures(self.model, x, y, x_val, y_val, self.context.trial.hyperparameters)


class TrialPlotsHook(TrialHook):
    """Draws each trial's learning curves, confusion matrix and the space's own plots."""

    def callback(self, context: TrialContext) -> keras.callbacks.Callback:
        return _PlotsCallback(context)
