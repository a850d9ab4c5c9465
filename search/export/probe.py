"""The probe batch: a few validation rows and a model's outputs on them, kept with a trial.

An export is verified by running the probe inputs through the exported artifact in a
fresh process and comparing with the outputs recorded here. Stored as ``probe.npz``:
``input_<i>`` and ``output_<j>`` arrays, ``input_names`` and the SHA-256 of the
weights file the outputs were computed with.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

PROBE_FILE = "probe.npz"
PROBE_ROWS = 32
# float32 tolerance of a verification: |exported - recorded| <= ATOL + RTOL * |recorded|.
RTOL = 1e-5
ATOL = 1e-5


@dataclass
class Probe:
    """Inputs (one array per model input) and outputs (one array per flattened output)."""

    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    input_names: list[str]
    weights_sha256: str = ""

    def model_inputs(self) -> Any:
        """The inputs as a Keras model takes them: one array, or a list for several inputs."""
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    def named_inputs(self) -> Any:
        """The inputs as the MLflow model takes them: one array, or a dict by input name."""
        return self.inputs[0] if len(self.inputs) == 1 else dict(zip(self.input_names, self.inputs))

    def save(self, path: str | os.PathLike) -> None:
        """Writes ``probe.npz`` atomically (a reader never sees half a file)."""
        path = Path(path)
        arrays = {f"input_{i}": a for i, a in enumerate(self.inputs)}
        arrays.update({f"output_{j}": a for j, a in enumerate(self.outputs)})
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, input_names=np.array(self.input_names), weights_sha256=np.array(self.weights_sha256),
                     n_inputs=len(self.inputs), n_outputs=len(self.outputs), **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Probe:
        with np.load(path) as data:
            return cls(
                inputs=[data[f"input_{i}"] for i in range(int(data["n_inputs"]))],
                outputs=[data[f"output_{j}"] for j in range(int(data["n_outputs"]))],
                input_names=[str(n) for n in data["input_names"]],
                weights_sha256=str(data["weights_sha256"]),
            )


def probe_rows(x: Any, rows: int = PROBE_ROWS) -> list[np.ndarray]:
    """The first ``rows`` rows of ``x`` (an array or a list of arrays), as float arrays."""
    parts = list(x) if isinstance(x, (list, tuple)) else [x]
    return [np.asarray(p)[:rows] for p in parts]


def input_names(model: keras.Model, count: int) -> list[str]:
    """Names of the model's inputs (``keras.Input(name=...)``), or ``input_<i>``."""
    names = [getattr(t, "name", None) for t in (getattr(model, "inputs", None) or [])]
    if len(names) == count and all(names) and len(set(names)) == count:
        return [str(n) for n in names]
    return [f"input_{i}" for i in range(count)]


def flatten_outputs(outputs: Any) -> list[np.ndarray]:
    """A model's outputs (a tensor, a list or a dict of them) as a list of numpy arrays."""
    import keras

    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in keras.tree.flatten(outputs)]


def compute(model: keras.Model, x: Any, weights_sha256: str = "", rows: int = PROBE_ROWS) -> Probe:
    """Runs the first ``rows`` rows of ``x`` through ``model`` (inference mode).

    Called eagerly (``model(x, training=False)``), not with ``predict``: a trial's model is
    new every trial, and a new ``predict`` function per trial makes TensorFlow warn about
    retracing after five trials.
    """
    inputs = probe_rows(x, rows)
    outputs = flatten_outputs(model(inputs[0] if len(inputs) == 1 else inputs, training=False))
    return Probe(inputs, outputs, input_names(model, len(inputs)), weights_sha256)


def compare(got: list[np.ndarray], expected: list[np.ndarray]) -> tuple[bool, float, str]:
    """``(passed, max abs difference, reason)`` of outputs against the recorded ones.

    NaN matches NaN (a recorded NaN output must come back as NaN).
    """
    if len(got) != len(expected):
        return False, float("inf"), f"{len(got)} outputs, expected {len(expected)}"
    worst = 0.0
    for g, e in zip(got, expected):
        g = np.asarray(g)
        if g.shape != e.shape:
            return False, float("inf"), f"output shape {g.shape}, expected {e.shape}"
        diff = np.abs(g.astype(np.float64) - e.astype(np.float64))
        if diff.size and not np.isnan(diff).all():
            worst = max(worst, float(np.nanmax(diff)))
        if not np.allclose(g, e, rtol=RTOL, atol=ATOL, equal_nan=True):
            return False, worst, f"outputs differ: max abs diff {worst:.3g} > atol {ATOL:g} + rtol {RTOL:g}·|expected|"
    return True, worst, ""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
