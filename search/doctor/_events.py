"""Divergence and jump detection: tagged events with the epoch, the trial goes on.

- **divergence**: the training loss, having improved on its first epoch, ends an epoch
  far above its best: ``loss > DIVERGENCE_FACTOR × best`` (10×) when the best is
  positive; for losses that go negative, ``loss > best + (DIVERGENCE_FACTOR − 1) ×
  (first − best)``. Recorded when it starts; again only after the loss came back.
- **jump** (seed 000's offset experiment: started near a good minimum, walked away):
  at the end of an epoch the trainable weights are farther than ``JUMP_DISTANCE``
  (10 %) of their initial norm from where they started, while the training loss is
  above ``JUMP_LOSS_FACTOR`` (1.5×) the loss the model had before training (one
  batch, measured at train begin). Training from a random start lowers the loss, so
  it never fires there. Recorded once per trial, naming the variable that moved most.

Events go to Optuna user attribute ``events`` and MLflow tag ``search.events``, a JSON
list of ``{"event", "epoch", "detail"}`` (epochs count from 1, as Keras prints them).
"""

from __future__ import annotations

import math

import keras
import numpy as np

from search.doctor import _record as rec
from search.engine.hooks import TrialContext, TrialHook

DIVERGENCE_FACTOR = 10.0
JUMP_DISTANCE = 0.1
JUMP_LOSS_FACTOR = 1.5
# Weights are compared with their start only for models up to this many parameters.
MAX_JUMP_PARAMS = 10_000_000


def diverged(loss: float, best: float, first: float, factor: float = DIVERGENCE_FACTOR) -> bool:
    """True when ``loss`` is far above the ``best`` loss, which improved on the ``first``."""
    if not best < first:
        return False
    if best > 0:
        return loss > factor * best
    return loss > best + (factor - 1) * (first - best)


class _EventsCallback(keras.callbacks.Callback):
    def __init__(self, context: TrialContext) -> None:
        super().__init__()
        self.context = context
        self.first: float | None = None
        self.best = math.inf
        self.best_epoch = 0
        self.diverging = False
        self.start: list[np.ndarray] | None = None
        self.start_loss: float | None = None
        self.jumped = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.model.count_params() > MAX_JUMP_PARAMS:
            return
        self.start = [v.numpy().copy() for v in self.model.trainable_variables]
        x, y = self.context.training_data()
        if rec.is_arrays(x) and rec.is_arrays(y):
            n = rec.batch_size(self.params, rec.rows(x))
            try:
                xb, yb = rec.first_batch(x, n), rec.first_batch(y, n)
                loss = self.model.compute_loss(x=xb, y=yb, y_pred=self.model(xb, training=False), training=False)
                self.start_loss = float(loss)
            except Exception:  # no compiled loss to measure: no jump detection
                self.start_loss = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or not math.isfinite(float(loss)):
            return
        loss = float(loss)
        self._divergence(epoch, loss)
        self._jump(epoch, loss)

    def _divergence(self, epoch: int, loss: float) -> None:
        if self.first is None:
            self.first = loss
        if diverged(loss, self.best, self.first):
            if not self.diverging:
                self.diverging = True
                rec.add_event(self.context, "divergence", epoch + 1,
                              f"loss {loss:.4g} is over {DIVERGENCE_FACTOR:g}x its best {self.best:.4g} "
                              f"(epoch {self.best_epoch})")
        else:
            self.diverging = False
        if loss < self.best:
            self.best, self.best_epoch = loss, epoch + 1

    def _jump(self, epoch: int, loss: float) -> None:
        if self.jumped or self.start is None or self.start_loss is None or not math.isfinite(self.start_loss):
            return
        if not loss > JUMP_LOSS_FACTOR * self.start_loss:
            return
        now = [v.numpy() for v in self.model.trainable_variables]
        start_norm = math.sqrt(sum(float(np.sum(np.square(w))) for w in self.start))
        moved = math.sqrt(sum(float(np.sum(np.square(a - b))) for a, b in zip(now, self.start)))
        if start_norm == 0 or moved <= JUMP_DISTANCE * start_norm:
            return
        self.jumped = True
        distances = [float(np.linalg.norm(a - b)) for a, b in zip(now, self.start)]
        worst = int(np.argmax(distances))
        name = rec.describe_variable(self.model.trainable_variables[worst], rec.variable_owners(self.model))
        rec.add_event(self.context, "jump", epoch + 1,
                      f"weights moved {moved / start_norm:.0%} of their initial norm from the start "
                      f"(most: {name}) while the loss rose from {self.start_loss:.4g} "
                      f"(before training) to {loss:.4g}")


class TrainingEventsHook(TrialHook):
    """Records divergence and jump events of each trial (see the module docstring)."""

    def callback(self, context: TrialContext) -> keras.callbacks.Callback:
        return _EventsCallback(context)
