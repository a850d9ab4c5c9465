"""Numerics sentinel: a non-finite loss or metric fails the trial at that epoch, with the reason.

At the end of each epoch every logged value (``loss``, ``val_loss``, metrics) is
checked. The first non-finite one raises :class:`NumericsError` (a KerasTuner
``FailedTrialError``: the trial is FAILED at once, never retried) whose message is the
reason, e.g. ``loss became NaN at epoch 2 (step 1); first non-finite: output of layer
'nan_after' (NanAfter) at replayed batch 1``.

Where it came from is found by a replay: the weights (and optimizer state) saved when
the epoch began are restored and the epoch's batches are trained again in order, in
eager mode, checking each batch; the first layer whose output is non-finite (forward)
or, failing that, the variable whose gradient is non-finite nearest the output (where
a non-finite gradient enters back-propagation) is named. ``fit`` shuffles, so the
replay sees the same weights but not the same batch order: when nothing goes
non-finite in the replay the reason says so. A non-finite validation value is traced
by a forward pass over the validation batches with the epoch's final weights.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import keras_tuner

from search.doctor import _record as rec
from search.records import keys
from search.engine.hooks import TrialContext, TrialHook

# Replay at most this many batches when tracing a non-finite value to its layer.
MAX_REPLAY_BATCHES = 256
# Weights are saved at each epoch's start only for models up to this many parameters.
MAX_SNAPSHOT_PARAMS = 20_000_000


class NumericsError(keras_tuner.errors.FailedTrialError):
    """A loss or metric became NaN or infinite: the trial fails, the study goes on."""


def _all_finite(tensor: Any) -> bool:
    import tensorflow as tf

    return bool(tf.reduce_all(tf.math.is_finite(tf.cast(tf.convert_to_tensor(tensor), "float32"))))


def _layer_outputs_model(model: keras.Model) -> tuple[Any, list[Any]] | None:
    """A functional model returning every layer's output, with those layers (None if not functional)."""
    try:
        layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
        outputs = [l.output for l in layers]
        return keras.Model(model.inputs, outputs), layers
    except Exception:  # subclassed models have no symbolic outputs
        return None


def first_nonfinite_output(model: keras.Model, x: Any) -> str | None:
    """``output of layer 'name' (Class)`` for the first layer whose output is non-finite on ``x``."""
    probe = _layer_outputs_model(model)
    if probe is None:
        return None if _all_finite(model(x, training=False)) else "output of the model"
    sub, layers = probe
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # input structure warnings of the probe model
        outputs = sub(x, training=True)
    for layer, out in zip(layers, outputs if isinstance(outputs, (list, tuple)) else [outputs]):
        if not all(_all_finite(o) for o in keras.tree.flatten(out)):
            return f"output of layer '{layer.name}' ({type(layer).__name__})"
    return None


def first_nonfinite_gradient(model: keras.Model, grads: list[Any]) -> str | None:
    """The variable nearest the output whose gradient is non-finite (where back-propagation went bad)."""
    owners = rec.variable_owners(model)
    bad = [v for v, g in zip(model.trainable_variables, grads) if g is not None and not _all_finite(g)]
    return f"gradient of {rec.describe_variable(bad[-1], owners)}" if bad else None


class _Snapshot:
    """Weights and optimizer state at an epoch's start."""

    def __init__(self, model: keras.Model) -> None:
        self.weights = [v.numpy() for v in model.variables]
        optimizer = getattr(model, "optimizer", None)
        self.optimizer = [v.numpy() for v in optimizer.variables] if optimizer is not None and optimizer.built else None

    def restore(self, model: keras.Model) -> None:
        for v, value in zip(model.variables, self.weights):
            v.assign(value)
        if self.optimizer is not None:
            for v, value in zip(model.optimizer.variables, self.optimizer):
                v.assign(value)


def replay(model: keras.Model, x: Any, y: Any, batch: int, max_batches: int = MAX_REPLAY_BATCHES) -> str | None:
    """Trains ``model`` on ``(x, y)`` batch by batch, eagerly, until something is non-finite.

    Returns where it first went non-finite (``... at replayed batch k``), or None.
    """
    from search.doctor._gradients import loss_and_gradients

    n = rec.rows(x)
    for k, start in enumerate(range(0, n, batch)):
        if k >= max_batches:
            break
        xb = keras.tree.map_structure(lambda a: a[start:start + batch], x)
        yb = keras.tree.map_structure(lambda a: a[start:start + batch], y)
        y_pred, loss, grads = loss_and_gradients(model, xb, yb)
        bad_forward = not (all(_all_finite(p) for p in keras.tree.flatten(y_pred)) and _all_finite(loss))
        where = first_nonfinite_output(model, xb) if bad_forward else None
        where = where or first_nonfinite_gradient(model, grads)
        if where is None and bad_forward:
            where = "the loss (every layer output is finite)"
        if where is not None:
            return f"{where} at replayed batch {k}"
        model.optimizer.apply([g if g is not None else keras.ops.zeros_like(v)
                               for g, v in zip(grads, model.trainable_variables)], model.trainable_variables)
    return None


class _SentinelCallback(keras.callbacks.Callback):
    def __init__(self, context: TrialContext) -> None:
        super().__init__()
        self.context = context
        self.snapshot: _Snapshot | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.model.count_params() <= MAX_SNAPSHOT_PARAMS:
            self.snapshot = _Snapshot(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for name, value in (logs or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                self._fail(epoch, name, value)

    def _fail(self, epoch: int, name: str, value: float) -> None:
        word = rec.nonfinite_word(value)
        try:
            origin = self._trace(name)
        except Exception as e:  # tracing is best effort; the failure itself is certain
            origin = f"not traced ({type(e).__name__})"
        reason = f"{name} became {word} at epoch {epoch + 1} (step {epoch})"
        if origin:
            reason += f"; first non-finite: {origin}"
        info = {"metric": name, "value": word, "epoch": epoch + 1, "step": epoch, "origin": origin}
        rec.record(self.context, {keys.NUMERICS: info}, {keys.TAG_NUMERICS: reason})
        rec.add_event(self.context, "nonfinite", epoch + 1, reason)
        constrain = getattr(self.context.oracle, "set_trial_constraint", None)
        if constrain is not None:  # tells a constraint-aware sampler this region is bad
            constrain(self.context.trial_id, keys.CONSTRAINT_FINITE, 1.0)
        raise NumericsError(reason)

    def _trace(self, name: str) -> str | None:
        if name.startswith("val_"):
            data = self.context.validation_data()
            if not data or not rec.is_arrays(data[0]):
                return None
            x_val = data[0]
            n = rec.batch_size(self.params, rec.rows(self.context.training_data()[0]))
            for start in range(0, rec.rows(x_val), n):
                where = first_nonfinite_output(self.model, keras.tree.map_structure(lambda a: a[start:start + n], x_val))
                if where:
                    return f"{where} on validation data"
            return None
        x, y = self.context.training_data()
        if self.snapshot is None or not (rec.is_arrays(x) and rec.is_arrays(y)):
            return None
        self.snapshot.restore(self.model)
        found = replay(self.model, x, y, rec.batch_size(self.params, rec.rows(x)))
        return found or "not reproduced by replaying the epoch in order"


class NumericsSentinelHook(TrialHook):
    """Fails a trial at the first epoch whose loss or metrics are NaN or infinite.

    Records Optuna user attribute ``numerics`` ({metric, value, epoch, step, origin}),
    MLflow tag ``search.numerics`` (the reason) and an event ``nonfinite``; sets the
    Optuna constraint ``finite`` = 1 (violated) on the trial, then raises
    :class:`NumericsError`, which the oracle turns into FAIL with the reason as
    ``fail_reason``. Numerics failures never count toward the consecutive-failure limit.
    """

    def callback(self, context: TrialContext) -> keras.callbacks.Callback:
        return _SentinelCallback(context)
