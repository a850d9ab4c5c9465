"""The confusion matrix (matplotlib, object API, no pyplot state) and the classifier checks behind it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int, title: str = "") -> Any:
    """Counts of true class (rows) against predicted class (columns), with the accuracy."""
    counts = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(counts, (labels.astype(int), predicted.astype(int)), 1)
    size = min(12.0, 2.5 + 0.45 * n_classes)
    fig = _figure(size + 1, size)
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    ax.grid(False)
    fig.colorbar(image, ax=ax, shrink=0.8)
    if n_classes <= 20:
        threshold = counts.max() / 2 if counts.size else 0
        for i in range(n_classes):
            for j in range(n_classes):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if counts[i, j] > threshold else "black")
    ticks = np.arange(n_classes)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = float(np.trace(counts)) / max(int(counts.sum()), 1)
    ax.set_title(f"{title + ': ' if title else ''}validation accuracy {accuracy:.3f} (n={int(counts.sum())})")
    return fig


def _loss_names(model: keras.Model) -> str:
    loss = getattr(model, "loss", None)
    parts = loss.values() if isinstance(loss, dict) else (loss if isinstance(loss, (list, tuple)) else [loss])
    return " ".join(str(getattr(p, "name", getattr(p, "__name__", p))) for p in parts).lower()


def may_be_classifier(model: keras.Model, y: Any) -> bool:
    """A cheap check before predicting: one 2-D output, and a cross-entropy for one unit."""
    if isinstance(y, (list, tuple, dict)):
        return False
    try:
        shape = model.output_shape
    except (AttributeError, ValueError):
        return False
    if not isinstance(shape, tuple) or len(shape) != 2 or shape[-1] is None:
        return False
    return shape[-1] >= 2 or "crossentropy" in _loss_names(model)


def class_labels(model: keras.Model, y: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(true labels, predicted labels, n_classes)`` when the model is a classifier, else None.

    A classifier here: one output; either ``C >= 2`` output units that are softmax
    probabilities (rows >= 0 summing to 1) or trained with a cross-entropy, with integer
    labels in ``[0, C)`` or one-hot targets; or one unit trained with a binary
    cross-entropy on 0/1 targets (threshold 0.5 on probabilities, 0 on logits).
    """
    if isinstance(y, (list, tuple, dict)) or isinstance(y_pred, (list, tuple, dict)):
        return None
    y, p = np.asarray(y), np.asarray(y_pred, dtype="float64")
    if p.ndim != 2 or len(y) != len(p) or not np.all(np.isfinite(p)):
        return None
    crossentropy = "crossentropy" in _loss_names(model)
    n = p.shape[1]
    if n >= 2:
        softmax = bool(np.all(p >= -1e-6) and np.allclose(p.sum(axis=1), 1.0, atol=1e-3))
        if not (softmax or crossentropy):
            return None
        if y.ndim == 2 and y.shape[1] == n and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
            labels = y.argmax(axis=1)
        else:
            labels = y.reshape(len(y), -1)[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
            if labels.ndim != 1 or not np.all(np.mod(labels, 1) == 0) or labels.min() < 0 or labels.max() >= n:
                return None
        return labels.astype(int), p.argmax(axis=1), n
    if not crossentropy or not np.all(np.isin(y, (0, 1))):
        return None
    cut = 0.5 if np.all((p >= 0) & (p <= 1)) else 0.0
    return y.reshape(-1).astype(int), (p[:, 0] > cut).astype(int), 2
