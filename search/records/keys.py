"""Every name a study records: Optuna user attributes, the Optuna constraint and MLflow tags.

Each key is defined here once; the rest of the project spells it through these constants.
The values are what users see in Optuna's and MLflow's tools, so they never change.
The few readers below interpret them the one way the whole project does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# -- Optuna user attributes of a trial ------------------------------------------------------------
HP = "hp"  # every KerasTuner hyperparameter value of the trial (settings and fixed ones included)
KT_TRIAL_ID = "kt_trial_id"  # the KerasTuner trial id it ran as (a retry keeps its trial's id)
RETRY_OF = "retry_of"  # on a retry: the number of the Optuna trial it repeats; it costs no budget
FAIL_REASON = "fail_reason"  # one line: why the trial failed
PRUNED_BY = "pruned_by"  # "MedianPruner at step 3"
WORKER = "worker"  # host-pid of the process that ran it
DEVICE = "device"  # what it trained on: "gpu:1" or "cpu" (search.study.devices)
TRIAL_DIR = "trial_dir"  # its KerasTuner folder (checkpoints, probe)
MLFLOW_RUN_ID = "mlflow_run_id"  # its MLflow run
ENQUEUED = "enqueued"  # where a configuration that ran first came from: "SUGGESTED", "file F", "study S trial N"
# The trial doctor's findings.
GRADIENT_AUDIT = "gradient_audit"  # "ok", counts per problem, or "skipped: why"
NO_GRADIENT = "no_gradient"  # variables whose gradient is None
ZERO_GRADIENT = "zero_gradient"  # variables whose gradient is all zero on the audited batch
NONFINITE_GRADIENT = "nonfinite_gradient"  # variables whose gradient is NaN or infinite
EVENTS = "events"  # [{"event", "epoch", "detail"}]: divergence, jump, nonfinite
NUMERICS = "numerics"  # {metric, value, epoch, step, origin} of a NaN/inf failure
# The harness's cost metrics of a trial (search.engine.costs), also MLflow metrics of its run.
COST_PARAMS = "params"  # trainable parameter count
COST_MODEL_BYTES = "model_bytes"  # size of the trained model's saved .keras file
COST_LATENCY_MS = "latency_ms"  # median CPU time of one validation batch through the traced model
LATENCY_THREADS = "latency_threads"  # TensorFlow's intra-op threads while latency_ms was measured
COSTS_SKIPPED = "costs_skipped"  # {cost metric: why it was not measured}

# The Optuna constraint a NaN/inf failure violates (> 0), read by the failure-aware TPE.
CONSTRAINT_FINITE = "finite"

# The harness's cost metrics of every trial (search.engine.costs): user attributes and MLflow metrics of
# these names, usable as objectives and constraints; smaller is better.
COST_METRICS = (COST_PARAMS, COST_MODEL_BYTES, COST_LATENCY_MS)

# -- Optuna user attributes of a study (its settings, stored by `search run`) ----------------------
STUDY_SPACE = "space"
STUDY_SPACE_PATH = "space_path"
STUDY_SPACE_SHA256 = "space_sha256"
STUDY_SPACE_FINGERPRINT = "space_fingerprint"
STUDY_SETTINGS = "settings"
STUDY_FIXED = "fixed"
STUDY_OBJECTIVE = "objective"
STUDY_DIRECTION = "direction"
STUDY_OBJECTIVES = "objectives"  # [[metric, "min"|"max"], ...]: every objective, the first as STUDY_OBJECTIVE
STUDY_CONSTRAINTS = "constraints"  # ["params<=20000", ...]: a trial that breaks one is infeasible
STUDY_EPOCHS = "epochs"
STUDY_MAX_TRIALS = "max_trials"
STUDY_SAMPLER = "sampler"
STUDY_PRUNER = "pruner"
STUDY_SEED = "seed"
STUDY_PARENT_RUN_ID = "parent_run_id"
STUDY_TARGET = "target"  # the objective value that ends the study once a trial reaches it
STUDY_WARM_START = "warm_start"  # {"study": the other study, "best": its trials enqueued here}
# Written by `search confirm` (search.records.confirmed reads them): Optuna refuses attributes on a finished
# trial, so a trial's confirmed figures are the study's, keyed by trial number.
CONFIRM_PREFIX = "confirm:"  # "confirm:<trial>:<seed>:<fold>" -> one finished retrain {"best", "final", ...}
STUDY_CONFIRMED = "confirmed"  # {"<trial>": {"mean", "std", "ci", "p_best", "n", "search_value", ...}}: the latest
STUDY_CONFIRM_RUNS = "confirm_runs"  # {"<request>": parent run id}: a resumed `search confirm` logs under it
# A confirmed trial's figures, as the table, `search best` and the report name them.
CONFIRMED_MEAN = "confirmed_mean"
CONFIRMED_CI = "confirmed_ci"
P_BEST = "p_best"

# -- MLflow params of a parent run: the study's settings under the STUDY_* names above, and --------
PARAM_STUDY = "study"
PARAM_STORAGE = "storage"  # password masked
PARAM_WORKERS = "workers"
PARAM_TRIALS = "trials"
PARAM_TIMEOUT = "timeout"
PARAM_ROLE = "role"
PARAM_WORKER = "worker"


def setting_params(settings: dict[str, Any], fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """A parent run's params for the space settings (``setting.NAME``) and fixed hyperparameters (``fixed.NAME``)."""
    return {**{f"setting.{k}": v for k, v in settings.items()}, **{f"fixed.{k}": v for k, v in (fixed or {}).items()}}


# -- MLflow tags ---------------------------------------------------------------------------------------
TAG_STUDY = "search.study"
TAG_DEVICE = "search.device"
TAG_ROLE = "search.role"  # one of the ROLE_* values below
TAG_KT_TRIAL = "search.kt_trial_id"
TAG_OPTUNA_NUMBER = "search.optuna_trial_number"
TAG_STATE = "search.state"  # COMPLETE, PRUNED or FAIL
TAG_FAIL_REASON = "search.fail_reason"
TAG_PRUNED_BY = "search.pruned_by"
TAG_RETRY_OF = "search.retry_of"
TAG_ARTIFACT_ERROR = "search.artifact_error"  # an artifact could not be stored; the trial went on
TAG_BASELINE = "search.baseline"
TAG_PROTOCOL = "search.protocol"
TAG_BASELINE_PARAMS = "search.baseline_params"
TAG_GRADIENT_AUDIT = "search.gradient_audit"
TAG_NO_GRADIENT = "search.no_gradient"
TAG_ZERO_GRADIENT = "search.zero_gradient"
TAG_NONFINITE_GRADIENT = "search.nonfinite_gradient"
TAG_EVENTS = "search.events"
TAG_NUMERICS = "search.numerics"
TAG_PLOT_ERROR = "search.plot_error"  # on a trial run: a picture could not be drawn
TAG_PLOT_NOTES = "search.plot_notes"  # on a parent run: JSON, study plot -> why it was skipped
TAG_EXPORT_PROBE_ERROR = "search.export_probe_error"  # why a trial has no probe batch
TAG_LATENCY_THREADS = "search.latency_threads"  # as LATENCY_THREADS
TAG_COSTS_SKIPPED = "search.costs_skipped"  # as COSTS_SKIPPED: "model_bytes: NotImplementedError: ..."
TAG_PARENT_RUN = "mlflow.parentRunId"  # MLflow's own: nests a run under its parent
TAG_PARETO = "search.pareto"  # on a trial run of a study of several objectives: "true" while on the front
TAG_FEASIBLE = "search.feasible"  # on a trial run of a study with constraints: "true" or "false"
TAG_CONFIRMS = "search.confirms"  # on a retrain run of `search confirm`: the trial number it trains again
TAG_STOPPED = "search.stopped"  # on a parent run: why no new trial started ("target reached", "budget", ...)
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"  # MLflow's own: which view the UI opens

# Values of TAG_ROLE.
ROLE_STUDY = "study"  # the parent run of one `search run`
ROLE_TRIAL = "trial"
ROLE_WORKER = "worker"
ROLE_BASELINE = "baseline"
ROLE_COMPARE = "compare"
ROLE_COMPARE_METHOD = "compare-method"
ROLE_COMPARE_SUITE = "compare-suite"  # the summary of one `search compare` over several spaces
ROLE_CHILD = "child"
ROLE_CONFIRM = "confirm"  # the parent run of `search confirm`
ROLE_RETRAIN = "confirm-retrain"  # one retrain of a trial under it


# -- reading them back --------------------------------------------------------------------------------
def study_objectives(study: Any) -> list[tuple[str, str]]:
    """A study's objectives as ``(metric, direction)``: stored by ``search run``, else its one
    objective and the directions Optuna holds."""
    attrs = study.user_attrs
    stored = attrs.get(STUDY_OBJECTIVES)
    if stored:
        return [(str(name), str(direction)) for name, direction in stored]
    directions = [d.name.lower()[:3] for d in study.directions]
    names = [attrs.get(STUDY_OBJECTIVE, "objective")] + [f"objective_{i}" for i in range(1, len(directions))]
    return list(zip(names, directions))


def is_feasible(trial: FrozenTrial) -> bool:
    """Whether the trial keeps every constraint (Optuna's rule: each value <= 0)."""
    return all(v <= 0 for v in trial.constraints.values())


def is_retry(trial: FrozenTrial) -> bool:
    """Whether the trial repeats another one (a retry costs no budget)."""
    return RETRY_OF in trial.user_attrs


def trials_used(trials: Iterable[FrozenTrial]) -> int:
    """How many of ``trials`` count against the study's budget: every one that started and is not
    a retry (an enqueued configuration counts once it runs)."""
    return sum(1 for t in trials if not is_retry(t) and t.state.name != "WAITING")


def values_of(trial: FrozenTrial) -> dict[str, Any]:
    """The trial's KerasTuner hyperparameter values (Optuna's params for a trial the oracle did not ask)."""
    return dict(trial.user_attrs.get(HP, trial.params))


def param_names(trials: Iterable[FrozenTrial]) -> list[str]:
    """The hyperparameter names of ``trials``, in the order they first appear."""
    return list(dict.fromkeys(name for t in trials for name in values_of(t)))


def findings_of(attrs: dict[str, Any]) -> str | None:
    """The doctor's gradient audit of a trial's user attributes in a few words:
    ``no gradient: bump/sigma`` (None if clean)."""
    parts = [f"{label}: {', '.join(v.split(' (')[0] for v in attrs[key])}" for key, label in (
        (NO_GRADIENT, "no gradient"), (ZERO_GRADIENT, "zero gradient"),
        (NONFINITE_GRADIENT, "non-finite gradient")) if attrs.get(key)]
    return "; ".join(parts) or None


def reason_of(trial: FrozenTrial) -> str | None:
    """Why the trial failed or was pruned (None for a trial that did neither)."""
    return trial.user_attrs.get(FAIL_REASON) or trial.user_attrs.get(PRUNED_BY)
