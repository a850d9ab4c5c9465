"""Gradient-flow audit: one batch, one gradient tape, before the first epoch of each trial.

Every trainable variable whose gradient is None (it does not reach the loss: the seed
001 bug, a weight used only in a boolean condition), all zero on that batch, or
non-finite is named with its layer. The audit leaves the model as it found it: the
non-trainable variables (batch-norm statistics, dropout seed state) are restored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras

from search.doctor import _record as rec
from search.records import keys
from search.engine.hooks import TrialContext, TrialHook


@dataclass
class GradientReport:
    """What one audit found (variables described as ``path (layer NAME: Class)``)."""

    no_gradient: list[str] = field(default_factory=list)
    zero_gradient: list[str] = field(default_factory=list)
    nonfinite_gradient: list[str] = field(default_factory=list)
    loss: float | None = None

    @property
    def ok(self) -> bool:
        return not (self.no_gradient or self.zero_gradient or self.nonfinite_gradient)

    def summary(self) -> str:
        """``ok`` or e.g. ``no gradient: 1, zero gradient: 2``."""
        parts = [f"{label}: {len(found)}" for label, found in (
            ("no gradient", self.no_gradient), ("zero gradient", self.zero_gradient),
            ("non-finite gradient", self.nonfinite_gradient)) if found]
        return ", ".join(parts) or "ok"


def loss_and_gradients(model: keras.Model, x: Any, y: Any, training: bool = True) -> tuple[Any, Any, list[Any]]:
    """``(y_pred, loss, gradients)`` of the model's compiled loss on one batch (TensorFlow)."""
    import tensorflow as tf

    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        y_pred = model(x, training=training)
        if getattr(model, "_compute_loss_has_training_arg", True):
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=training)
        else:  # a compute_loss override from before Keras 3.3
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred)
    return y_pred, loss, tape.gradient(loss, variables)


def audit_gradients(model: keras.Model, x: Any, y: Any) -> GradientReport:
    """Audits the gradient of every trainable variable of ``model`` on the batch ``(x, y)``."""
    import tensorflow as tf

    state = [v.numpy() for v in model.non_trainable_variables]
    try:
        _, loss, grads = loss_and_gradients(model, x, y)
    finally:
        for v, value in zip(model.non_trainable_variables, state):
            v.assign(value)
    owners = rec.variable_owners(model)
    report = GradientReport(loss=float(loss))
    for variable, grad in zip(model.trainable_variables, grads):
        name = rec.describe_variable(variable, owners)
        if grad is None:
            report.no_gradient.append(name)
            continue
        grad = tf.convert_to_tensor(grad)
        if not bool(tf.reduce_all(tf.math.is_finite(grad))):
            report.nonfinite_gradient.append(name)
        elif not bool(tf.reduce_any(grad != 0)):
            report.zero_gradient.append(name)
    return report


class _AuditCallback(keras.callbacks.Callback):
    def __init__(self, context: TrialContext) -> None:
        super().__init__()
        self.context = context

    def on_train_begin(self, logs: dict | None = None) -> None:
        x, y = self.context.training_data()
        if not (rec.is_arrays(x) and rec.is_arrays(y)):
            return self._record_skip("training data is not arrays")
        n = rec.batch_size(self.params, rec.rows(x))
        try:
            report = audit_gradients(self.model, rec.first_batch(x, n), rec.first_batch(y, n))
        except Exception as e:  # the audit must never fail a trial
            return self._record_skip(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300])
        attrs = {keys.GRADIENT_AUDIT: report.summary()}
        tags = {keys.TAG_GRADIENT_AUDIT: report.summary()}
        for attr, tag, found in (
            (keys.NO_GRADIENT, keys.TAG_NO_GRADIENT, report.no_gradient),
            (keys.ZERO_GRADIENT, keys.TAG_ZERO_GRADIENT, report.zero_gradient),
            (keys.NONFINITE_GRADIENT, keys.TAG_NONFINITE_GRADIENT, report.nonfinite_gradient),
        ):
            if found:
                attrs[attr] = found
                tags[tag] = ", ".join(found)
        rec.record(self.context, attrs, tags)

    def _record_skip(self, why: str) -> None:
        rec.record(self.context, {keys.GRADIENT_AUDIT: f"skipped: {why}"}, {keys.TAG_GRADIENT_AUDIT: f"skipped: {why}"})


class GradientAuditHook(TrialHook):
    """Audits gradient flow on one training batch before each trial's first epoch.

    Records, on the trial's Optuna user attributes and MLflow tags:
    ``gradient_audit`` / ``search.gradient_audit`` (``ok``, a count per problem, or
    ``skipped: why``) and, when found, ``no_gradient``, ``zero_gradient``,
    ``nonfinite_gradient`` (lists; tags ``search.no_gradient`` etc., comma-separated).
    """

    def callback(self, context: TrialContext) -> keras.callbacks.Callback:
        return _AuditCallback(context)
