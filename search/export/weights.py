"""A trial's model with its best weights, from wherever they are.

Sources, in order: the local KerasTuner trial folder (``<home>/keras_tuner/<study>/
trial_<id>/``); the trial run's MLflow artifacts (``best/``, logged by
:class:`~search.export.hook.BestCheckpointHook`, so a trial trained on another machine is
found); otherwise the trial is retrained from its parameters with its seed
(``seed + trial id``, as ``search run`` trained it) for the study's epochs (a pruned
trial: the epochs it ran), keeping the best epoch.

A source counts when its checkpoint comes with a probe computed from that very file
(same SHA-256). A checkpoint without one (a trial from before probes were recorded) is
used only when no source has both; its probe is then computed at export time from the
space's validation data, and the manifest says so.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import keras_tuner

from search.export.hook import ARTIFACT_DIR, BUILD_CONFIG_FILE, CHECKPOINT_FILE
from search.export.probe import PROBE_FILE, Probe, compute, sha256_file
from search.export.trial import TrialInfo
from search.records import keys
from search.space.data import Data, load_data

if TYPE_CHECKING:
    from search.space import Space
    from search.tracking.models import ModelStore


@dataclass
class Weights:
    """A built model holding the trial's best weights, and the probe to verify it with."""

    model: keras.Model
    probe: Probe
    source: str  # "local", "mlflow" or "retrained"
    location: str
    probe_recorded: bool  # False: the probe was computed at export, not during the trial


def restore_hp(values: dict[str, Any], settings: dict[str, Any]) -> keras_tuner.HyperParameters:
    """A ``keras_tuner.HyperParameters`` that builds the trial's model.

    KerasTuner registers a hyperparameter with its default only when no value is set, so
    populating ``values`` before ``build`` makes every ``hp.Int``/``hp.Choice`` return the
    trial's value, conditional ones included (as ``Oracle.create_trial`` does).
    """
    hp = keras_tuner.HyperParameters()
    for name, value in settings.items():
        hp.Fixed(name, value)
    hp.values.update(values)
    return hp


def build_model(space: Space, hp: keras_tuner.HyperParameters, build_config: dict | None = None) -> keras.Model:
    """Builds the space's model for ``hp`` with its variables (and its optimizer's) created."""
    keras.backend.clear_session()
    model = space.hypermodel().build(hp)
    if not model.built and build_config:
        model.build_from_config(build_config)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    return model


def find_weights(space: Space, trial: TrialInfo, kt_dir: Path, store: ModelStore | None,
                 notify: Callable[[str], None]) -> Weights:
    """The trial's model with its best weights: local folder, then MLflow, then a retrain."""
    hp = restore_hp(trial.values, trial.settings)
    local = kt_dir / trial.study / f"trial_{trial.kt_trial_id}"
    if trial.trial_dir and Path(trial.trial_dir).is_dir():  # a worker's own folder, on this machine
        local = Path(trial.trial_dir)
    with tempfile.TemporaryDirectory(prefix="search-weights-") as tmp:
        found = []  # (source, folder, probe or None), best first
        if (local / CHECKPOINT_FILE).is_file():
            found.append(("local", local, _probe_for(local)))
        if (not found or found[0][2] is None) and store is not None and trial.mlflow_run_id:
            downloaded = store.download_artifacts(trial.mlflow_run_id, ARTIFACT_DIR, tmp)
            if downloaded and (Path(downloaded) / CHECKPOINT_FILE).is_file():
                probe = _probe_for(Path(downloaded))
                found.insert(0 if probe else len(found), ("mlflow", Path(downloaded), probe))
        if found:
            source, folder, probe = found[0]
            model = build_model(space, hp, _build_config(folder))
            model.load_weights(str(folder / CHECKPOINT_FILE))
            where = str(folder) if source == "local" else f"runs:/{trial.mlflow_run_id}/{ARTIFACT_DIR}"
            recorded = probe is not None
            if probe is None:
                notify(f"trial {trial.number}: no probe batch was recorded with its weights ({where}); "
                       "computing one now from the space's validation data.")
                data = _load_data(space, trial, study_seed(store, trial))
                probe = compute(model, data.x_val, sha256_file(folder / CHECKPOINT_FILE))
            return Weights(model, probe, source, where, probe_recorded=recorded)
    return retrain(space, trial, hp, study_seed(store, trial), notify)


def _probe_for(folder: Path) -> Probe | None:
    """The folder's probe if it was computed with the folder's checkpoint."""
    path = folder / PROBE_FILE
    if not path.is_file():
        return None
    probe = Probe.load(path)
    return probe if probe.weights_sha256 == sha256_file(folder / CHECKPOINT_FILE) else None


def _build_config(folder: Path) -> dict | None:
    path = folder / BUILD_CONFIG_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def study_seed(store: ModelStore | None, trial: TrialInfo) -> int:
    """The ``--seed`` of the invocation that ran the trial (its parent run's param; default 0)."""
    params = store.parent_params(trial.mlflow_run_id) if store is not None and trial.mlflow_run_id else {}
    try:
        return int(params.get(keys.STUDY_SEED, 0))
    except ValueError:
        return 0


def _load_data(space: Space, trial: TrialInfo, seed: int) -> Data:
    return load_data(space, seed, trial.settings)


def retrain(space: Space, trial: TrialInfo, hp: keras_tuner.HyperParameters, seed: int, notify: Callable[[str], None]) -> Weights:
    """Trains the trial's configuration again as ``search run`` did, keeping the best epoch."""
    epochs = trial.steps_run if trial.state == "PRUNED" and trial.steps_run else trial.epochs
    notify(f"trial {trial.number}: no saved weights in its trial folder or MLflow run; retraining it "
           f"from its parameters with seed {seed} + {int(trial.kt_trial_id)} for {epochs} epochs.")
    data = _load_data(space, trial, seed)
    keras.utils.set_random_seed(seed + int(trial.kt_trial_id))
    model = build_model(space, hp)
    with tempfile.TemporaryDirectory(prefix="search-retrain-") as tmp:
        checkpoint = Path(tmp) / CHECKPOINT_FILE
        best = _BestEpoch(trial.objective, trial.direction, checkpoint)
        space.hypermodel().fit(hp, model, **data.fit_kwargs(), epochs=epochs, callbacks=[best], verbose=0)
        if checkpoint.is_file():
            model.load_weights(str(checkpoint))
            digest = sha256_file(checkpoint)
        else:
            digest = ""
    probe = compute(model, data.x_val, digest)
    return Weights(model, probe, "retrained", f"seed {seed + int(trial.kt_trial_id)}, {epochs} epochs",
                   probe_recorded=False)


class _BestEpoch(keras.callbacks.Callback):
    """Saves the weights whenever the objective improves (as KerasTuner's ``SaveBestEpoch``)."""

    def __init__(self, objective: str, direction: str, path: Path) -> None:
        super().__init__()
        self.objective = keras_tuner.Objective(objective, direction)
        self.path = path
        self.best = float("-inf") if direction == "max" else float("inf")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.objective.has_value(logs):
            self.model.save_weights(str(self.path))
            return
        value = self.objective.get_value(logs)
        if self.objective.better_than(value, self.best):
            self.best = value
            self.model.save_weights(str(self.path))
