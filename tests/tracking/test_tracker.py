"""The MLflow tracker on a real SQLite tracking store: runs, their nesting, states, and batched writes."""

from __future__ import annotations

import math

import keras_tuner
import optuna
from keras_tuner.engine.trial import Trial
from optuna.trial import TrialState

from search import storage as storage_mod
from search.engine.oracle import OptunaOracle
from search.records import keys
from search.tracking.tracker import Tracker


def _tracker(tmp_path, study: str = "s") -> Tracker:
    return Tracker(f"sqlite:///{tmp_path}/mlflow.db", study, (tmp_path / "artifacts").as_uri())


def test_the_project_sqlite_stores_run_in_wal_mode_with_normal_sync_and_no_other_database_does(tmp_path):
    import sqlalchemy

    from search.tracking.tracker import Tracker

    def pragmas(engine):
        with engine.connect() as connection:
            return (connection.exec_driver_sql("PRAGMA journal_mode").scalar(),
                    connection.exec_driver_sql("PRAGMA synchronous").scalar())

    storage = storage_mod.open_storage(f"sqlite:///{tmp_path}/optuna.db")  # a new database
    optuna.create_study(storage=storage, study_name="s").ask().report(1.0, 0)
    assert pragmas(storage.engine) == ("wal", 1)  # 1: NORMAL (SQLite's default is 2, FULL)
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "s", str(tmp_path / "artifacts"))
    tracker.start_parent({"study": "s"})
    assert pragmas(tracker.client._tracking_client.store.engine) == ("wal", 1)
    tracker.end_parent()
    other = sqlalchemy.create_engine(f"sqlite:///{tmp_path}/users-own.db")
    assert pragmas(other) == ("delete", 2)


def test_epoch_metrics_are_written_at_most_every_flush_interval_and_all_by_trial_end(tmp_path, monkeypatch):
    import time

    from keras_tuner.engine.trial import Trial

    import search.tracking.tracker
    from search.tracking.tracker import Tracker

    FLUSH_SECONDS = 1.0  # 5 s in a study; shorter here, so the test waits less
    monkeypatch.setattr(search.tracking.tracker, "FLUSH_SECONDS", FLUSH_SECONDS)

    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "flush", str(tmp_path / "artifacts"))
    tracker.start_parent({"study": "flush"})
    trial = Trial(keras_tuner.HyperParameters(), trial_id="00")
    tracker.trial_started(None, trial, optuna.create_study().ask())
    run_id = tracker.trial_run_id("00")
    steps = lambda key="loss": [m.step for m in tracker.client.get_metric_history(run_id, key)]  # noqa: E731

    tracker.epoch_ended(None, "00", 0, {"loss": 1.0})
    assert steps() == [0]  # the first epoch at once
    started = time.monotonic()
    tracker.log_trial_metrics("00", {"kernel_cosine": 0.5}, step=1)  # a hook's metric joins the epoch's batch
    tracker.set_trial_tags("00", {"hook.note": "first"})  # and so do a hook's tags
    tracker.set_trial_tags("00", {"hook.note": "second"})
    tags = lambda: tracker.client.get_run(run_id).data.tags  # noqa: E731
    for step in (1, 2, 3):
        tracker.epoch_ended(None, "00", step, {"loss": 1.0 / (step + 1)})
    if time.monotonic() - started < FLUSH_SECONDS:
        assert steps() == [0] and steps("kernel_cosine") == [] and "hook.note" not in tags()  # held back
    time.sleep(FLUSH_SECONDS)
    tracker.epoch_ended(None, "00", 4, {"loss": 0.2})
    assert steps() == [0, 1, 2, 3, 4] and steps("kernel_cosine") == [1] and tags()["hook.note"] == "second"
    tracker.epoch_ended(None, "00", 5, {"loss": float("nan")})
    tracker.trial_ended(None, trial, 0, TrialState.COMPLETE, None, None)
    assert steps() == [0, 1, 2, 3, 4, 5]  # the rest when the trial ends, the NaN too
    assert math.isnan(tracker.client.get_metric_history(run_id, "loss")[-1].value)
    assert tracker.client.get_run(run_id).info.status == "FINISHED"
    tracker.end_parent()


def test_buffered_tags_and_metrics_beyond_one_mlflow_batch_all_land(tmp_path):
    """MLflow takes at most 100 tags and 1000 entities a batch: what a trial buffered is split."""
    from keras_tuner.engine.trial import Trial

    from search.tracking.tracker import Tracker

    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "batches", str(tmp_path / "artifacts"))
    tracker.start_parent({"study": "batches"})
    runs = {}
    for trial_id in ("00", "01"):
        trial = Trial(keras_tuner.HyperParameters(), trial_id=trial_id)
        tracker.trial_started(None, trial, optuna.create_study().ask())
        runs[trial_id] = trial, tracker.trial_run_id(trial_id)
        tracker.set_trial_tags(trial_id, {f"hook.tag{i}": str(i) for i in range(150)})
        for step in range(1, 5):
            tracker.log_trial_metrics(trial_id, {f"m{i}": float(i) for i in range(300)}, step=step)
    tracker.trial_ended(None, runs["00"][0], 0, TrialState.PRUNED, None, "median")
    tracker.close_open_runs(reason="interrupted")  # trial 01 was still running
    for trial_id, state in (("00", "PRUNED"), ("01", "FAIL")):
        run = tracker.client.get_run(runs[trial_id][1])
        assert sum(k.startswith("hook.tag") for k in run.data.tags) == 150
        assert run.data.tags["search.state"] == state
        assert len(tracker.client.get_metric_history(run.info.run_id, "m299")) == 4
        assert run.info.status != "RUNNING"
    tracker.end_parent()


def test_parent_run_holds_the_settings_with_passwords_masked_and_a_finite_summary(tmp_path):
    tracker = _tracker(tmp_path)
    run_id = tracker.start_parent({"storage": "postgresql://me:secret@db/optuna", "seed": 3, "long": "x" * 9000})
    tracker.end_parent("FINISHED", {"complete": 2, "best_val_loss": float("nan"), "pruned": 1})
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[keys.TAG_ROLE] == keys.ROLE_STUDY and run.data.tags[keys.TAG_STUDY] == "s"
    assert run.data.params["storage"] == "postgresql://me:***@db/optuna" and run.data.params["seed"] == "3"
    assert len(run.data.params["long"]) == 6000  # MLflow's limit for a param value
    assert run.data.metrics == {"complete": 2.0, "pruned": 1.0}  # the NaN best is left out
    assert tracker.parent_run_id is None


def test_a_trial_run_nests_under_the_parent_and_ends_in_the_status_of_its_state(tmp_path):
    tracker = _tracker(tmp_path)
    parent = tracker.start_parent({})
    study = optuna.create_study()
    oracle = OptunaOracle(objective="val_loss", max_trials=3, study=study)
    ended = {}
    for trial_id, state, value, reason in (("0000", TrialState.COMPLETE, 0.25, None),
                                           ("0001", TrialState.PRUNED, None, "MedianPruner at step 2"),
                                           ("0002", TrialState.FAIL, None, "loss became NaN at epoch 2")):
        hp = keras_tuner.HyperParameters()
        hp.values = {"units": 4, "lr": 0.01}
        trial, otrial = Trial(hp, trial_id=trial_id), study.ask()
        tracker.trial_started(oracle, trial, otrial)
        assert otrial.user_attrs[keys.MLFLOW_RUN_ID] == tracker.trial_run_id(trial_id)
        tracker.epoch_ended(oracle, trial_id, 0, {"val_loss": 0.5})
        ended[trial_id] = tracker.trial_run_id(trial_id)
        tracker.trial_ended(oracle, trial, otrial.number, state, value, reason)
        assert tracker.trial_run_id(trial_id) is None
    runs = {k: tracker.client.get_run(v) for k, v in ended.items()}
    assert {k: r.info.status for k, r in runs.items()} == {"0000": "FINISHED", "0001": "KILLED", "0002": "FAILED"}
    for trial_id, run in runs.items():
        assert run.data.tags[keys.TAG_PARENT_RUN] == parent and run.data.tags[keys.TAG_ROLE] == keys.ROLE_TRIAL
        assert run.data.tags[keys.TAG_KT_TRIAL] == trial_id and run.data.params == {"units": "4", "lr": "0.01"}
    assert runs["0000"].data.metrics["best_val_loss"] == 0.25
    assert runs["0001"].data.tags[keys.TAG_PRUNED_BY] == "MedianPruner at step 2"
    assert runs["0002"].data.tags[keys.TAG_FAIL_REASON] == "loss became NaN at epoch 2"
    assert {r.data.tags[keys.TAG_STATE] for r in runs.values()} == {"COMPLETE", "PRUNED", "FAIL"}


def test_a_lost_trials_run_is_closed_failed_once(tmp_path):
    tracker = _tracker(tmp_path)
    tracker.start_parent({})
    study = optuna.create_study()
    trial, otrial = Trial(keras_tuner.HyperParameters(), trial_id="0000"), study.ask()
    tracker.trial_started(None, trial, otrial)
    run_id = tracker.trial_run_id("0000")
    frozen = study.trials[otrial.number]  # as another worker sees it: RUNNING, with its run id
    tracker.trial_lost(None, frozen, "worker lost: no heartbeat")
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags[keys.TAG_FAIL_REASON] == "worker lost: no heartbeat"
    assert not tracker.close_run(run_id, "KILLED", "again")  # a closed run is left as it is


def test_child_runs_of_baselines_and_comparisons_are_finished_under_their_parent(tmp_path):
    tracker = _tracker(tmp_path)
    parent = tracker.start_parent({})
    baseline = tracker.log_baseline(parent, "svc", {"val_accuracy": 0.9, "best_val_accuracy": 0.9},
                                    run_name="baseline-svc", protocol="holdout", params='{"C": 1}',
                                    prefix="baseline.svc.", folds={"val_accuracy": [0.8, 1.0]})
    child = tracker.log_child_run(run_name="tpe", params={"method": "tpe"}, metrics={"trials": 3.0},
                                  series={"best_so_far_r0": [(0, 1.0), (1, 0.5), (2, float("inf"))]},
                                  role=keys.ROLE_COMPARE_METHOD)
    client = tracker.client
    for run_id, role in ((baseline, keys.ROLE_BASELINE), (child, keys.ROLE_COMPARE_METHOD)):
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.tags[keys.TAG_PARENT_RUN] == parent
        assert run.data.tags[keys.TAG_ROLE] == role
    assert [m.value for m in client.get_metric_history(baseline, "val_accuracy_fold")] == [0.8, 1.0]
    assert [m.step for m in client.get_metric_history(child, "best_so_far_r0")] == [0, 1]  # inf left out
    assert client.get_run(parent).data.metrics == {"baseline.svc.val_accuracy": 0.9}  # best_* stays on the child
    tracker.end_parent()
