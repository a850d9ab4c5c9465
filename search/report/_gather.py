"""The report's facts: what a study's Optuna storage and MLflow experiment hold, read into plain data."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.errors import NoCompletedTrialsError, UsageError
from search.records import keys
from search.records.confirmed import CONFIRMED_KEYS
from search.records.confirmed import figures as confirmed_figures
from search.records.failures import FailureGroup, group_failures
from search.records.pareto import describe_objectives, front, values_text
from search.records.table import best, trials_records
from search.storage import mask_password

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from optuna.trial import FrozenTrial

TOP_CURVES = 5  # the learning curves drawn: the best trials' ones
# The study's stored settings, as shown: (label, Optuna user attribute of the study).
SETTINGS = (
    ("space", keys.STUDY_SPACE), ("space file", keys.STUDY_SPACE_PATH), ("objective", keys.STUDY_OBJECTIVE),
    ("direction", keys.STUDY_DIRECTION), ("sampler", keys.STUDY_SAMPLER), ("pruner", keys.STUDY_PRUNER),
    ("epochs", keys.STUDY_EPOCHS), ("seed", keys.STUDY_SEED), ("budget (trials)", keys.STUDY_MAX_TRIALS),
    ("target", keys.STUDY_TARGET), ("settings", keys.STUDY_SETTINGS), ("fixed values", keys.STUDY_FIXED),
    ("warm start", keys.STUDY_WARM_START),
)
PLOTS_FOLDER = "plots"  # where the parent run keeps the study plots
_PROLOG = re.compile(r"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!DOCTYPE[^>]*>\s*)?")


@dataclass(frozen=True)
class Curve:
    """One trial's objective per epoch (Optuna's intermediate values; epoch = step + 1)."""

    trial: int
    value: float
    epochs: list[int]
    values: list[float]


@dataclass(frozen=True)
class Finding:
    """What the trial doctor recorded on one trial: gradient problems and training events."""

    trial: int
    state: str
    text: str


@dataclass(frozen=True)
class BaselineFigure:
    """One ``search baseline`` row: a baseline's metrics under one protocol (holdout, k-fold CV)."""

    name: str
    protocol: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class Confirmed:
    """A trial's confirmed figures (``CONFIRMED_KEYS``, :mod:`search.records.confirmed`)."""

    trial: int
    figures: dict[str, Any]


@dataclass
class Tracked:
    """What the study's MLflow experiment holds (empty when the tracking store has no such experiment)."""

    experiment_id: str | None = None
    parent_run_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    plots: dict[str, str] = field(default_factory=dict)  # plot name -> SVG text
    plot_notes: dict[str, str] = field(default_factory=dict)  # plot name -> why it was not drawn
    baselines: list[BaselineFigure] = field(default_factory=list)


@dataclass
class ReportData:
    """Everything ``search report`` shows, read from the stores."""

    study: str
    objective: str
    settings: dict[str, Any]
    best: dict[str, Any] | None  # as ``search best`` shows it; None when no trial completed
    no_best: str | None  # why there is no best trial
    curves: list[Curve]
    failures: list[FailureGroup]
    findings: list[Finding]
    audits: dict[str, int]  # gradient audit outcome -> trials
    confirmed: list[Confirmed]
    tracking_uri: str  # password masked
    tracked: Tracked


def gather(study: optuna.Study, tracking_uri: str, top: int = TOP_CURVES) -> ReportData:
    """Reads the report of ``study`` from its Optuna storage and the MLflow store at ``tracking_uri``."""
    attrs = study.user_attrs
    trials = study.get_trials(deepcopy=False)
    try:
        best_row, no_best = best(study), None
    except NoCompletedTrialsError as e:
        best_row, no_best = None, str(e)
    except UsageError:  # several objectives: the front instead of one best trial
        objectives = keys.study_objectives(study)
        on_front = front(trials, objectives)
        best_row, no_best = None, (f"several objectives ({describe_objectives(objectives)}): the Pareto front of "
                                   f"{len(on_front)} trials: " + "; ".join(
                                       f"trial {t.number} ({values_text(objectives, t.values)})" for t in on_front))
    return ReportData(
        study=study.study_name, objective=str(attrs.get(keys.STUDY_OBJECTIVE, "objective")),
        settings={label: attrs[key] for label, key in SETTINGS if key in attrs},
        best=best_row, no_best=no_best, curves=curves(study, trials, top), failures=group_failures(study),
        findings=findings(study), audits=dict(Counter(str(t.user_attrs[keys.GRADIENT_AUDIT]) for t in trials
                                                      if keys.GRADIENT_AUDIT in t.user_attrs)),
        confirmed=confirmed(study), tracking_uri=mask_password(tracking_uri),
        tracked=tracked(tracking_uri, study.study_name),
    )


def curves(study: optuna.Study, trials: list[FrozenTrial], top: int) -> list[Curve]:
    """The learning curves of the ``top`` best completed trials that reported epochs, best first."""
    done = [t for t in trials if t.state.name == "COMPLETE" and t.values is not None and len(t.values) == 1
            and math.isfinite(t.value) and t.intermediate_values]
    done.sort(key=lambda t: t.value, reverse=study.directions[0].name == "MAXIMIZE")
    return [Curve(t.number, t.value, [step + 1 for step in sorted(t.intermediate_values)],
                  [t.intermediate_values[step] for step in sorted(t.intermediate_values)]) for t in done[:top]]


def findings(study: optuna.Study) -> list[Finding]:
    """The doctor's findings per trial, as ``search trials`` words them (``no gradient: layer/weight``)."""
    found = []
    for row in trials_records(study):
        text = "; ".join(part for part in (row["gradients"], row["events"] and f"events: {row['events']}") if part)
        if text:
            found.append(Finding(row["number"], row["state"], text))
    return found


def confirmed(study: optuna.Study) -> list[Confirmed]:
    """The trials `search confirm` measured again (mean, interval, chance of being the best), by number."""
    return [Confirmed(number, figures) for number, figures in sorted(confirmed_figures(study).items())]


def tracked(tracking_uri: str, study_name: str) -> Tracked:
    """The study's experiment: its latest ``search run`` parent run (params, plots) and its baselines."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).exists():
        return Tracked()  # no store there: reading creates none
    from search.tracking.client import check_tracking, client

    check_tracking(tracking_uri)
    opened = client(tracking_uri)
    experiment = opened.get_experiment_by_name(study_name)
    if experiment is None:
        return Tracked()
    found = Tracked(experiment.experiment_id, baselines=baselines(_runs(opened, experiment.experiment_id,
                                                                         keys.ROLE_BASELINE, 1000)))
    for parent in _runs(opened, experiment.experiment_id, keys.ROLE_STUDY, 1):
        found.parent_run_id, found.params = parent.info.run_id, dict(parent.data.params)
        found.plots = plots(opened, parent.info.run_id)
        found.plot_notes = json.loads(parent.data.tags.get(keys.TAG_PLOT_NOTES) or "{}")
    return found


def _runs(opened: MlflowClient, experiment_id: str, role: str, most: int) -> list[Run]:
    """The experiment's runs tagged ``role``, latest first."""
    return opened.search_runs([experiment_id], filter_string=f"tags.`{keys.TAG_ROLE}` = '{role}'",
                              order_by=["attributes.start_time DESC"], max_results=most)


def plots(opened: MlflowClient, run_id: str) -> dict[str, str]:
    """The SVG study plots of parent run ``run_id`` by name, their XML prolog removed ({} when none)."""
    from mlflow.exceptions import MlflowException

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars on the CLI's stderr
    try:
        if not opened.list_artifacts(run_id, PLOTS_FOLDER):
            return {}
        with tempfile.TemporaryDirectory(prefix="search-report-") as folder:
            local = Path(opened.download_artifacts(run_id, PLOTS_FOLDER, folder))
            return {p.stem: _PROLOG.sub("", p.read_text(encoding="utf-8")) for p in sorted(local.glob("*.svg"))}
    except (MlflowException, OSError):
        return {}


def baselines(runs: list[Run]) -> list[BaselineFigure]:
    """One figure per baseline and protocol, from its latest run (``runs`` latest first); the
    per-fold series and the ``best_`` copy of the objective left out."""
    latest: dict[tuple[str, str], BaselineFigure] = {}
    for run in runs:
        tags = run.data.tags
        if keys.TAG_BASELINE not in tags:
            continue  # the parent run `search baseline` starts for a study without one
        key = (tags[keys.TAG_BASELINE], tags.get(keys.TAG_PROTOCOL, ""))
        metrics = {k: v for k, v in sorted(run.data.metrics.items()) if not k.endswith("_fold")
                   and not k.startswith("best_")}
        latest.setdefault(key, BaselineFigure(*key, metrics))
    return sorted(latest.values(), key=lambda b: (b.protocol, b.name))
