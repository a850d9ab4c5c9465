"""run_study end to end: real training, real SQLite Optuna and MLflow stores in a temp folder."""

from __future__ import annotations


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


def test_mlflow_layout_parent_run_and_one_nested_run_per_trial(space_path):
    result = run_study(StudyConfig(space=space_path("tiny"), study="layout", trials=3, epochs=3, seed=5, pruner="none",
                                   sets={"noise": "0.0"}, progress=False))
    assert (result.complete, result.pruned, result.failed, result.running) == (3, 0, 0, 0)

    client, runs = _runs("layout")
    parents = [r for r in runs if r.data.tags.get("search.role") == "study"]
    children = [r for r in runs if r.data.tags.get("search.role") == "trial"]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.info.run_id == result.parent_run_id
    for key, value in {"space": "tiny", "sampler": "tpe", "pruner": "none", "seed": "5",
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
    with pytest.raises(UsageError, match="Unknown sampler 'bogus'; accepted: tpe, nsga2, random"):
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


def test_a_long_study_lets_each_trials_graphs_go(space_path):
    """Keras's optimizer registers a `tf.custom_gradient` in TensorFlow's global gradient
    registry at every traced train step, keeping that trial's graphs alive; the tuner drops
    a trial's registrations after it, so the graphs are freed and the study does not grow."""
    import gc

    from tensorflow.python.framework.func_graph import FuncGraph

    from search.engine.tuner import _custom_gradients

    def train_graphs() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, FuncGraph) and o.name == "one_step_on_data")

    before_graphs, before_registered = train_graphs(), _custom_gradients()
    run_study(StudyConfig(space=space_path("tiny"), study="lean", trials=6, epochs=1, sampler="random",
                          pruner="none", progress=False))
    assert _custom_gradients() == before_registered
    assert train_graphs() <= before_graphs + 1  # at most one trial's train step outlives the study


def test_a_space_that_fits_with_fit_arrays_runs_with_every_hook_and_repeats(space_path, tmp_path):
    """`search.space.fit_arrays` in a space's `fit`: the hooks still see the arrays (the
    gradient audit runs, the export probe is recorded) and a trial repeats from its seed."""
    from pathlib import Path

    source = Path(space_path("tiny")).read_text() + (
        "\n\ndef fit(hp, model, *args, **kwargs):\n"
        "    from search.space import fit_arrays\n\n"
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
