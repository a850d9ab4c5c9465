"""``search trials`` and ``search best``: the trials table and the best trial, read back from the study."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from search.errors import NoCompletedTrialsError, UsageError
from search.records import keys
from search.records.confirmed import CONFIRMED_KEYS, best_confirmed
from search.records.confirmed import figures as confirmed_figures
from search.records.pareto import describe_objectives, front

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from optuna.trial import FrozenTrial

COLUMNS = ["number", "state", "value", "params", "duration_s", "mlflow_run_id", "kt_trial_id", "reason",
           "gradients", "events", "device"]
# Beside those when they apply: each trial's cost metrics, its feasibility (constraints), and with several
# objectives its values by objective and whether it is on the Pareto front.
COST_COLUMNS = ("params_count", "model_bytes", "latency_ms")  # the cost metric `params` as a column (`params`: the hyperparameters)


def _row(t: FrozenTrial, objectives: list[tuple[str, str]] | None = None,
         on_front: set[int] | None = None) -> dict[str, Any]:
    duration = None
    if t.datetime_start and t.datetime_complete:
        duration = (t.datetime_complete - t.datetime_start).total_seconds()
    several = objectives is not None and len(objectives) > 1
    row = {
        "number": t.number,
        "state": t.state.name,
        "value": None if several else t.value,
        "params": keys.values_of(t),
        "duration_s": None if duration is None else round(duration, 3),
        "mlflow_run_id": t.user_attrs.get(keys.MLFLOW_RUN_ID),
        "kt_trial_id": t.user_attrs.get(keys.KT_TRIAL_ID),
        "reason": keys.reason_of(t),
        "gradients": keys.findings_of(t.user_attrs),
        "events": ", ".join(f"{e['event']}@{e['epoch']}" for e in t.user_attrs.get(keys.EVENTS, [])) or None,
        "device": t.user_attrs.get(keys.DEVICE),
    }
    for column, name in zip(COST_COLUMNS, keys.COST_METRICS):
        if name in t.user_attrs:
            row[column] = t.user_attrs[name]
    if t.constraints:
        row["feasible"] = keys.is_feasible(t)
    if several:
        row["values"] = dict(zip((n for n, _ in objectives), t.values)) if t.values else None
        row["pareto"] = t.number in (on_front or set())
    return row


def trials_records(study: optuna.Study) -> list[dict[str, Any]]:
    """The study's trials as JSON-ready dicts, one per trial, with full-precision values."""
    trials = study.get_trials(deepcopy=False)
    objectives = keys.study_objectives(study)
    on_front = {t.number for t in front(trials, objectives)} if len(objectives) > 1 else None
    confirmed = confirmed_figures(study)  # `search confirm`'s figures: every row has the keys once a trial has them
    blank = dict.fromkeys(CONFIRMED_KEYS) if confirmed else {}
    return [{**_row(t, objectives, on_front), **confirmed.get(t.number, blank)} for t in trials]


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """A pandas DataFrame of the study's trials, one row each: :data:`COLUMNS`, then the costs,
    feasibility, objective values and front membership of the trials that have them."""
    import pandas as pd

    rows = trials_records(study)
    extra = [c for c in (*COST_COLUMNS, "feasible", "values", "pareto", *CONFIRMED_KEYS) if any(c in r for r in rows)]
    return pd.DataFrame(rows, columns=[*COLUMNS, *extra])


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The best COMPLETE, feasible trial (pruned and failed trials never count), or a clear error when
    there is none, or when the study has several objectives (its best trials are a front: :func:`pareto_rows`)."""
    from optuna.trial import TrialState

    objectives = keys.study_objectives(study)
    trials = study.get_trials(deepcopy=False)
    if len(objectives) > 1:
        numbers = ", ".join(str(t.number) for t in front(trials, objectives)) or "none yet"
        raise UsageError(f"Study {study.study_name!r} has several objectives; its best trials are the Pareto front "
                         f"(trials {numbers}): name one with --trial N, or pick one with --pick RULE.")
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not done:
        raise NoCompletedTrialsError(f"Study {study.study_name!r} has no completed trial yet.")
    feasible = [t for t in done if keys.is_feasible(t)]
    if not feasible:
        raise NoCompletedTrialsError(f"Study {study.study_name!r} has no feasible completed trial yet "
                                     "(each breaks a constraint; see `search trials`).")
    return (max if objectives[0][1] == "max" else min)(feasible, key=lambda t: t.value)


def best(study: optuna.Study, confirmed: bool = False) -> dict[str, Any]:
    """The best COMPLETE trial as ``search best`` shows it, with its confirmed figures when it has them
    (``confirmed``: the trial with the best confirmed mean instead)."""
    t = best_confirmed(study) if confirmed else best_trial(study)
    return {
        "study": study.study_name,
        "trial": t.number,
        "value": _first_value(t),
        "objective": study.user_attrs.get(keys.STUDY_OBJECTIVE),
        "direction": study.directions[0].name.lower(),  # the first objective's (what --confirmed ranks by)
        "params": keys.values_of(t),
        "mlflow_run_id": t.user_attrs.get(keys.MLFLOW_RUN_ID),
        "kt_trial_id": t.user_attrs.get(keys.KT_TRIAL_ID),
        **confirmed_figures(study).get(t.number, {}),
    }


def _first_value(t: FrozenTrial) -> float | str | None:
    """The trial's (first objective's) value; a non-finite one as text."""
    value = t.values[0] if t.values else None
    return value if value is None or math.isfinite(value) else str(value)


def pareto_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """The Pareto front of a study of several objectives, one dict per trial: its number, ``values`` (objective
    -> value), ``params`` (the hyperparameters) and MLflow run id; ordered by the first objective, best first."""
    objectives = keys.study_objectives(study)
    on_front = front(study.get_trials(deepcopy=False), objectives)
    if not on_front:
        raise NoCompletedTrialsError(f"Study {study.study_name!r} has no feasible completed trial yet.")
    on_front.sort(key=lambda t: t.values[0], reverse=objectives[0][1] == "max")
    return [{"trial": t.number, "values": dict(zip((n for n, _ in objectives), t.values)), "params": keys.values_of(t),
             "mlflow_run_id": t.user_attrs.get(keys.MLFLOW_RUN_ID)} for t in on_front]


def _objective_columns(rows: list[dict[str, Any]], objectives: list[tuple[str, str]]) -> dict[str, list[Any]]:
    """Each objective's values as a column named after it (the cost ``params`` as ``params_count``: ``params``
    names the hyperparameters)."""
    costs = dict(zip(keys.COST_METRICS, COST_COLUMNS))
    counts = (keys.COST_PARAMS, keys.COST_MODEL_BYTES)  # told to Optuna as floats, counted as integers
    return {costs.get(name, name): [int(r["values"][name]) if name in counts else r["values"][name] for r in rows]
            for name, _ in objectives}


def render_best(study: optuna.Study, fmt: str = "table", confirmed: bool = False) -> str:
    """``search best``: the best trial's summary and params (``table``), ``csv`` (one row) or ``json``; with
    several objectives the whole Pareto front, a row per trial. Ends with a newline."""
    import json

    if len(study.directions) > 1 and not confirmed:
        return _render_front(study, fmt)
    result = best(study, confirmed)
    if fmt == "json":
        return json.dumps(result, indent=2, default=str) + "\n"
    if fmt == "csv":
        import pandas as pd

        return pd.DataFrame([{**result, "params": json.dumps(result["params"], default=str)}]).to_csv(index=False)
    shown = ("study", "trial", "objective", "direction", "value", *(k for k in CONFIRMED_KEYS if k in result),
             "mlflow_run_id")
    width = max(14, *(len(key) + 1 for key in shown))
    lines = [f"{key:<{width}}{result[key]}" for key in shown]
    lines += [f"  {key:<24}{value}" for key, value in result["params"].items()]
    return "\n".join(lines) + "\n"


def _render_front(study: optuna.Study, fmt: str) -> str:
    import json

    import pandas as pd

    rows = pareto_rows(study)
    if fmt == "json":
        return json.dumps({"study": study.study_name, "objectives": [list(o) for o in keys.study_objectives(study)],
                           "pareto_front": rows}, indent=2, default=str) + "\n"
    objectives = keys.study_objectives(study)
    frame = pd.DataFrame({"trial": [r["trial"] for r in rows], **_objective_columns(rows, objectives)})
    if fmt == "csv":
        return frame.assign(params=[json.dumps(r["params"], default=str) for r in rows],
                            mlflow_run_id=[r["mlflow_run_id"] for r in rows]).to_csv(index=False)
    head = (f"study {study.study_name}: Pareto front of {len(rows)} trial{'s' * (len(rows) != 1)} "
            f"({describe_objectives(objectives)})")
    params = pd.DataFrame([r["params"] for r in rows]).add_prefix("hp.")
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.max_colwidth", 40):
        table = pd.concat([frame.assign(mlflow_run_id=[r["mlflow_run_id"] for r in rows]), params],
                          axis=1).to_string(index=False)
    return f"{head}\n{table}\n"


def render_trials(study: optuna.Study, fmt: str = "table", pareto: bool = False) -> str:
    """``search trials``: the table (``table``), ``csv`` (params as JSON) or ``json``; ends with a newline.
    ``pareto``: the table marks the trials on the Pareto front (csv and json always carry ``pareto`` for a
    study of several objectives)."""
    import json

    if fmt == "json":
        return json.dumps(trials_records(study), indent=2, default=str) + "\n"
    frame = trials_frame(study)
    if fmt == "csv":
        dicts = [c for c in ("params", "values") if c in frame]
        return frame.assign(**{c: frame[c].map(lambda v: json.dumps(v, default=str)) for c in dicts}).to_csv(index=False)
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.max_colwidth", 80):
        on_gpu = frame["device"].astype(str).str.startswith("gpu").any()
        hidden = ["kt_trial_id"] + ([] if on_gpu else ["device"])  # a CPU-only study: no device column
        view = _table_view(frame.drop(columns=hidden), keys.study_objectives(study), pareto)
        return view.to_string(index=False) + "\n"


def _table_view(frame: pd.DataFrame, objectives: list[tuple[str, str]], pareto: bool) -> pd.DataFrame:
    """The printed table: each objective its own column (after ``state``), ``pareto`` as ``*`` when asked
    for, ``feasible`` as ``no`` for a trial that breaks a constraint."""
    if "values" in frame:
        values = frame.pop("values")
        costs = dict(zip(keys.COST_METRICS, COST_COLUMNS))
        for i, (name, _) in enumerate(objectives):
            column = costs.get(name, name)  # `params` the cost count, not the hyperparameters
            frame = frame.drop(columns=[column], errors="ignore")
            frame.insert(2 + i, column, values.map(lambda v, n=name: None if not v else v.get(n)))
        frame = frame.drop(columns=["value"])
    on_front = frame.pop("pareto") if "pareto" in frame else None
    if pareto and on_front is not None:
        frame.insert(2, "pareto", on_front.map(lambda v: "*" if v else ""))
    if "feasible" in frame:
        frame["feasible"] = frame["feasible"].map(lambda v: "" if v is None or v != v else ("yes" if v else "no"))
    return frame
