"""`search baseline`: references on the space's own split, logged beside the study's trials."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlflow import MlflowClient

from search import StudyConfig, run_study
from search import storage as storage_mod
from search.baseline import BaselineConfig, run_baselines


def _runs(study: str):
    client = MlflowClient(storage_mod.resolve().tracking_uri)
    experiment = client.get_experiment_by_name(study)
    return client, client.search_runs([experiment.experiment_id], max_results=1000)


def test_baseline_without_a_study_logs_a_baseline_parent_with_one_child_per_baseline(run_cli):
    code, out, err = run_cli("baseline", "prototype_rbf", "--set", "dataset=iris")
    assert code == 0, err
    assert "holdout fold 0" in out and all(name in out for name in ("svc_rbf", "logistic_regression", "knn"))

    client, runs = _runs("prototype_rbf")
    parents = [r for r in runs if r.data.tags.get("search.role") == "baseline" and "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.params["setting.dataset"] == "iris"
    assert sorted(r.data.tags["search.baseline"] for r in children) == ["knn", "logistic_regression", "svc_rbf"]
    for child in children:
        name = child.data.tags["search.baseline"]
        assert child.data.tags["search.role"] == "baseline" and child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert child.data.metrics["best_val_accuracy"] == child.data.metrics["val_accuracy"] > 0.8
        assert parents[0].data.metrics[f"baseline.{name}.val_accuracy"] == child.data.metrics["val_accuracy"]


def test_baselines_score_on_exactly_the_rows_the_space_trains_and_validates_on():
    from sklearn.svm import SVC

    from search.space.loader import load_space

    report = run_baselines(BaselineConfig(space="prototype_rbf", sets={"dataset": "wine", "fold": "3"}))
    svc = next(r for r in report.rows if r.name == "svc_rbf")
    # Refit the tuned SVC on the space's own (standardised) arrays: the same accuracy.
    (x, y), (x_val, y_val) = load_space("prototype_rbf").module.load_data(0, dataset="wine", fold=3)
    model = SVC(C=svc.params["C"], gamma=svc.params["gamma"]).fit(x.astype(np.float64), y)
    assert model.score(x_val.astype(np.float64), y_val) == pytest.approx(svc.metrics["val_accuracy"], abs=1e-9)
    assert report.settings == {"dataset": "wine", "fold": 3} and report.objective == "val_accuracy"


def test_cv_of_the_best_trial_and_the_baselines_on_the_same_folds_under_the_study_parent(run_cli):
    run_study(StudyConfig(space="prototype_rbf", study="iris-cv", trials=1, epochs=2, seed=4,
                          sets={"dataset": "iris", "prototypes": "class_means"}, progress=False))
    code, out, err = run_cli("baseline", "prototype_rbf", "--study", "iris-cv", "--cv", "--trial", "best",
                             "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["seed"] == 4 and report["settings"]["dataset"] == "iris"  # the study's, not the defaults
    rows = {r["name"]: r for r in report["rows"]}
    assert set(rows) == {"svc_rbf", "logistic_regression", "knn", "trial-0000"}
    assert rows["trial-0000"]["params"]["fold"] == [0, 1, 2, 3, 4]  # retrained on each fold
    assert rows["trial-0000"]["params"]["prototypes"] == ["class_means"] * 5
    for row in rows.values():
        assert row["protocol"] == "5-fold CV" and len(row["folds"]["val_accuracy"]) == 5
        assert row["metrics"]["val_accuracy"] == pytest.approx(np.mean(row["folds"]["val_accuracy"]))
        assert row["std"]["val_accuracy"] == pytest.approx(np.std(row["folds"]["val_accuracy"]))

    client, runs = _runs("iris-cv")
    study_parent = next(r for r in runs if r.data.tags.get("search.role") == "study")
    assert report["parent_run_id"] == study_parent.info.run_id
    baseline_runs = [r for r in runs if r.data.tags.get("search.role") == "baseline"]
    assert len(baseline_runs) == 4
    for run in baseline_runs:
        assert run.data.tags["mlflow.parentRunId"] == study_parent.info.run_id
        assert run.data.tags["search.protocol"] == "5-fold CV" and run.info.run_name.endswith("-cv5")
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy_fold")] == [0, 1, 2, 3, 4]
    assert "baseline.svc_rbf.cv_val_accuracy_std" in client.get_run(study_parent.info.run_id).data.metrics


def test_iq_baselines_are_the_seed_configuration_and_the_true_kernel():
    report = run_baselines(BaselineConfig(space="iq_combiner", sets={"n_train": "256"}, epochs=1))
    rows = {r.name: r for r in report.rows}
    assert set(rows) == {"seed_config", "true_kernel", "true_kernel_plus_1e-4"}
    assert rows["seed_config"].params["loss"] == "mse" and rows["seed_config"].params["optimizer"] == "sgd"
    assert rows["true_kernel"].metrics["val_circ_mse"] < 1e-9
    assert rows["true_kernel"].metrics["kernel_cosine_I"] == pytest.approx(1.0)
    assert rows["seed_config"].metrics["val_circ_mse"] > 0.5 and rows["seed_config"].metrics["success"] == 0.0


@pytest.mark.parametrize("args, message", [
    (["iq_combiner", "--cv"], "--cv needs a space with a 'fold' setting"),
    (["prototype_rbf", "--set", "kernel=rbf"], "baselines take space settings only; accepted: dataset, fold"),
    (["prototype_rbf", "--set", "dataset=mnist"], "Invalid --set dataset=mnist; accepted: digits, iris"),
    (["bounded_activation"], "defines no baselines"),
    (["prototype_rbf", "--trial", "best"], "needs study 'prototype_rbf', which does not exist"),
    (["prototype_rbf", "--trial", "first"], "Invalid --trial 'first'; accepted: a trial number or 'best'"),
])
def test_bad_baseline_usage_is_one_line_and_exit_2(run_cli, args, message):
    code, out, err = run_cli("baseline", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
