"""The trial hook that keeps what an export needs: the best checkpoint and a probe batch.

At the end of each trial execution the tuner's best-epoch callback
(:class:`search.engine.tuner.BestEpochAtTrainEnd`) has written the best epoch's weights to
``<trial dir>/checkpoint.weights.h5`` and kept them in memory. The hook sets them in the
trained model for a moment, runs the probe rows (the first 32 validation rows) through
it, puts the trained weights back, and saves ``probe.npz`` in the trial folder. It logs
the checkpoint, the probe, the model's build config and the hyperparameter values as
MLflow artifacts of the trial run under ``best/``, so a trial trained on another machine
can be exported from the tracking store alone. Pruned trials are recorded too (an
export never picks them unless asked).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import keras

from search.engine.hooks import TrialContext, TrialHook
from search.export.probe import PROBE_FILE, compute, sha256_file
from search.records import keys

ARTIFACT_DIR = "best"
CHECKPOINT_FILE = "checkpoint.weights.h5"
BUILD_CONFIG_FILE = "build_config.json"
VALUES_FILE = "hyperparameters.json"


class BestCheckpointHook(TrialHook):
    """Records the probe batch with the best weights and logs both to the trial's run."""

    def callback(self, context: TrialContext) -> keras.callbacks.Callback | None:
        get_fname = getattr(context.tuner, "_get_checkpoint_fname", None)
        if get_fname is None or not hasattr(context.tuner, "checkpoint_weights"):
            return None  # not the project's tuner: an export computes the probe itself
        return _RecordBest(context, Path(get_fname(context.trial_id)))


class _RecordBest(keras.callbacks.Callback):
    def __init__(self, context: TrialContext, checkpoint: Path) -> None:
        super().__init__()
        self.context = context
        self.checkpoint = checkpoint

    def on_train_end(self, logs: dict | None = None) -> None:
        best = self.context.tuner.checkpoint_weights(self.context.trial_id)
        if best is None or not self.checkpoint.is_file():  # no epoch improved on the objective (e.g. NaN)
            return
        try:
            self._record(best)
        except Exception as e:  # e.g. validation data that is a tf.data.Dataset: never fail the trial
            with contextlib.suppress(Exception):
                self.context.set_tags({keys.TAG_EXPORT_PROBE_ERROR: f"{type(e).__name__}: {e}"[:500]})

    def _record(self, best: list[Any]) -> None:
        validation = self.context.validation_data()
        x = validation[0] if validation else self.context.training_data()[0]
        if x is None:
            return
        digest = sha256_file(self.checkpoint)
        probe = _with_weights(self.model, best, lambda m: compute(m, x, digest))
        trial_dir = Path(self.context.trial_dir)
        probe.save(trial_dir / PROBE_FILE)
        if self.context.tracker is None:
            return
        with tempfile.TemporaryDirectory(prefix="search-best-") as tmp:
            shutil.copy2(self.checkpoint, Path(tmp) / CHECKPOINT_FILE)
            shutil.copy2(trial_dir / PROBE_FILE, Path(tmp) / PROBE_FILE)
            (Path(tmp) / BUILD_CONFIG_FILE).write_text(json.dumps(self.model.get_build_config()))
            values = self.context.trial.hyperparameters.values
            (Path(tmp) / VALUES_FILE).write_text(json.dumps(values, default=str))
            self.context.log_artifact(tmp, artifact_path=ARTIFACT_DIR)


def _with_weights(model: keras.Model, weights: list[Any], fn: Callable[[keras.Model], Any]) -> Any:
    """Calls ``fn(model)`` with ``weights`` (the checkpoint's), then restores the trained ones.

    The space's ``fit`` may still use the model after ``model.fit`` returns (an extra
    ``evaluate``), so the last epoch's weights are put back (the optimizer's state is not
    touched).
    """
    trained = model.get_weights()
    model.set_weights(weights)
    try:
        return fn(model)
    finally:
        model.set_weights(trained)
