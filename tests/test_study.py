"""run_study end to end: real training, real SQLite Optuna and MLflow stores in a temp folder."""

from __future__ import annotations

import math

import keras_tuner
import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from search import StudyConfig, run_study
from search import storage as storage_mod
from search.errors import DataError, SpaceError, UsageError


def _study(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage_mod.resolve().storage_url)


def _runs(name: str):
    client = MlflowClient(storage_mod.resolve().tracking_uri)
    experiment = client.get_experiment_by_name(name)
    return client, client.search_runs([experiment.experiment_id], max_results=1000)


def test_default_store_is_under_home(isolated_home, space_path):
    run_study(StudyConfig(space=space_path("tiny"), trials=1, epochs=1, progress=False))
    assert (isolated_home / "optuna.db").is_file()
    assert (isolated_home / "mlflow.db").is_file()
    client, runs = _runs("tiny")
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.artifact_location == (isolated_home / "artifacts" / "tiny").as_uri()
    # MLflow 3's UI opens the runs view (not the GenAI one) for the study's experiment.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_the_project_sqlite_stores_run_in_wal_mode_with_normal_sync_and_no_other_database_does(tmp_path):
    import sqlalchemy

    from search.tracking import Tracker

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


def test_mlflow_layout_parent_run_and_one_nested_run_per_trial(space_path):
    result = run_study(StudyConfig(space=space_path("tiny"), study="layout", trials=3, epochs=3, seed=5,
                                   sets={"noise": "0.0"}, progress=False))
    assert (result.complete, result.pruned, result.failed, result.running) == (3, 0, 0, 0)

    client, runs = _runs("layout")
    parents = [r for r in runs if r.data.tags.get("search.role") == "study"]
    children = [r for r in runs if r.data.tags.get("search.role") == "trial"]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.info.run_id == result.parent_run_id
    for key, value in {"space": "tiny", "sampler": "tpe", "pruner": "median", "seed": "5",
                       "setting.noise": "0.0", "trials": "3", "epochs": "3"}.items():
        assert parent.data.params[key] == value
    assert parent.data.params["storage"].startswith("sqlite:///")

    study = _study("layout")
    for run in children:
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        number = int(tags["search.optuna_trial_number"])
        trial = study.trials[number]
        assert tags["search.kt_trial_id"] == f"{number:04d}"
        assert tags["search.state"] == "COMPLETE" and run.info.status == "FINISHED"
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
        assert set(run.data.params) == {"units", "activation", "lr", "noise"}
        assert float(run.data.params["lr"]) == pytest.approx(trial.user_attrs["hp"]["lr"])
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert sorted(m.step for m in history) == [0, 1, 2]
        assert run.data.metrics["best_val_loss"] == pytest.approx(trial.value)


def test_resume_continues_toward_the_stored_budget(space_path):
    run_study(StudyConfig(space=space_path("tiny"), study="resume", trials=2, epochs=1, progress=False))
    # No --trials: the budget stored with the study applies, so nothing more runs.
    again = run_study(StudyConfig(space=space_path("tiny"), study="resume", epochs=1, progress=False))
    assert again.complete == 2
    more = run_study(StudyConfig(space=space_path("tiny"), study="resume", trials=4, epochs=1, progress=False))
    assert more.complete == 4
    _, runs = _runs("resume")
    assert sum(r.data.tags.get("search.role") == "study" for r in runs) == 3  # one parent per invocation


def test_interrupted_study_leaves_nothing_running_and_resumes_the_trial(space_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FLAKY_INTERRUPT_FILE", str(tmp_path / "interrupted-once"))
    config = StudyConfig(space=space_path("flaky"), study="crash", trials=3, epochs=1, seed=3,
                         sets={"mode": "ok"}, progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_study(config)
    study = _study("crash")
    assert [t.state for t in study.trials] == [TrialState.FAIL]
    client, runs = _runs("crash")
    assert {r.info.status for r in runs} <= {"FAILED", "KILLED"}
    assert not [r for r in runs if r.info.status == "RUNNING"]

    result = run_study(config)  # the marker file exists now: no more interruption
    study = _study("crash")
    assert result.complete == 3
    retried = [t for t in study.trials if t.user_attrs.get("retry_of") == 0]
    assert len(retried) == 1 and retried[0].params == study.trials[0].params
    _, runs = _runs("crash")
    assert not [r for r in runs if r.info.status == "RUNNING"]


def test_failing_trials_fail_with_reason_and_the_study_goes_on(space_path):
    result = run_study(StudyConfig(space=space_path("flaky"), study="flaky", trials=6, epochs=1,
                                   sampler="random", progress=False))
    study = _study("flaky")
    assert result.complete + result.failed == 6 and result.failed >= 1 and result.complete >= 1
    client, runs = _runs("flaky")
    for run in runs:
        if run.data.tags.get("search.state") == "FAIL":
            assert run.info.status == "FAILED"
            assert "boom: this configuration cannot be built" in run.data.tags["search.fail_reason"]
    fails = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all("boom" in t.user_attrs["fail_reason"] for t in fails)


def test_pruning_end_to_end_records_pruned_trials(space_path):
    result = run_study(StudyConfig(space=space_path("tiny"), study="prune", trials=10, epochs=6,
                                   sampler="random", pruner="median", progress=False))
    study = _study("prune")
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert result.pruned == len(pruned) >= 1
    _, runs = _runs("prune")
    by_number = {int(r.data.tags["search.optuna_trial_number"]): r for r in runs if "search.optuna_trial_number" in r.data.tags}
    for t in pruned:
        assert by_number[t.number].info.status == "KILLED"
        assert by_number[t.number].data.tags["search.pruned_by"].startswith("MedianPruner at step")
    assert study.best_trial.state == TrialState.COMPLETE


def test_bad_input_writes_nothing(isolated_home, space_path):
    with pytest.raises(UsageError, match="Unknown --set name 'nope'.*accepted: activation, lr, noise, units"):
        run_study(StudyConfig(space=space_path("tiny"), sets={"nope": "1"}))
    with pytest.raises(UsageError, match=r"Invalid --set units=99; accepted: 2 to 8"):
        run_study(StudyConfig(space=space_path("tiny"), sets={"units": "99"}))
    with pytest.raises(UsageError, match=r"Invalid --set noise=7; accepted: 0.1, 0.0"):
        run_study(StudyConfig(space=space_path("tiny"), sets={"noise": "7"}))
    with pytest.raises(SpaceError, match="Unknown space 'nope'; accepted: .*iq_combiner"):
        run_study(StudyConfig(space="nope"))
    with pytest.raises(UsageError, match="Unknown sampler 'bogus'; accepted: tpe, random"):
        StudyConfig(space="tiny", sampler="bogus")
    with pytest.raises(UsageError, match="--trials must be a positive integer, got 0"):
        StudyConfig(space="tiny", trials=0)
    assert not (isolated_home / "optuna.db").exists()
    assert not (isolated_home / "mlflow.db").exists()


def test_nan_data_is_refused_before_anything_is_written(isolated_home, tmp_path):
    bad = tmp_path / "nan_space.py"
    bad.write_text(
        "import numpy as np\n"
        "def load_data(seed):\n"
        "    x = np.ones((8, 2)); x[3, 1] = np.nan\n"
        "    return (x, x[:, :1]), (x, x[:, :1])\n"
        "def build(hp):\n"
        "    raise AssertionError('never built')\n"
    )
    with pytest.raises(DataError, match=r"load_data returned x with 1 NaN or infinite values"):
        run_study(StudyConfig(space=str(bad)))
    assert not (isolated_home / "optuna.db").exists()


def test_changed_space_is_refused_on_resume(tmp_path, space_path):
    copy = tmp_path / "tiny_copy.py"
    copy.write_text(open(space_path("tiny")).read())
    run_study(StudyConfig(space=str(copy), study="guard", trials=1, epochs=1, progress=False))
    copy.write_text(copy.read_text().replace("EPOCHS = 3", "EPOCHS = 2"))
    with pytest.raises(UsageError, match="changed since study 'guard' was created.*--allow-space-change"):
        run_study(StudyConfig(space=str(copy), study="guard", trials=2, epochs=1, progress=False))
    result = run_study(StudyConfig(space=str(copy), study="guard", trials=2, epochs=1, progress=False,
                                   allow_space_change=True))
    assert result.complete == 2


def test_grid_sampler_stops_when_the_grid_is_exhausted(space_path):
    result = run_study(StudyConfig(space=space_path("tiny"), study="grid", trials=20, epochs=1, sampler="grid",
                                   sets={"lr": "0.01"}, progress=False))
    study = _study("grid")
    assert result.complete == 8  # units 2, 4, 6, 8 x activation relu, tanh
    assert sorted((t.params["units"], t.params["activation"]) for t in study.trials) == sorted(
        (u, a) for u in (2, 4, 6, 8) for a in ("relu", "tanh"))


def test_epoch_metrics_are_written_at_most_every_flush_interval_and_all_by_trial_end(tmp_path, monkeypatch):
    import time

    from keras_tuner.engine.trial import Trial

    import search.tracking
    from search.tracking import Tracker

    FLUSH_SECONDS = 1.0  # 5 s in a study; shorter here, so the test waits less
    monkeypatch.setattr(search.tracking, "FLUSH_SECONDS", FLUSH_SECONDS)

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

    from search.tracking import Tracker

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


def test_a_long_study_lets_each_trials_graphs_go(space_path):
    """Keras's optimizer registers a `tf.custom_gradient` in TensorFlow's global gradient
    registry at every traced train step, keeping that trial's graphs alive; the tuner drops
    a trial's registrations after it, so the graphs are freed and the study does not grow."""
    import gc

    from tensorflow.python.framework.func_graph import FuncGraph

    from search.tuner import _custom_gradients

    def train_graphs() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, FuncGraph) and o.name == "one_step_on_data")

    before_graphs, before_registered = train_graphs(), _custom_gradients()
    run_study(StudyConfig(space=space_path("tiny"), study="lean", trials=6, epochs=1, sampler="random",
                          pruner="none", progress=False))
    assert _custom_gradients() == before_registered
    assert train_graphs() <= before_graphs + 1  # at most one trial's train step outlives the study


def test_a_space_that_fits_with_fit_arrays_runs_with_every_hook_and_repeats(space_path, tmp_path):
    """`search.data.fit_arrays` in a space's `fit`: the hooks still see the arrays (the
    gradient audit runs, the export probe is recorded) and a trial repeats from its seed."""
    from pathlib import Path

    source = Path(space_path("tiny")).read_text() + (
        "\n\ndef fit(hp, model, *args, **kwargs):\n"
        "    from search.data import fit_arrays\n\n"
        "    return fit_arrays(model, *args, batch_size=16, **kwargs)\n")
    space = tmp_path / "tiny_fit_arrays.py"
    space.write_text(source)
    values = {}
    for study in ("fa1", "fa2"):
        result = run_study(StudyConfig(space=str(space), study=study, trials=3, epochs=3, sampler="random",
                                       pruner="none", progress=False))
        assert result.complete == 3
        trials = sorted(_study(study).trials, key=lambda t: t.number)
        assert all(t.user_attrs["gradient_audit"] == "ok" for t in trials)
        for t in trials:
            assert (Path(t.user_attrs["trial_dir"]) / "probe.npz").is_file()
        values[study] = [t.value for t in trials]
    assert values["fa1"] == values["fa2"]  # the same seed, the same shuffles, the same results
