"""What ``search export`` reads from and writes to MLflow: trial artifacts, logged models, the registry."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from search.records import keys
from search.tracking.client import MAX_PARAM_CHARS, client

if TYPE_CHECKING:
    from mlflow.models import Model


class ModelStore:
    """What ``search export`` reads from and writes to MLflow: trial artifacts, models, the registry.

    Args:
        tracking_uri: MLflow tracking URI; the model registry lives in the same store.
    """

    def __init__(self, tracking_uri: str) -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars on the CLI's stderr
        self.tracking_uri = tracking_uri
        self.client = client(tracking_uri, registry=True)

    def download_artifacts(self, run_id: str, path: str, dst: str) -> str | None:
        """Downloads artifact folder ``path`` of run ``run_id`` into ``dst``; None when absent."""
        from mlflow.exceptions import MlflowException

        try:
            if not self.client.list_artifacts(run_id, path):
                return None
            return self.client.download_artifacts(run_id, path, dst)
        except (MlflowException, OSError):
            return None

    def parent_params(self, run_id: str) -> dict[str, str]:
        """Params of the parent (study) run of trial run ``run_id`` ({} when there is none)."""
        from mlflow.exceptions import MlflowException

        try:
            parent = self.client.get_run(run_id).data.tags.get(keys.TAG_PARENT_RUN)
            return dict(self.client.get_run(parent).data.params) if parent else {}
        except MlflowException:
            return {}

    def log_pyfunc(self, run_id: str, name: str, save: Callable[[str, Model], None],
                   tags: dict[str, str] | None = None) -> tuple[str, str]:
        """Logs an MLflow model on run ``run_id`` (a ``LoggedModel`` of the run's experiment).

        ``save(path, mlflow_model)`` writes the model folder (``mlflow.pyfunc.save_model``).
        The run keeps its status: MLflow's ``log_model`` would need the run active again.

        Returns:
            ``(model_id, model_uri)``.
        """
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model

        run = self.client.get_run(run_id)
        logged = self.client.create_logged_model(
            run.info.experiment_id, name=name, source_run_id=run_id, tags=tags,
            params={k: v[:MAX_PARAM_CHARS] for k, v in run.data.params.items()}, model_type="keras",
        )
        try:
            with tempfile.TemporaryDirectory(prefix="search-model-") as tmp:
                local = str(Path(tmp) / "model")
                save(local, Model(artifact_path=logged.artifact_location, run_id=run_id,
                                  model_uuid=logged.model_id, model_id=logged.model_id))
                self.client.log_model_artifacts(logged.model_id, local)
            self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
            self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        except BaseException:
            self.delete_model(logged.model_id)
            raise
        return logged.model_id, f"models:/{logged.model_id}"

    def download_model(self, model_id: str, dst: str) -> str:
        """Downloads logged model ``model_id``'s folder into ``dst``."""
        import mlflow.artifacts

        location = self.client.get_logged_model(model_id).artifact_location
        return mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=dst)

    def log_model_file(self, model_id: str, local_path: str) -> None:
        """Adds a file to a logged model's folder (the export manifest)."""
        self.client.log_model_artifact(model_id, local_path)

    def delete_model(self, model_id: str) -> None:
        """Deletes a logged model (an export that failed verification)."""
        from mlflow.entities import LoggedModelStatus
        from mlflow.exceptions import MlflowException

        try:
            self.client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
            self.client.delete_logged_model(model_id)
        except MlflowException:
            pass

    def register(self, model_id: str, run_id: str, name: str, alias: str) -> str:
        """Registers logged model ``model_id`` as a new version of ``name`` and points ``alias`` at it.

        Returns:
            The version number.
        """
        from mlflow.exceptions import MlflowException

        import mlflow

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)
        # The SQL registry resolves a models:/ source with a client on the *global* tracking URI
        # (a TODO in mlflow/store/model_registry/sqlalchemy_store.py); point it here meanwhile.
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            version = self.client.create_model_version(name, f"models:/{model_id}", run_id=run_id, model_id=model_id)
        finally:
            mlflow.set_tracking_uri(previous)
        self.client.set_registered_model_alias(name, alias, version.version)
        return str(version.version)
