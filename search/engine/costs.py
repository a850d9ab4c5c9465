"""The cost metrics the harness measures on every trial: size, file size and CPU latency of the trained model.

- ``params``: the trainable parameter count (the sizes of ``model.trainable_weights``);
- ``model_bytes``: the size of the trained model saved as a ``.keras`` file (weights,
  configuration and optimizer state, as ``model.save`` writes it), written into memory;
- ``latency_ms``: the median wall time of one batch of validation rows through the model
  traced as a ``tf.function`` of ``model(x, training=False)``, on the CPU, warm: the first
  calls (the trace among them) are not timed. The batch is the first 32 validation rows
  (:data:`LATENCY_ROWS`, fewer when there are fewer) for every trial, whatever batch size it
  trains with; the intra-op thread count TensorFlow ran it with is recorded as ``latency_threads``.

Every cost is to be minimized. :class:`CostsHook` measures them when training ends (pruned
trials too; a trial that fails inside ``fit`` never reaches that point) and records them
as the Optuna user attributes ``params``, ``model_bytes`` and ``latency_ms`` through the
oracle's ``record_costs`` (which keeps them for objectives and constraints) and as MLflow
metrics of the trial's run. A metric that cannot be measured (a custom layer that cannot
be serialized, inputs that are not arrays) is left out, with the reason in the user
attribute ``costs_skipped``; the trial goes on. What measuring costs a trial is in
``tests/perf/README.md`` (``cost_metrics.py``).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.engine.hooks import TrialContext, TrialHook
from search.records import keys

if TYPE_CHECKING:
    import keras

COST_METRICS = keys.COST_METRICS  # params, model_bytes, latency_ms: each one's direction is "min"
WARMUP_CALLS = 2  # untimed: the first traces the function, the second settles its first-run costs
TIMED_CALLS = 7  # the median of these is latency_ms
LATENCY_ROWS = 32  # rows of the latency batch: the same for every trial, so latencies compare across batch sizes


def measure(model: keras.Model, x_batch: Any) -> dict[str, float]:
    """``params``, ``model_bytes`` and ``latency_ms`` of ``model`` (``latency_ms`` on ``x_batch``, one batch
    of inputs; None leaves it out). A cost that cannot be measured is left out."""
    return _measure(model, x_batch)[0]


def trainable_params(model: keras.Model) -> int:
    """The number of trainable parameters: the sum of the sizes of ``model.trainable_weights``."""
    return sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights)


def saved_bytes(model: keras.Model) -> int:
    """The size in bytes of ``model`` saved as a ``.keras`` file (raises what ``model.save`` raises).

    The archive is written into memory by Keras's ``saving_lib.save_model``, the function
    ``model.save`` calls for a ``.keras`` path, which writes the same bytes to a file object:
    on a busy disk a temporary file's creation and removal cost about as much as the save.
    Where Keras is laid out otherwise, a temporary file is written.
    """
    _keep_keras_skipsets()
    try:
        from keras.src.saving.saving_lib import save_model
    except ImportError:
        save_model = None
    if save_model is not None:
        buffer = io.BytesIO()
        save_model(model, buffer)
        return buffer.getbuffer().nbytes
    with tempfile.TemporaryDirectory(prefix="search-costs-") as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.stat().st_size


def latency_ms(model: keras.Model, x_batch: Any, calls: int = TIMED_CALLS) -> float:
    """The median milliseconds of ``calls`` inferences of ``x_batch`` through ``tf.function(model(x,
    training=False))`` on the CPU, after ``WARMUP_CALLS`` untimed ones.

    With a GPU visible, a copy of the model made on the CPU runs it (the model's own
    variables would be copied from the GPU at every call); a model that cannot be cloned
    runs itself under the CPU device.
    """
    import keras
    import tensorflow as tf

    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    with tf.device("/CPU:0") if on_gpu else contextlib.nullcontext():
        target = _cpu_copy(model) if on_gpu else model
        x = keras.tree.map_structure(tf.convert_to_tensor, x_batch)
        # No AutoGraph: the wrapper has no control flow, and Keras calls the layers unconverted anyway.
        forward = tf.function(lambda inputs: target(inputs, training=False), autograph=False)
        for _ in range(WARMUP_CALLS):
            _materialize(forward(x))
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            _materialize(forward(x))
            times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


def intra_op_threads() -> int:
    """TensorFlow's intra-op thread count: the configured one, else its default, one per core this process may use."""
    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads()
    if configured:
        return configured
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class CostsHook(TrialHook):
    """Measures the trial's cost metrics when training ends and records them (Optuna user attributes and
    the oracle's ``record_costs``, MLflow metrics; ``latency_threads`` and any skipped metric's reason too)."""

    def callback(self, context: TrialContext) -> keras.callbacks.Callback:
        import keras

        callback = keras.callbacks.LambdaCallback(on_train_end=lambda logs=None: _record(context, callback))
        return callback


def _record(context: TrialContext, callback: keras.callbacks.Callback) -> None:
    try:
        x_batch = _latency_batch(context)
    except Exception:  # noqa: BLE001 - latency is then skipped, the other costs kept
        x_batch = None
    costs, skipped = _measure(callback.model, x_batch)
    record_costs = getattr(context.oracle, "record_costs", None)
    if record_costs is not None:
        record_costs(context.trial_id, costs)
    context.log_metrics(costs)
    attrs: dict[str, Any] = {}
    tags: dict[str, str] = {}
    if keys.COST_LATENCY_MS in costs:
        threads = intra_op_threads()
        attrs[keys.LATENCY_THREADS], tags[keys.TAG_LATENCY_THREADS] = threads, str(threads)
    if skipped:
        attrs[keys.COSTS_SKIPPED] = skipped
        tags[keys.TAG_COSTS_SKIPPED] = "; ".join(f"{k}: {v}" for k, v in skipped.items())
    set_attr = getattr(context.oracle, "set_trial_user_attr", None)
    if set_attr is not None:
        for key, value in attrs.items():
            set_attr(context.trial_id, key, value)
    context.set_tags(tags)


def _measure(model: keras.Model, x_batch: Any) -> tuple[dict[str, float], dict[str, str]]:
    """The costs measured and, for each left out, why."""
    costs: dict[str, float] = {keys.COST_PARAMS: trainable_params(model)}
    skipped: dict[str, str] = {}
    measures = ((keys.COST_MODEL_BYTES, lambda: saved_bytes(model)),
                (keys.COST_LATENCY_MS, lambda: latency_ms(model, x_batch)))
    for name, run in measures:
        if name == keys.COST_LATENCY_MS and x_batch is None:
            skipped[name] = "no validation or training arrays to time"
            continue
        try:
            costs[name] = run()
        except Exception as e:  # noqa: BLE001 - a cost is never worth a trial
            skipped[name] = f"{type(e).__name__}: {' '.join(str(e).split())}"[:300]
    return costs, skipped


def _latency_batch(context: TrialContext) -> Any:
    """The first :data:`LATENCY_ROWS` validation inputs (training inputs without them); None when they are
    not arrays (a ``tf.data.Dataset``). The same rows for every trial, whatever batch size it trains with,
    so a search cannot lower its latency objective by choosing smaller training batches."""
    import keras

    validation = context.validation_data()
    x = validation[0] if isinstance(validation, (tuple, list)) and validation else context.training_data()[0]
    try:
        leaves = keras.tree.flatten(x) if x is not None else []
    except Exception:  # noqa: BLE001 - not a structure of arrays
        return None
    if not leaves or not all(hasattr(a, "shape") and len(a.shape) and hasattr(a, "__getitem__") for a in leaves):
        return None
    return keras.tree.map_structure(lambda a: a[:LATENCY_ROWS], x)


def _cpu_copy(model: keras.Model) -> keras.Model:
    """A clone of ``model`` with its weights, made under the current (CPU) device; ``model`` if it cannot be cloned."""
    import keras

    try:
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        return copy
    except Exception:  # noqa: BLE001 - e.g. a subclassed model: time it where it is
        return model


def _materialize(outputs: Any) -> None:
    """Waits for every output, as a caller reading the predictions would."""
    import keras

    keras.tree.map_structure(lambda t: t.numpy(), outputs)


_SKIPSET_KINDS = ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss")
_skipsets: dict[str, Any] = {}


def _keep_keras_skipsets() -> None:
    """Hands Keras the attribute skip sets its saving would otherwise rebuild on every save.

    For each object it saves, Keras 3 looks up which attributes to skip, made by building a
    throw-away Layer, Optimizer (with its variables) and Metric; it caches them under
    ``saving_attr_skipset_KIND`` but reads ``saving_attr_skiplist_KIND``, so it rebuilds them
    every time: about 40% of a small model's save. They depend only on Keras's classes, so
    they are made once per process and set under the key Keras reads before each save
    (``clear_session`` forgets them). A Keras laid out otherwise just saves without them.
    """
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving import saving_lib

        for kind in _SKIPSET_KINDS:
            if kind not in _skipsets:
                _skipsets[kind] = saving_lib.get_attr_skipset(kind)
            global_state.set_global_attribute(f"saving_attr_skiplist_{kind}", _skipsets[kind])
    except Exception:  # noqa: BLE001 - only a speed-up
        return
