"""Verify exported models in a fresh Python process against their probe batches.

The child process runs ``import search`` and nothing else of the project before it
loads each artifact the way a user would: ``keras.saving.load_model(path,
safe_mode=True)`` (no ``custom_objects``), ``tf.saved_model.load(path)`` and its
``serving_default`` signature, or ``mlflow.pyfunc.load_model(path)``. Each artifact's
outputs on the probe inputs must match the recorded outputs within
``|got - recorded| <= ATOL + RTOL * |recorded|`` (see :mod:`search.export.probe`).
Several artifacts are verified in one process: importing TensorFlow costs seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_MARKER = "VERIFY-RESULTS:"

_SCRIPT = f"""
import json, sys
import search  # all the project a loader may rely on: it registers the Keras serializables

def outputs_of(fmt, path, probe):
    if fmt == "keras":
        import keras
        model = keras.saving.load_model(path, safe_mode=True)
        return keras.tree.flatten(model.predict_on_batch(probe.model_inputs()))
    if fmt == "savedmodel":
        import tensorflow as tf
        serve = tf.saved_model.load(path).signatures["serving_default"]
        names = sorted(serve.structured_input_signature[1])
        if len(names) == 1:
            feed = {{names[0]: tf.constant(probe.inputs[0])}}
        else:
            feed = {{n: tf.constant(x) for n, x in zip(probe.input_names, probe.inputs)}}
        out = serve(**feed)
        keys = sorted(out, key=lambda k: (int(k.rsplit("_", 1)[1]) if k.rsplit("_", 1)[-1].isdigit() else -1, k))
        return [out[k].numpy() for k in keys]
    if fmt == "mlflow":
        import mlflow.pyfunc
        out = mlflow.pyfunc.load_model(path).predict(probe.named_inputs())
        return [out[k] for k in sorted(out, key=lambda k: int(k.rsplit("_", 1)[1]))] if isinstance(out, dict) else [out]
    raise ValueError(f"unknown format {{fmt!r}}")

from search.export.probe import Probe, compare

results = {{}}
for job in json.load(open(sys.argv[1])):
    try:
        probe = Probe.load(job["probe"])
        passed, diff, reason = compare(outputs_of(job["format"], job["path"], probe), probe.outputs)
    except Exception as error:
        passed, diff, reason = False, None, f"{{type(error).__name__}}: {{error}}".splitlines()[0]
    results[job["name"]] = {{"passed": passed, "max_abs_diff": diff, "reason": reason}}
print({_MARKER!r} + json.dumps(results))
"""


@dataclass(frozen=True)
class Verification:
    """The outcome of reloading one artifact in a fresh process."""

    passed: bool
    max_abs_diff: float | None
    reason: str


@dataclass(frozen=True)
class Job:
    """One artifact to verify: its format, its path and its probe file."""

    name: str
    format: str
    path: str
    probe: str


def verify_in_fresh_process(jobs: list[Job], timeout: float = 600) -> dict[str, Verification]:
    """Reloads every artifact in ONE new Python process and compares it with its probe."""
    with tempfile.TemporaryDirectory(prefix="search-verify-") as tmp:
        spec = Path(tmp) / "jobs.json"
        spec.write_text(json.dumps([job.__dict__ for job in jobs]))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        # cwd=tmp: the child must not import the project from the working directory by accident.
        done = subprocess.run([sys.executable, "-c", _SCRIPT, str(spec)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=tmp)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(_MARKER)), None)
    if line is None:
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {job.name: Verification(False, None, f"verification process failed: {tail}") for job in jobs}
    raw = json.loads(line[len(_MARKER):])
    return {name: Verification(r["passed"], r["max_abs_diff"], r["reason"]) for name, r in raw.items()}
