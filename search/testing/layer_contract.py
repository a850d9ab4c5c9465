"""One contract check for every Keras layer of the project (TensorFlow backend).

:func:`check_layer` builds and calls a layer, checks its output shape against
``compute_output_shape``, round-trips its config, saves a model wrapping it to
``.keras``, reloads it in this process with ``safe_mode=True``, and takes a training
step whose gradients must be finite, non-None (and by default not all zero) for
every trainable variable, and finite for the inputs. It returns a
:class:`ReloadJob`; importing TensorFlow costs seconds, so :func:`verify_reload_in_fresh_process` reloads many jobs in ONE fresh
Python process that imports only ``search`` (then Keras), with ``safe_mode=True``
and no ``custom_objects``, and compares the outputs with the saved ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

_MARKER = "RELOAD-RESULTS:"

# Run by verify_reload_in_fresh_process: `import search` must be all it takes.
_RELOAD_SCRIPT = f"""
import json, sys
import search
import keras
import numpy as np

results = {{}}
for job in json.load(open(sys.argv[1])):
    try:
        model = keras.saving.load_model(job["model_path"], safe_mode=True)
        data = np.load(job["data_path"])
        inputs = [data[f"input_{{k}}"] for k in range(int(data["n_inputs"]))]
        out = keras.ops.convert_to_numpy(model(inputs if len(inputs) > 1 else inputs[0]))
        expected = data["expected"]
        if out.shape != expected.shape:
            results[job["name"]] = f"output shape {{out.shape}} != {{expected.shape}}"
        elif not np.allclose(out, expected, rtol=job["rtol"], atol=job["atol"],
                             equal_nan=True):
            diff = float(np.nanmax(np.abs(out - expected)))
            results[job["name"]] = f"outputs differ after reload: max abs diff {{diff}}"
        else:
            results[job["name"]] = None
    except Exception as error:
        results[job["name"]] = f"{{type(error).__name__}}: {{error}}"
print({_MARKER!r} + json.dumps(results))
"""


class LayerContractError(AssertionError):
    """A layer that breaks the contract; the message names the layer and the step."""


@dataclass(frozen=True)
class ReloadJob:
    """A saved model, its inputs and its expected outputs, to reload elsewhere."""

    name: str
    model_path: str
    data_path: str
    rtol: float = 0.0
    atol: float = 0.0


def _fail(name: str, step: str, detail: str):
    raise LayerContractError(f"{name}: {step}: {detail}")


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _single_or_list(xs: list):
    return xs[0] if len(xs) == 1 else xs


def _is_multi(input_shapes) -> bool:
    return isinstance(input_shapes, list) and all(
        isinstance(s, (list, tuple)) for s in input_shapes
    )


def _check_registered(layer, name: str) -> None:
    import keras

    registered = keras.saving.get_registered_name(type(layer))
    if keras.saving.get_registered_object(registered) is not type(layer):
        _fail(name, "registration", f"{type(layer).__name__} is not registered")


def _check_config(layer, factory_output, x, name: str) -> None:
    import keras

    config = layer.get_config()
    try:
        json.dumps(config)
    except TypeError as error:
        _fail(name, "get_config", f"not JSON-serializable: {error}")
    clone = type(layer).from_config(config)
    if clone.get_config() != config:
        _fail(name, "config round trip", f"{clone.get_config()} != {config}")
    clone(_single_or_list(x))
    clone.set_weights(layer.get_weights())
    out = keras.ops.convert_to_numpy(clone(_single_or_list(x)))
    if not np.array_equal(out, factory_output, equal_nan=True):
        _fail(name, "config round trip", "outputs differ with the same weights")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    if type(restored) is not type(layer):
        _fail(name, "serialize_keras_object", f"gave {type(restored).__name__}")


def _check_training_step(model, x, name: str, allow_zero_grads: bool, seed: int):
    import keras
    import tensorflow as tf

    weights = model.trainable_variables
    x = [tf.constant(a) for a in x]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        out = model(_single_or_list(x), training=True)
        projection = np.random.default_rng(seed).standard_normal(out.shape[1:])
        loss = tf.reduce_mean(out * tf.constant(projection, dtype=out.dtype))
    grads = tape.gradient(loss, weights)
    for k, grad in enumerate(tape.gradient(loss, x)):
        if grad is not None and not np.all(np.isfinite(grad)):
            _fail(name, "training step", f"non-finite gradient for input {k}")
    for weight, grad in zip(weights, grads):
        if grad is None:
            _fail(name, "training step", f"no gradient for {weight.path}")
        grad = np.asarray(grad)
        if not np.all(np.isfinite(grad)):
            _fail(name, "training step", f"non-finite gradient for {weight.path}")
        if not allow_zero_grads and not np.any(grad):
            _fail(name, "training step", f"all-zero gradient for {weight.path}")
    if weights:
        keras.optimizers.SGD(0.01).apply_gradients(zip(grads, weights))
    if not np.all(np.isfinite(keras.ops.convert_to_numpy(model(_single_or_list(x))))):
        _fail(name, "training step", "non-finite outputs after one SGD step")


def check_layer(
    layer_factory: Callable[[], object], input_shapes, workdir: str | os.PathLike, *, name: str | None = None,
    inputs=None, batch_size: int = 4, expected_trainable_weights: int | None = None, allow_zero_grads: bool = False,
    seed: int = 0, rtol: float = 0.0, atol: float = 0.0,
) -> ReloadJob:
    """Checks one layer configuration against the Keras layer contract.

    Args:
        layer_factory: Returns a new, unbuilt layer.
        input_shapes: The input shape without the batch axis, e.g. ``(5,)``, or a
            list of such shapes for a layer with several inputs.
        workdir: Folder for the saved model and data of the returned job.
        name: Names the configuration in errors and file names.
        inputs: Input arrays (with the batch axis); seeded standard normal if None.
        batch_size: Batch size of the generated inputs.
        expected_trainable_weights: If given, the required number of trainable weights.
        allow_zero_grads: Accept an all-zero gradient (never a None or non-finite one).
        seed: Seed of the generated inputs and of the training-step loss.
        rtol, atol: Tolerance of the reloaded outputs (0: identical).

    Returns:
        The :class:`ReloadJob` for :func:`verify_reload_in_fresh_process`.

    Raises:
        LayerContractError: Naming the configuration and the failed step.
    """
    import keras

    layer = layer_factory()
    name = name or type(layer).__name__
    shapes = [tuple(s) for s in input_shapes] if _is_multi(input_shapes) else [tuple(input_shapes)]
    rng = np.random.default_rng(seed)
    x = [np.asarray(a, dtype="float32") for a in _as_list(inputs)] if inputs is not None \
        else [rng.standard_normal((batch_size, *s)).astype("float32") for s in shapes]
    _check_registered(layer, name)
    symbolic = [keras.Input(shape=s) for s in shapes]
    sym_out = layer(_single_or_list(symbolic))
    out = _check_shapes(layer, shapes, sym_out, x, name)
    n_trainable = len(layer.trainable_weights)
    if expected_trainable_weights is not None and n_trainable != expected_trainable_weights:
        _fail(name, "weights", f"{n_trainable} trainable, expected {expected_trainable_weights}")
    _check_config(layer, out, x, name)
    model = keras.Model(_single_or_list(symbolic), sym_out)
    job = _check_save_load(model, x, Path(workdir), name, rtol, atol)
    _check_training_step(model, x, name, allow_zero_grads, seed)
    return job


def _check_shapes(layer, shapes: list[tuple], sym_out, x: list[np.ndarray], name: str) -> np.ndarray:
    """The symbolic and eager outputs have the shapes ``compute_output_shape`` declares, and are
    finite; returns the eager output."""
    import keras

    try:
        declared = layer.compute_output_shape(_single_or_list([(None, *s) for s in shapes]))
    except NotImplementedError as error:
        _fail(name, "compute_output_shape", str(error))
    if tuple(sym_out.shape) != tuple(declared):
        _fail(name, "output shape", f"symbolic {sym_out.shape} != declared {declared}")
    out = keras.ops.convert_to_numpy(layer(_single_or_list(x)))
    declared = layer.compute_output_shape(_single_or_list([a.shape for a in x]))
    if out.shape != tuple(declared):
        _fail(name, "output shape", f"eager {out.shape} != declared {declared}")
    if not np.all(np.isfinite(out)):
        _fail(name, "call", "non-finite outputs")
    return out


def _check_save_load(model, x: list[np.ndarray], workdir: Path, name: str, rtol: float, atol: float) -> ReloadJob:
    """Saves the model and its outputs on ``x`` in ``workdir``, reloads it here (``safe_mode``,
    no ``custom_objects``) and compares; returns the job that reloads it in a fresh process."""
    import keras

    workdir.mkdir(parents=True, exist_ok=True)
    model_path, data_path = workdir / f"{name}.keras", workdir / f"{name}.npz"
    model.save(model_path)
    expected = keras.ops.convert_to_numpy(model(_single_or_list(x)))
    np.savez(data_path, n_inputs=len(x), expected=expected, **{f"input_{k}": a for k, a in enumerate(x)})
    reloaded = keras.saving.load_model(model_path, safe_mode=True)
    again = keras.ops.convert_to_numpy(reloaded(_single_or_list(x)))
    if not np.allclose(again, expected, rtol=rtol, atol=atol, equal_nan=True):
        _fail(name, "save/load", "outputs differ after reloading in this process")
    return ReloadJob(name, str(model_path), str(data_path), rtol, atol)


def verify_reload_in_fresh_process(
    jobs: Sequence[ReloadJob], *, raise_on_failure: bool = True, timeout: float = 600
) -> dict[str, str | None]:
    """Reloads every job's model in one fresh process and compares its outputs.

    The process imports ``search`` and then Keras, and loads each model with
    ``safe_mode=True`` and no ``custom_objects``.

    Returns:
        Job name -> None if it passed, else the failure message.

    Raises:
        LayerContractError: If the process fails, or (with ``raise_on_failure``)
            if any job fails.
    """
    if not jobs:
        return {}
    listing = Path(jobs[0].data_path).with_name("reload_jobs.json")
    listing.write_text(json.dumps([asdict(job) for job in jobs]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", _RELOAD_SCRIPT, str(listing)],
        capture_output=True, text=True, timeout=timeout, env=env,
        cwd=listing.parent,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_MARKER)]
    if proc.returncode != 0 or not lines:
        raise LayerContractError(
            f"reload process failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
        )
    results = json.loads(lines[-1][len(_MARKER):])
    failures = {k: v for k, v in results.items() if v is not None}
    if raise_on_failure and failures:
        raise LayerContractError(
            "fresh-process reload failed: "
            + "; ".join(f"{k}: {v}" for k, v in failures.items())
        )
    return results
