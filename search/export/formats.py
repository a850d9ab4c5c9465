"""Writing each export format, staged beside ``--out`` and moved into place only when verified.

| format | ``--out`` | manifest |
|---|---|---|
| ``keras`` | a ``.keras`` file (``model.save``) | ``<out>.manifest.json`` beside it |
| ``savedmodel`` | a TensorFlow SavedModel folder (``model.export``, signature ``serving_default``) | ``<out>/manifest.json`` |
| ``mlflow`` | the MLflow model folder (pyfunc), also logged on the trial's run | ``<out>/manifest.json`` |
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.errors import UsageError

if TYPE_CHECKING:
    import keras

    from search.export.probe import Probe
    from search.tracking.models import ModelStore

FORMATS = ("keras", "savedmodel", "mlflow")
MANIFEST = "manifest.json"
MODEL_NAME = "model"  # the MLflow LoggedModel's name


def check_out(out: str, fmt: str) -> Path:
    """Checks ``--out`` before any work: the right shape for the format and a writable folder."""
    path = Path(out).expanduser().absolute()
    if fmt == "keras" and path.suffix != ".keras":
        raise UsageError(f"--out {out!r} must end with .keras for --format keras.")
    # A file is replaced by a .keras export; a folder only if it holds a previous export.
    replaceable = path.is_file() if fmt == "keras" else (path / MANIFEST).is_file()
    if path.exists() and not replaceable:
        what = "a folder" if path.is_dir() else "a file"
        raise UsageError(f"Cannot write --out {out!r}: it is {what} that is not a previous export; "
                         "choose another path.")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"Cannot write --out {out!r}: {str(ancestor)!r} is not a folder.")
    try:  # os.access says yes to root on a read-only mount; try a real file
        fd, probe = tempfile.mkstemp(dir=ancestor, prefix=".search-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"Cannot write --out {out!r}: folder {str(ancestor)!r} is not writable "
                         f"({e.strerror}).") from None
    return path


class Staging:
    """A temporary path beside ``out`` (same file system); ``commit`` moves it into place.

    Nothing appears at ``out`` unless ``commit`` runs; ``discard`` (or leaving the
    ``with`` block without committing) removes everything that was written.
    """

    def __init__(self, out: Path, fmt: str) -> None:
        self.out, self.fmt = out, fmt
        out.parent.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:8]
        self.path = out.with_name(f".{out.name}.export-{tag}{'.keras' if fmt == 'keras' else ''}")
        self.work = Path(tempfile.mkdtemp(prefix=f".{out.name}.work-{tag}-", dir=out.parent))

    def manifest_path(self) -> Path:
        return self.out.with_name(f"{self.out.name}.manifest.json") if self.fmt == "keras" else self.out / MANIFEST

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Moves the verified model into place, then writes its manifest."""
        text = json.dumps(manifest, indent=2, default=str) + "\n"
        if self.fmt == "keras":
            os.replace(self.path, self.out)
            tmp = self.work / MANIFEST
            tmp.write_text(text)
            os.replace(tmp, self.manifest_path())
        else:
            (self.path / MANIFEST).write_text(text)
            old = None
            if self.out.exists():  # a previous export (checked by check_out)
                old = self.out.with_name(f".{self.out.name}.old-{uuid.uuid4().hex[:8]}")
                os.replace(self.out, old)
            os.replace(self.path, self.out)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return self.manifest_path()

    def discard(self) -> None:
        for p in (self.path, self.work):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists():
                p.unlink()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.discard()


def write_keras(model: keras.Model, path: Path) -> None:
    model.save(str(path))


def write_savedmodel(model: keras.Model, path: Path) -> None:
    """A TensorFlow SavedModel with the ``serve`` endpoint as ``serving_default``."""
    model.export(str(path), format="tf_saved_model", verbose=False)


def write_mlflow(model: keras.Model, probe: Probe, path: Path, work: Path, store: ModelStore, run_id: str,
                 tags: dict[str, str]) -> tuple[str, str]:
    """Logs the model as an MLflow pyfunc on run ``run_id`` and downloads it to ``path``.

    Returns:
        ``(model_id, model_uri)`` of the logged model.
    """
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    import search
    from search.export.pyfunc import KERAS_ARTIFACT

    keras_file = work / "model.keras"
    model.save(str(keras_file))
    outputs = probe.outputs
    signature = infer_signature(probe.named_inputs(),
                                outputs[0] if len(outputs) == 1 else {f"output_{j}": o for j, o in enumerate(outputs)})
    named = probe.named_inputs()
    example = {n: x[:2] for n, x in named.items()} if isinstance(named, dict) else named[:2]

    def save(local: str, mlflow_model: Any) -> None:
        mlflow.pyfunc.save_model(
            local, python_model=str(Path(__file__).with_name("served_model.py")),
            artifacts={KERAS_ARTIFACT: str(keras_file)}, code_paths=[str(Path(search.__file__).parent)],
            signature=signature, input_example=example, pip_requirements=_requirements(),
            mlflow_model=mlflow_model,
        )

    model_id, uri = store.log_pyfunc(run_id, MODEL_NAME, save, tags=tags)
    try:
        downloaded = Path(store.download_model(model_id, str(work / "download")))
        os.replace(downloaded, path)
    except BaseException:
        store.delete_model(model_id)
        raise
    return model_id, uri


def _requirements() -> list[str]:
    """Pinned requirements of the served model (given, so MLflow does not infer them in a subprocess)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in ("mlflow", "tensorflow", "keras", "numpy", "cloudpickle"):
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pass
    return pins


def versions() -> dict[str, str]:
    """Versions recorded in the manifest."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("search", "tensorflow", "keras", "keras-tuner", "mlflow", "optuna", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
