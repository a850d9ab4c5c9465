"""The MLflow client of a tracking URI, and the entities every write is made of.

Every call to MLflow goes through :class:`mlflow.MlflowClient` (no fluent global state).
On a database store MLflow creates its tables on first use, so two processes opening a new
store at once would race in ``CREATE TABLE`` and its migrations: on the databases
:func:`search.storage.schema_lock` locks, the store is opened here under that lock.
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Any

from search.errors import StorageError
from search.storage import mask_password, schema_lock, sqlite_fast

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, Run

# What MLflow accepts in one param value and one tag value.
MAX_PARAM_CHARS = 6000
MAX_TAG_CHARS = 5000


def check_tracking(uri: str) -> None:
    """Fails fast, with one line, when an MLflow tracking server cannot be reached."""
    import urllib.request

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
            response.read()
    except Exception as e:  # noqa: BLE001 - any failure means unreachable
        reason = getattr(e, "reason", e)
        raise StorageError(
            f"Cannot reach the MLflow tracking server {mask_password(uri)}: {reason}; "
            "start it (see README, 'Workers and machines') or pass another --tracking-uri."
        ) from None


def client(tracking_uri: str, registry: bool = False) -> MlflowClient:
    """An ``MlflowClient`` on ``tracking_uri`` (and its model registry with ``registry``), its
    store created one process at a time; a local SQLite store is put in WAL mode first."""
    from mlflow import MlflowClient

    kwargs = {"registry_uri": tracking_uri} if registry else {}
    if not tracking_uri.startswith(("sqlite:///", "postgresql")):
        return MlflowClient(tracking_uri=tracking_uri, **kwargs)
    if tracking_uri.startswith("sqlite:///"):
        # WAL: several local workers write here; before MLflow opens its first connection
        sqlite_fast(tracking_uri.removeprefix("sqlite:///"))
    with schema_lock(tracking_uri):
        opened = MlflowClient(tracking_uri=tracking_uri, **kwargs)  # opens the store
        opened.search_experiments(max_results=1)  # and its tables exist, whatever MLflow opens lazily
    return opened


def mlflow_runs(tracking_uri: str, study_name: str) -> list[Run]:
    """All runs of a study's experiment (parent and trials)."""
    opened = client(tracking_uri)
    experiment = opened.get_experiment_by_name(study_name)
    if experiment is None:
        return []
    return opened.search_runs([experiment.experiment_id], max_results=50000)


def now_ms() -> int:
    return int(time.time() * 1000)


def finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def as_params(values: dict[str, Any], mask: bool = True) -> list[Param]:
    """MLflow params, sorted by name, passwords in URLs masked, values cut to MLflow's limit."""
    from mlflow.entities import Param

    return [Param(k, (mask_password(str(v)) if mask else str(v))[:MAX_PARAM_CHARS]) for k, v in sorted(values.items())]


def as_metrics(values: dict[str, Any], timestamp: int, step: int = 0, *, keep_nonfinite: bool = False) -> list[Metric]:
    """MLflow metrics at ``step``; non-finite values are dropped unless ``keep_nonfinite``."""
    from mlflow.entities import Metric

    return [Metric(k, float(v), timestamp, step) for k, v in values.items() if keep_nonfinite or finite(v)]
