"""``export``: a study's best (or a chosen) trial as a verified model file, with a manifest."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search import storage as storage_mod
from search.errors import SearchError, UsageError
from search.export.formats import FORMATS, Staging, check_out, versions, write_keras, write_mlflow, write_savedmodel
from search.export.probe import ATOL, RTOL
from search.export.trial import TrialInfo, select_trial, to_stderr, trial_info
from search.export.verify import Job, verify_in_fresh_process
from search.records import keys
from search.records.studies import open_study
from search.space.loader import load_space
from search.tracking.models import ModelStore

if TYPE_CHECKING:
    from search.export.weights import Weights

ALIAS = "best"  # the registry alias `--register NAME` points at the new version
LOADERS = {
    "keras": "keras.saving.load_model(path, safe_mode=True)",
    "savedmodel": "tf.saved_model.load(path).signatures['serving_default']",
    "mlflow": "mlflow.pyfunc.load_model(path)",
}

__all__ = ["ALIAS", "FORMATS", "ExportResult", "ExportVerificationError", "check_options", "export"]


class ExportVerificationError(SearchError, RuntimeError):
    """The exported model, reloaded in a fresh process, does not reproduce the probe outputs."""

    exit_code = 1


@dataclass(frozen=True)
class ExportResult:
    """Where an export went and how it was verified."""

    path: Path
    manifest_path: Path
    manifest: dict[str, Any]

    def lines(self) -> list[str]:
        """What ``search export`` prints: the trial, where it went, how it was verified, the MLflow model."""
        m, v = self.manifest, self.manifest["verification"]
        out = [
            f"exported trial {m['trial']} of {m['study']} ({m['objective']}={m['value']}) as {m['format']}: "
            f"{self.path}",
            f"weights from {m['weights']['source']} ({m['weights']['location']}); verified in a fresh process: "
            f"max abs diff {v['max_abs_diff']:.3g} on {v['probe_rows']} rows (atol {v['atol']:g}, rtol {v['rtol']:g})",
        ]
        if "mlflow" in m:
            out.append(f"mlflow model {m['mlflow']['model_uri']} on run {m['mlflow']['run_id']}")
            if "registered" in m["mlflow"]:
                r = m["mlflow"]["registered"]
                out.append(f"registered {r['name']} version {r['version']} ({r['uri']})")
        return [*out, f"manifest {self.manifest_path}"]


def check_options(fmt: str, register: str | None) -> None:
    """Checks ``--format`` and ``--register`` (one line naming the value and what is accepted)."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown format {fmt!r}; accepted: {', '.join(FORMATS)}.")
    if register is not None:
        if fmt != "mlflow":
            raise UsageError(f"--register {register!r} needs --format mlflow (got --format {fmt}).")
        if not register.strip() or any(c in register for c in "/:"):
            raise UsageError(f"Invalid --register name {register!r}; a registered model name is not empty "
                             "and has no '/' or ':'.")


def export(
    study: str,
    out: str,
    fmt: str = "keras",
    trial: int | None = None,
    register: str | None = None,
    *,
    home: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    notify: Callable[[str], None] = to_stderr,
) -> ExportResult:
    """Exports a trial of ``study`` to ``out`` and verifies it in a fresh process.

    Bad input (format, output path, study, trial) is refused before any work. The
    model is written beside ``out``, reloaded in a new Python process that imports only
    ``search``, and its outputs on the trial's probe batch compared with the recorded
    ones; only then is it moved to ``out`` and its manifest written.

    Raises:
        UsageError, StudyNotFoundError, NoCompletedTrialsError: bad input (exit 2).
        ExportVerificationError: the reloaded model does not match (exit 1); nothing is
            left at ``out`` and a logged MLflow model is deleted again.
    """
    check_options(fmt, register)
    out_path = check_out(out, fmt)
    loc = storage_mod.resolve(home, storage, tracking_uri)
    the_study = open_study(study, loc)
    t = select_trial(the_study, trial, notify)
    info = trial_info(the_study, t)
    if fmt == "mlflow" and not info.mlflow_run_id:
        raise UsageError(f"Trial {info.number} of study {study!r} has no MLflow run; --format mlflow logs on it.")

    from search.export.weights import find_weights

    space = load_space(info.space_path)
    if the_study.user_attrs.get(keys.STUDY_SPACE_SHA256) not in (None, space.source_hash):
        notify(f"warning: space file {info.space_path} changed since study {study!r} was created.")
    store = ModelStore(loc.tracking_uri)
    weights = find_weights(space, info, loc.kt_dir, store, notify)
    return _write(fmt, out_path, register, info, weights, store)


def _write(fmt: str, out_path: Path, register: str | None, info: TrialInfo, weights: Weights,
           store: ModelStore) -> ExportResult:
    """Writes, verifies and (``register``) registers the export; nothing is left behind on failure."""
    logged: dict[str, Any] = {}
    with Staging(out_path, fmt) as stage:
        try:
            verification = _write_and_verify(fmt, weights, info, stage, store, logged)
            if register:
                version = store.register(logged["model_id"], info.mlflow_run_id, register, ALIAS)
                logged["registered"] = {"name": register, "version": version, "alias": ALIAS,
                                        "uri": f"models:/{register}@{ALIAS}"}
            manifest = _manifest(info, fmt, out_path, weights, verification, logged)
            manifest_path = stage.commit(manifest)
        except BaseException:
            if logged:  # no half-exported model in MLflow either
                store.delete_model(logged["model_id"])
            raise
    if logged:
        store.log_model_file(logged["model_id"], str(manifest_path))
    return ExportResult(out_path, manifest_path, manifest)


def _write_and_verify(fmt: str, weights: Weights, info: TrialInfo, stage: Staging, store: ModelStore,
                      logged: dict) -> dict:
    """Writes the format at ``stage.path`` and reloads it in a fresh process; raises if it differs."""
    if fmt == "keras":
        write_keras(weights.model, stage.path)
    elif fmt == "savedmodel":
        write_savedmodel(weights.model, stage.path)
    else:
        tags = {keys.TAG_STUDY: info.study, keys.TAG_OPTUNA_NUMBER: str(info.number)}
        model_id, uri = write_mlflow(weights.model, weights.probe, stage.path, stage.work, store,
                                     info.mlflow_run_id, tags)
        logged.update(model_id=model_id, model_uri=uri, run_id=info.mlflow_run_id)
    probe_file = stage.work / "probe.npz"
    weights.probe.save(probe_file)
    result = verify_in_fresh_process([Job("export", fmt, str(stage.path), str(probe_file))])["export"]
    if not result.passed:
        raise ExportVerificationError(
            f"Export of trial {info.number} failed verification in a fresh process: {result.reason}; "
            f"nothing was written to {stage.out}."
        )
    return {
        "passed": True, "max_abs_diff": result.max_abs_diff, "rtol": RTOL, "atol": ATOL,
        "probe_rows": int(weights.probe.inputs[0].shape[0]), "probe_recorded_with_trial": weights.probe_recorded,
        "fresh_process_loader": LOADERS[fmt],
    }


def _manifest(info: TrialInfo, fmt: str, out: Path, weights: Weights, verification: dict, logged: dict) -> dict:
    value = info.value if info.value is None or math.isfinite(info.value) else str(info.value)
    return {
        "study": info.study, "trial": info.number, "state": info.state, "kt_trial_id": info.kt_trial_id,
        "mlflow_run_id": info.mlflow_run_id, "params": info.values, "objective": info.objective,
        "direction": info.direction, "value": value, "format": fmt, "path": str(out),
        "weights": {"source": weights.source, "location": weights.location,
                    "sha256": weights.probe.weights_sha256 or None},
        "verification": verification,
        "versions": versions(),
        **({"mlflow": logged} if logged else {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
