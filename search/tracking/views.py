"""The study's trials view in the MLflow UI: a saved view state and the link that opens it.

MLflow 3's UI opens an experiment on the view named by ``viewStateShareKey`` in its URL,
read from the experiment tag ``mlflow.sharedViewState.<key>`` (a JSON object of the runs
table's state: sort, filter, columns). Its plain query keys (``orderByKey``,
``searchFilter``) sort and filter too, but cannot choose columns, so a study's link would
open without its objective shown; and the UI ignores a saved view when the URL also holds
them. The link therefore names only the view and the model-training workflow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from search.records import keys
from search.storage import mask_password

if TYPE_CHECKING:
    from mlflow import MlflowClient

VIEW_KEY = "search-trials"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"  # MLflow UI's own prefix
UI_ADDRESS = "http://127.0.0.1:5000"  # where `search ui` serves by default


def _column(kind: str, name: str) -> str:
    return f"{kind}.`{name}`"  # the UI's column key, as in its own saved state


def view_state(objective: str, direction: str, params: list[str]) -> dict[str, Any]:
    """The runs table of the study's trial runs: sorted by ``objective`` best first, the
    objective and every hyperparameter in ``params`` as columns."""
    return {
        "orderByKey": _column("metrics", objective),
        "orderByAsc": not direction.startswith("max"),
        "searchFilter": _role(keys.ROLE_TRIAL),
        "selectedColumns": [_column("attributes", "Duration"), _column("metrics", objective),
                            *(_column("params", p) for p in params)],
    }


def save_view(client: MlflowClient, experiment_id: str, objective: str, direction: str,
              params: list[str]) -> None:
    """Stores the trials view on the study's experiment (written again as trials add params)."""
    state = json.dumps(view_state(objective, direction, params), separators=(",", ":"))
    client.set_experiment_tag(experiment_id, VIEW_TAG, state)


def trials_link(experiment_id: str, tracking_uri: str) -> str:
    """The address of the study's trials in the UI: on the tracking server itself when the
    tracking URI is one, else on ``search ui``'s default address."""
    base = tracking_uri if tracking_uri.startswith(("http://", "https://")) else UI_ADDRESS
    query = urlencode({"workflowType": "machine_learning", "viewStateShareKey": VIEW_KEY})
    return f"{mask_password(base).rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def with_base(link: str, base: str) -> str:
    """``link`` on another UI address (``search ui --host/--port``)."""
    return base.rstrip("/") + link[link.index("/#/"):]


def study_links(client: MlflowClient, tracking_uri: str) -> dict[str, str]:
    """``{study: link}`` for every study in the tracking store, its view stored (again) from
    its latest ``search run`` and its trial runs' params."""
    from mlflow.entities import ViewType

    links = {}
    for experiment in client.search_experiments(view_type=ViewType.ACTIVE_ONLY):
        parents = client.search_runs([experiment.experiment_id], _role(keys.ROLE_STUDY), max_results=1,
                                     order_by=["attributes.start_time DESC"])
        if not parents:
            continue  # not a study: the Default experiment, a comparison
        settings = parents[0].data.params
        trials = client.search_runs([experiment.experiment_id], _role(keys.ROLE_TRIAL), max_results=1000)
        params = list(dict.fromkeys(name for run in trials for name in sorted(run.data.params)))
        save_view(client, experiment.experiment_id, settings.get(keys.STUDY_OBJECTIVE, "val_loss"),
                  settings.get(keys.STUDY_DIRECTION, "min"), params)
        links[experiment.name] = trials_link(experiment.experiment_id, tracking_uri)
    return dict(sorted(links.items()))


def _role(role: str) -> str:
    return f"tags.`{keys.TAG_ROLE}` = '{role}'"
