"""``search baseline SPACE``: the references a study is compared with, on the space's own split.

A space offers baselines with an optional function ``baselines(seed, **kwargs)`` that
returns a list of :class:`search.space.Baseline`; it receives, by name, the space settings it
accepts and ``epochs`` (the epochs a trial trains), and computes every baseline on the
same data its ``load_data`` returns for those settings (sharing the splitting code, not
copying it). A space whose ``SETTINGS`` has a ``fold`` setting supports
cross-validation: ``--cv`` calls ``baselines`` once per fold value and reports each
metric's mean and standard deviation (``numpy.std``, ddof 0) over the folds.

``--trial N`` (or ``best``) adds a trial of the study: without ``--cv`` its value as the
study measured it; with ``--cv`` its configuration retrained on every fold with the
seed it had in the study (``seed + number``) for the study's epochs, scored after the
last epoch (no epoch is chosen on the validation fold).

Results are logged to the study's MLflow experiment, next to its trials: one child run
per row (tag ``search.role=baseline``, run name ``baseline-NAME`` or
``baseline-NAME-cv5``) under the study's latest ``search run`` parent run, or under a
new parent run tagged ``search.role=baseline`` when the study has none; that parent
also gets ``baseline.NAME.METRIC`` metrics (``baseline.NAME.cv_METRIC`` and
``..._std`` with ``--cv``).
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from search import storage as storage_mod
from search.errors import StudyNotFoundError, UsageError
from search.records import keys
from search.records.studies import open_study
from search.records.table import best_trial
from search.space.baselines import Baseline, train
from search.space.data import load_data
from search.space.loader import Space, load_space
from search.space.sets import resolve_sets
from search.tracking.tracker import Tracker

if TYPE_CHECKING:
    import optuna
    from mlflow.entities import Run
    from optuna.trial import FrozenTrial

    from search.storage import Location

FOLD_SETTING = "fold"


@dataclass(frozen=True)
class BaselineRow:
    """A reported row: one baseline (or trial) under one protocol."""

    name: str
    protocol: str  # "holdout", "holdout fold 0", "study", "5-fold CV"
    metrics: dict[str, float]  # the mean over folds with --cv
    std: dict[str, float] = field(default_factory=dict)
    folds: dict[str, list[float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BaselineConfig:
    """The options of one ``search baseline``."""

    space: str
    study: str | None = None
    sets: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    cv: bool = False
    trial: str | None = None  # a trial number or "best"
    epochs: int | None = None
    home: str | None = None
    storage: str | None = None
    tracking_uri: str | None = None

    def __post_init__(self) -> None:
        if self.trial is not None and self.trial != "best" and not str(self.trial).isdigit():
            raise UsageError(f"Invalid --trial {self.trial!r}; accepted: a trial number or 'best'.")
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise UsageError(f"--epochs must be a positive integer, got {self.epochs!r}.")


@dataclass(frozen=True)
class BaselineReport:
    """What ``search baseline`` computed and where it logged it."""

    study: str
    space: str
    objective: str
    direction: str
    settings: dict[str, Any]
    seed: int
    rows: list[BaselineRow]
    parent_run_id: str
    tracking_uri: str


def _accepted(fn: Callable, kwargs: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def _study_or_none(name: str, loc: Location) -> optuna.Study | None:
    try:
        return open_study(name, loc)
    except StudyNotFoundError:
        return None


def _settings(space: Space, config: BaselineConfig, study: optuna.Study | None) -> dict[str, Any]:
    unknown = [k for k in config.sets if k not in space.settings]
    if unknown:
        accepted = ", ".join(space.settings) or "none"
        raise UsageError(f"Invalid --set {unknown[0]}: baselines take space settings only; accepted: {accepted}.")
    settings, _ = resolve_sets(space, config.sets)
    stored = (study.user_attrs.get(keys.STUDY_SETTINGS) if study is not None else None) or {}
    for key, value in stored.items():
        if key in config.sets and settings.get(key) != value:
            raise UsageError(
                f"Invalid --set {key}={config.sets[key]}: study {study.study_name!r} was run with {key}={value}; "
                "baselines use the study's settings (use another --study name for others)."
            )
        if key in settings:
            settings[key] = value
    return settings


def _study_seed(study: optuna.Study | None, parent: Run | None) -> int:
    """The seed the study ran with (its user attribute, else its latest parent run's param), else 0."""
    if study is not None and study.user_attrs.get(keys.STUDY_SEED) is not None:
        return int(study.user_attrs[keys.STUDY_SEED])
    return int(parent.data.params.get(keys.STUDY_SEED, 0)) if parent is not None else 0


def _trial(study: optuna.Study, which: str) -> FrozenTrial:
    from optuna.trial import TrialState

    if which == "best":
        return best_trial(study)
    numbers = {t.number: t for t in study.get_trials(deepcopy=False)}
    trial = numbers.get(int(which))
    if trial is None or trial.state is not TrialState.COMPLETE:
        done = [n for n, t in numbers.items() if t.state is TrialState.COMPLETE]
        raise UsageError(f"Invalid --trial {which}: no completed trial {which} in study {study.study_name!r}; "
                         f"completed: {', '.join(map(str, done)) or 'none'}.")
    return trial


def _aggregate(name: str, protocol: str, per_fold: list[Baseline]) -> BaselineRow:
    keys = [k for k in per_fold[0].metrics if all(k in b.metrics for b in per_fold)]
    folds = {k: [float(b.metrics[k]) for b in per_fold] for k in keys}
    if len(per_fold) == 1:
        return BaselineRow(name, protocol, {k: v[0] for k, v in folds.items()}, params=per_fold[0].params)
    params = {k: [b.params.get(k) for b in per_fold] for k in per_fold[0].params}
    return BaselineRow(
        name, protocol, {k: float(np.mean(v)) for k, v in folds.items()},
        std={k: float(np.std(v)) for k, v in folds.items()}, folds=folds, params=params,
    )


def _space_rows(space: Space, seed: int, epochs: int, fold_settings: list[dict], protocol: str) -> list[BaselineRow]:
    fn = getattr(space.module, "baselines", None)
    if fn is None:
        return []
    per_name: dict[str, list[Baseline]] = {}
    for settings in fold_settings:
        for result in fn(seed, **_accepted(fn, {**settings, "epochs": epochs})):
            per_name.setdefault(result.name, []).append(result)
    return [_aggregate(name, protocol, results) for name, results in per_name.items()]


def _trial_row(space: Space, trial: FrozenTrial, seed: int, epochs: int, fold_settings: list[dict],
               cv: bool) -> BaselineRow:
    name = f"trial-{trial.number:04d}"
    values = keys.values_of(trial)
    if not cv:
        return BaselineRow(name, "study", {space.objective: float(trial.value)}, params=values)
    hypermodel = space.hypermodel()
    per_fold = []
    for settings in fold_settings:
        data = load_data(space, seed, settings)
        fold_values = {**values, **settings}
        model = train(hypermodel.build, hypermodel.fit, fold_values,
                      ((data.x, data.y), (data.x_val, data.y_val)), epochs, seed + trial.number)
        last = {k: float(v[-1]) for k, v in model.history.history.items() if k.startswith("val_")}
        per_fold.append(Baseline(name, last, params=fold_values))
    return _aggregate(name, f"{len(fold_settings)}-fold CV", per_fold)


def run_baselines(config: BaselineConfig) -> BaselineReport:
    """Computes the space's baselines (and a study trial) on the space's own split; logs them to MLflow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    space = load_space(config.space)
    name = config.study or space.name
    loc = storage_mod.resolve(config.home, config.storage, config.tracking_uri)
    study = _study_or_none(name, loc)
    if config.trial is not None and study is None:
        raise UsageError(f"--trial {config.trial} needs study {name!r}, which does not exist; run `search run` first.")
    if config.trial is None and not callable(getattr(space.module, "baselines", None)):
        raise UsageError(f"Space {space.name!r} defines no baselines(seed, ...); pass --trial to cross-validate a trial.")
    if config.cv and FOLD_SETTING not in space.settings:
        raise UsageError(f"--cv needs a space with a {FOLD_SETTING!r} setting; space {space.name!r} has none.")
    settings = _settings(space, config, study)
    space = space.with_settings(settings)
    epochs = config.epochs or int((study.user_attrs.get(keys.STUDY_EPOCHS) if study else None) or space.epochs)
    tracker = Tracker(loc.tracking_uri, name, loc.artifact_root)
    parent = tracker.latest_parent_run()
    seed = config.seed if config.seed is not None else _study_seed(study, parent)

    if config.cv:
        fold_settings = [{**settings, FOLD_SETTING: f} for f in space.settings[FOLD_SETTING]]
        protocol = f"{len(fold_settings)}-fold CV"
    else:
        fold_settings = [settings]
        protocol = f"holdout {FOLD_SETTING} {settings[FOLD_SETTING]}" if FOLD_SETTING in settings else "holdout"
    rows = _space_rows(space, seed, epochs, fold_settings, protocol)
    if config.trial is not None:
        rows.append(_trial_row(space, _trial(study, config.trial), seed, epochs, fold_settings, config.cv))

    parent_run_id = _log(tracker, parent, space, settings, seed, epochs, rows, config.cv)
    return BaselineReport(
        study=name, space=space.name, objective=space.objective, direction=space.direction,
        settings=settings, seed=seed, rows=rows, parent_run_id=parent_run_id,
        tracking_uri=storage_mod.mask_password(loc.tracking_uri),
    )


def _log(tracker: Tracker, parent: Run | None, space: Space, settings: dict, seed: int, epochs: int,
         rows: list[BaselineRow], cv: bool) -> str:
    own = parent is None
    if own:
        params = {keys.STUDY_SPACE: space.name, keys.STUDY_SPACE_PATH: str(space.path), keys.STUDY_SEED: seed,
                  keys.STUDY_EPOCHS: epochs, keys.STUDY_OBJECTIVE: space.objective,
                  keys.STUDY_DIRECTION: space.direction, **keys.setting_params(settings)}
        parent_run_id = tracker.start_parent(params, role=keys.ROLE_BASELINE,
                                             run_name=f"{tracker.study_name}-baselines")
    else:
        parent_run_id = parent.info.run_id
    try:
        for row in rows:
            if row.protocol == "study":
                continue  # the trial's own run already holds it
            metrics = dict(row.metrics)
            metrics.update({f"{k}_std": v for k, v in row.std.items()})
            if space.objective in row.metrics:
                metrics[f"best_{space.objective}"] = row.metrics[space.objective]
            tracker.log_baseline(
                parent_run_id, row.name, metrics, folds=row.folds, protocol=row.protocol,
                params=json.dumps(row.params, default=str),
                run_name=f"baseline-{row.name}" + ("-cv5" if cv else ""),
                prefix=f"baseline.{row.name}." + ("cv_" if cv else ""),
            )
    finally:
        if own:
            tracker.end_parent("FINISHED")
    return parent_run_id


def report_dict(report: BaselineReport) -> dict[str, Any]:
    return asdict(report)


def _cell(row: BaselineRow, key: str) -> str:
    if key not in row.metrics:
        return "-"
    value = f"{row.metrics[key]:.4g}"
    return f"{value} ± {row.std[key]:.2g}" if key in row.std else value


def report_table(report: BaselineReport) -> str:
    """The rows as a text table: the objective first, then every other metric; mean ± std with --cv."""
    import pandas as pd

    keys = [report.objective]
    for row in report.rows:
        keys += [k for k in row.metrics if k not in keys]
    frame = pd.DataFrame(
        [{"name": r.name, "protocol": r.protocol, **{k: _cell(r, k) for k in keys}} for r in report.rows],
        columns=["name", "protocol", *keys],
    )
    settings = ", ".join(f"{k}={v}" for k, v in report.settings.items())
    head = f"space {report.space} ({settings}), seed {report.seed}; objective {report.objective} ({report.direction})"
    with pd.option_context("display.max_columns", None, "display.width", 250):
        return f"{head}\n{frame.to_string(index=False)}"


__all__ = ["BaselineConfig", "BaselineReport", "BaselineRow", "report_dict", "report_table", "run_baselines"]
