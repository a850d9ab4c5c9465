"""``search compare``: the report's fields, its MLflow runs, and bad input (one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from search.compare import METHOD_NAMES, CompareConfig
from search.errors import UsageError

SEARCH = str(Path(sys.executable).parent / "search")


def test_compare_reports_each_method_and_logs_nested_runs(run_cli, space_path, isolated_home):
    code, out, err = run_cli(
        "compare", space_path("tiny"), "--samplers", "random,kt-random", "--budget-trials", "2",
        "--epochs", "2", "--target", "1000", "--format", "json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["experiment"] == "compare-tiny" and report["objective"] == "val_loss"
    assert [m["method"] for m in report["methods"]] == ["random", "kt-random"]
    for m in report["methods"]:
        assert m["trials"] == 2 and m["epochs"] == 4  # same budget and epochs for both
        assert m["reached"] == 1 and m["trials_to_target"] == 1 and m["epochs_to_target"] == 2
        assert 0 < m["time_to_target"] <= m["seconds"] and m["best_value"] > 0
    assert "random repeat 0: 2 trials, 4 epochs" in err

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{isolated_home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("compare-tiny")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_id == report["parent_run_id"])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert {r.info.run_name for r in children} == {"random", "kt-random"}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert parent.data.params["samplers"] == "random,kt-random" and parent.data.params["epochs"] == "2"
    child = next(r for r in children if r.info.run_name == "random")
    assert child.data.metrics["trials"] == 2 and child.data.metrics["reached"] == 1
    assert len(client.get_metric_history(child.info.run_id, "best_so_far_r0")) == 2
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"best_so_far_vs_time.png", "compare.json"} <= artifacts


def test_table_output_names_every_method(run_cli, space_path):
    code, out, err = run_cli("compare", space_path("tiny"), "--samplers", "tpe", "--budget-trials", "1", "--epochs", "1")
    assert code == 0, err
    assert "tpe" in out and "best val_loss" in out and "experiment compare-tiny" in out


def test_kerastuner_hyperband_continuing_a_trial_prints_no_keras_warning(space_path, tmp_path):
    """Hyperband's second round loads its first round's weights; Keras's warning that the
    optimizer's state is not loaded (KerasTuner's design) is not the user's concern. The
    real command: pytest would catch the warning before it reached stderr."""
    out = subprocess.run(
        [SEARCH, "compare", space_path("tiny"), "--samplers", "kt-hyperband", "--budget-trials", "8", "--epochs", "3",
         "--home", str(tmp_path / "home")], capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "kt-hyperband repeat 0: 8 trials" in out.stderr
    assert "Skipping variable loading" not in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samplers", "tpe,kt-grid"], "Unknown sampler 'kt-grid' in --samplers; accepted: " + ", ".join(METHOD_NAMES)),
        (["--budget-trials", "3", "--budget-seconds", "10"], "Give one budget"),
        (["--budget-trials", "0"], "--budget-trials must be a positive integer, got 0"),
        (["--budget-seconds", "-5"], "--budget-seconds must be a positive number, got -5.0"),
        (["--repeats", "0"], "--repeats must be a positive integer, got 0"),
        (["--pruner", "bogus"], "Unknown pruner 'bogus'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run_cli, space_path, isolated_home, args, message):
    code, out, err = run_cli("compare", space_path("tiny"), *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (isolated_home / "mlflow.db").exists()


def test_config_checks_its_values():
    with pytest.raises(UsageError, match="accepted: default, tpe, random"):
        CompareConfig(spaces=("tiny",), methods=("tpe", "bogus"))
    assert CompareConfig(spaces=("tiny",)).trials("tiny") == 10
    assert CompareConfig(spaces=("tiny",), budget_seconds={"": 5}).trials("tiny") is None
