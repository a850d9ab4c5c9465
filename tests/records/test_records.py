"""What a study records, read back: the keys' readers, the summary, the trials table, the best trial.

A real Optuna study in a real SQLite storage, written with ask/tell as the oracle writes it.
"""

from __future__ import annotations

import json
import math

import optuna
import pytest
from optuna.trial import TrialState

from search import storage as storage_mod
from search.errors import NoCompletedTrialsError, StudyNotFoundError
from search.records import keys
from search.records.studies import open_study
from search.records.summary import count_used, summarize
from search.records.table import COLUMNS, best, render_best, render_trials, trials_records


def _study(loc: storage_mod.Location) -> optuna.Study:
    """Trials 0 (0.5), 1 (pruned), 2 (failed), 3 (a retry of 2, 0.25) and 4 (running)."""
    study = optuna.create_study(study_name="r", storage=storage_mod.open_storage(loc.storage_url))
    study.set_user_attr(keys.STUDY_OBJECTIVE, "val_loss")
    for number, (state, value, attrs) in enumerate((
        (TrialState.COMPLETE, 0.5, {keys.HP: {"units": 4}, keys.MLFLOW_RUN_ID: "run0"}),
        (TrialState.PRUNED, None, {keys.HP: {"units": 8}, keys.PRUNED_BY: "MedianPruner at step 1"}),
        (TrialState.FAIL, None, {keys.HP: {"units": 2}, keys.FAIL_REASON: "loss became NaN",
                                 keys.NO_GRADIENT: ["bump/sigma (layer bump: Bump)"],
                                 keys.EVENTS: [{"event": "divergence", "epoch": 2, "detail": "..."}]}),
        (TrialState.COMPLETE, 0.25, {keys.HP: {"units": 2}, keys.RETRY_OF: 2, keys.KT_TRIAL_ID: "0002"}),
        (TrialState.RUNNING, None, {}),
    )):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        for key, v in attrs.items():
            trial.set_user_attr(key, v)
        if state != TrialState.RUNNING:
            study.tell(trial, value, state=state)
    return study


def test_the_readers_of_the_keys(isolated_home):
    trials = _study(storage_mod.resolve()).get_trials()
    assert [keys.is_retry(t) for t in trials] == [False, False, False, True, False]
    assert keys.trials_used(trials) == 4  # the retry costs no budget
    assert keys.values_of(trials[0]) == {"units": 4}
    assert keys.values_of(trials[4]) == trials[4].params  # a trial the oracle did not ask
    assert [keys.reason_of(t) for t in trials[:3]] == [None, "MedianPruner at step 1", "loss became NaN"]
    assert keys.setting_params({"fold": 0}, {"units": 4}) == {"setting.fold": 0, "fixed.units": 4}


def test_the_summary_counts_by_state_and_logs_a_finite_best(isolated_home):
    loc = storage_mod.resolve()
    study = _study(loc)
    result = summarize(study, "parent", loc)
    assert (result.complete, result.pruned, result.failed, result.running) == (2, 1, 1, 1)
    assert (result.best_trial, result.best_value, result.best_params) == (3, 0.25, {"units": 2})
    assert result.metrics("val_loss") == {"complete": 2, "pruned": 1, "failed": 1, "best_val_loss": 0.25}
    assert count_used(study) == 4


def test_the_trials_table_in_every_format(isolated_home):
    study = _study(storage_mod.resolve())
    rows = trials_records(study)
    assert [r["state"] for r in rows] == ["COMPLETE", "PRUNED", "FAIL", "COMPLETE", "RUNNING"]
    assert rows[2]["gradients"] == "no gradient: bump/sigma" and rows[2]["events"] == "divergence@2"
    assert rows[1]["reason"] == "MedianPruner at step 1" and rows[0]["mlflow_run_id"] == "run0"
    assert json.loads(render_trials(study, "json")) == json.loads(json.dumps(rows, default=str))
    csv = render_trials(study, "csv").splitlines()
    assert csv[0] == ",".join(COLUMNS) and '"{""units"": 4}"' in csv[1]
    table = render_trials(study, "table")
    assert table.splitlines()[0].split()[:3] == ["number", "state", "value"] and "kt_trial_id" not in table


def test_the_best_trial_and_what_is_refused(isolated_home):
    loc = storage_mod.resolve()
    study = _study(loc)
    assert best(study) == {"study": "r", "trial": 3, "value": 0.25, "objective": "val_loss", "direction": "minimize",
                           "params": {"units": 2}, "mlflow_run_id": None, "kt_trial_id": "0002"}
    assert render_best(study).splitlines()[:2] == ["study         r", "trial         3"]
    assert json.loads(render_best(study, "json"))["trial"] == 3
    empty = optuna.create_study(study_name="empty", storage=storage_mod.open_storage(loc.storage_url))
    with pytest.raises(NoCompletedTrialsError, match="Study 'empty' has no completed trial yet"):
        best(empty)
    with pytest.raises(StudyNotFoundError, match=r"Unknown study 'nope' in sqlite:///.*; studies there: empty, r\."):
        open_study("nope", loc)
    assert not math.isnan(open_study("r", loc).best_value)
