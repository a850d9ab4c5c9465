"""The bad-input catalogue (search/README.md): one test per row, asserting the message and the exit code.

Each case leaves every store untouched (nothing written) or consistent (nothing RUNNING).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest


def _nothing_written(home) -> bool:
    return not (home / "optuna.db").exists() and not (home / "mlflow.db").exists()


def _space(tmp_path, text: str) -> str:
    path = tmp_path / "space_under_test.py"
    path.write_text(text)
    return str(path)


def _fails(run_cli, args, message, home):
    code, out, err = run_cli(*args)
    assert code == 2, (out, err)
    assert err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert _nothing_written(home)
    return err


def test_missing_space_file(run_cli, isolated_home):
    _fails(run_cli, ["run", "no/such/space.py"], "Space file 'no/such/space.py' does not exist.", isolated_home)


def test_space_with_a_syntax_error(run_cli, isolated_home, tmp_path):
    path = _space(tmp_path, "def build(hp):\n    return (\n")
    _fails(run_cli, ["run", path], "has a syntax error at line 2", isolated_home)


def test_space_without_build(run_cli, isolated_home, tmp_path):
    path = _space(tmp_path, "def load_data(seed):\n    return None\n")
    _fails(run_cli, ["run", path], "defines no build(hp) function", isolated_home)


def test_build_raising_for_some_trials_fails_those_and_the_study_goes_on(run_cli, space_path):
    code, out, err = run_cli("run", space_path("flaky"), "--study", "f", "--trials", "6", "--epochs", "1",
                             "--sampler", "random")
    assert code == 0, err
    rows = json.loads(run_cli("trials", "f", "--format", "json")[1])
    states = {r["state"] for r in rows}
    assert states == {"COMPLETE", "FAIL"}
    assert all("boom: this configuration cannot be built" in r["reason"] for r in rows if r["state"] == "FAIL")


@pytest.mark.parametrize(("option", "value", "accepted"), [
    ("--sampler", "bogus", "Unknown sampler 'bogus'; accepted: tpe, nsga2, random, cmaes, qmc, grid."),
    ("--pruner", "bogus", "Unknown pruner 'bogus'; accepted: asha, median, percentile, sha, hyperband, wilcoxon, none."),
])
def test_unknown_sampler_or_pruner(run_cli, isolated_home, space_path, option, value, accepted):
    _fails(run_cli, ["run", space_path("tiny"), option, value], accepted, isolated_home)


@pytest.mark.parametrize(("assignment", "message"), [
    ("depth=3", "Unknown --set name 'depth' for space 'tiny'; accepted: activation, lr, noise, units."),
    ("units=99", "Invalid --set units=99; accepted: 2 to 8."),
    ("activation=gelu", "Invalid --set activation=gelu; accepted: relu, tanh."),
    ("noise=0.5", "Invalid --set noise=0.5; accepted: 0.1, 0.0."),
])
def test_invalid_set(run_cli, isolated_home, space_path, assignment, message):
    _fails(run_cli, ["run", space_path("tiny"), "--set", assignment], message, isolated_home)


def test_malformed_storage_url(run_cli, isolated_home, space_path):
    _fails(run_cli, ["run", space_path("tiny"), "--storage", "mysqlx:/nope"], "Malformed storage URL 'mysqlx:/nope'",
           isolated_home)


def test_unreachable_storage_names_it_without_the_password(run_cli, isolated_home, space_path):
    err = _fails(run_cli, ["run", space_path("tiny"), "--storage", "postgresql://me:hunter2@127.0.0.1:1/db"],
                 "Cannot open storage 'postgresql://me:***@127.0.0.1:1/db'", isolated_home)
    assert "hunter2" not in err


def test_unreachable_tracking_server_stops_before_anything_is_written(run_cli, isolated_home, space_path):
    _fails(run_cli, ["run", space_path("tiny"), "--tracking-uri", "http://127.0.0.1:1"],
           "Cannot reach the MLflow tracking server http://127.0.0.1:1", isolated_home)


@pytest.mark.parametrize(("data", "message"), [
    ("x = np.array([['a', 'b']] * 8)", "load_data returned non-numeric x (dtype <U1); expected numbers."),
    ("x = np.ones((8, 2)); x[1, 1] = np.inf", "load_data returned x with 1 NaN or infinite values"),
    ("x = np.ones((8, 2), dtype=object)", "load_data returned non-numeric x (dtype object); expected numbers."),
])
def test_non_numeric_or_nan_data(run_cli, isolated_home, tmp_path, data, message):
    path = _space(tmp_path, (
        "import numpy as np\n"
        "def load_data(seed):\n"
        f"    {data}\n"
        "    y = np.zeros((8, 1))\n"
        "    return (x, y), (x, y)\n"
        "def build(hp):\n"
        "    raise AssertionError('never built')\n"
    ))
    _fails(run_cli, ["run", path], message, isolated_home)


def _data_space(tmp_path, data: str, layers: str = "keras.layers.Dense(1)", loss: str = "'mse'",
                objective: str = "val_loss", metrics: str = "[]") -> str:
    """A space whose load_data runs ``data`` (rows of 4 features unless it says otherwise) and whose
    model is Input((4,)), Dense(units) and ``layers``, compiled with ``loss`` and ``metrics``."""
    return _space(tmp_path, (
        "import numpy as np\n"
        f"OBJECTIVE = {objective!r}\n"
        "def load_data(seed):\n"
        "    x = np.random.default_rng(seed).standard_normal((40, 4)); y = np.zeros((40, 1))\n"
        f"    {data}\n"
        "    return (x, y), (x_val, y_val)\n"
        "def build(hp):\n"
        "    import keras\n"
        f"    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int('units', 2, 4)), {layers}])\n"
        f"    model.compile('sgd', {loss}, metrics={metrics})\n"
        "    return model\n"
    ))


@pytest.mark.parametrize(("data", "message"), [
    ("y = y[:30]; x_val, y_val = x[:8], y[:8]",
     "load_data returned x with 40 rows but y with 30; expected the same number of rows."),
    ("x_val, y_val = x[:8], y[:7]",
     "load_data returned x_val with 8 rows but y_val with 7; expected the same number of rows."),
    ("x = [x, x[:30]]; x_val, y_val = [a[:8] for a in x], y[:8]",
     "load_data returned x[1] with 30 rows but x[0] with 40; expected every part of x to have the same number "
     "of rows."),
    ("x_val, y_val = x[:0], y[:0]", "load_data returned x_val with 0 rows; expected at least one validation row."),
])
def test_arrays_that_disagree_in_rows_or_an_empty_validation_set(run_cli, isolated_home, tmp_path, data, message):
    _fails(run_cli, ["run", _data_space(tmp_path, data)], message, isolated_home)


def test_data_the_default_model_does_not_accept(run_cli, isolated_home, tmp_path):
    path = _data_space(tmp_path, "x = np.ones((40, 7)); x_val, y_val = x[:8], y[:8]")
    err = _fails(run_cli, ["run", path], "the model built with the default hyperparameters does not accept x_val of "
                 "shape (4, 7): Input 0", isolated_home)
    assert "expected axis -1 of input shape to have value 4" in err


def test_labels_outside_the_classes_the_model_outputs(run_cli, isolated_home, tmp_path):
    path = _data_space(tmp_path, "y = np.arange(40) % 10; x_val, y_val = x[:8], y[:8]",
                       layers="keras.layers.Dense(3)", loss="keras.losses.SparseCategoricalCrossentropy(from_logits=True)")
    _fails(run_cli, ["run", path], "load_data returned y with labels 0 to 9, but the model built with the default "
           "hyperparameters outputs shape (4, 3) and its loss sparse_categorical_crossentropy expects labels 0 to 2.",
           isolated_home)


def test_one_hot_labels_wider_than_the_models_output(run_cli, isolated_home, tmp_path):
    path = _data_space(tmp_path, "y = np.eye(5)[np.arange(40) % 5]; x_val, y_val = x[:8], y[:8]",
                       layers="keras.layers.Dense(3)", loss="'categorical_crossentropy'")
    _fails(run_cli, ["run", path], "the model built with the default hyperparameters cannot train on x of shape "
           "(8, 4) and y of shape (8, 5): Arguments `target` and `output` must have the same shape.", isolated_home)


def test_a_build_returning_an_uncompiled_model(run_cli, isolated_home, tmp_path):
    path = _space(tmp_path, (
        "import numpy as np\n"
        "def load_data(seed):\n"
        "    x = np.ones((8, 4)); y = np.ones((8, 1))\n"
        "    return (x, y), (x, y)\n"
        "def build(hp):\n"
        "    import keras\n"
        "    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int('units', 1, 4))])\n"
    ))
    _fails(run_cli, ["run", path], "build(hp) of space 'space_under_test' returned a model that is not compiled; "
           "expected model.compile(optimizer, loss, metrics) before it is returned.", isolated_home)


def test_an_objective_the_model_does_not_log(run_cli, isolated_home, tmp_path):
    path = _data_space(tmp_path, "y = np.arange(40) % 3; x_val, y_val = x[:8], y[:8]", layers="keras.layers.Dense(3)",
                       loss="keras.losses.SparseCategoricalCrossentropy(from_logits=True)", objective="val_accurcy",
                       metrics="['accuracy']")
    _fails(run_cli, ["run", path], "objective 'val_accurcy' is not a metric the model logs; it logs: loss, accuracy, "
           "val_loss, val_accuracy (and the harness measures params, model_bytes, latency_ms).", isolated_home)


@pytest.mark.parametrize(("args", "message"), [
    (["--constraint", "params<<3"], "Invalid constraint 'params<<3'; expected METRIC<=BOUND"),
    (["--constraint", "params<=many"], "Invalid constraint 'params<=many'"),
    (["--constraint", "val_los<=3"], "constraint 'val_los' is not a metric the model logs; it logs: loss, val_loss"),
    (["--objective", "val_loss:up"], "Invalid --objective 'val_loss:up'; expected METRIC or METRIC:min|max"),
    (["--objective", "val_loss", "--objective", "val_loss:min"], "Objective 'val_loss' is given twice"),
    (["--objective", "val_loss", "--objective", "params", "--sampler", "cmaes"],
     "--sampler cmaes searches a single objective; with several, use one of: tpe, nsga2, random, qmc, grid."),
    (["--objective", "val_loss", "--objective", "params", "--target", "0.5"], "--target needs a single objective"),
    (["--objective", "val_loss", "--objective", "latency"], "objective 'latency' is not a metric the model logs"),
])
def test_bad_objectives_and_constraints(run_cli, isolated_home, space_path, args, message):
    _fails(run_cli, ["run", space_path("tiny"), *args], message, isolated_home)


@pytest.mark.parametrize("command", [["run", "tiny"], ["ui"], ["compare", "tiny", "--budget-trials", "1"],
                                     ["baseline", "tiny"], ["trials", "tiny"]])
def test_a_home_that_is_a_file(run_cli, isolated_home, tmp_path, space_path, command):
    home = tmp_path / "not_a_folder"
    home.write_text("mine")
    args = [space_path(c) if c == "tiny" else c for c in command]
    _fails(run_cli, [*args, "--home", home], f"--home {home} is a file; expected a folder (it is created if missing).",
           isolated_home)
    assert home.read_text() == "mine"
    _fails(run_cli, [*args, "--home", home / "sub"], f"--home {home / 'sub'} lies inside the file {home}; expected "
           "a folder (it is created if missing).", isolated_home)


@pytest.mark.parametrize(("option", "value"), [("--trials", "0"), ("--trials", "-3"), ("--epochs", "0")])
def test_non_positive_trials_or_epochs(run_cli, isolated_home, space_path, option, value):
    _fails(run_cli, ["run", space_path("tiny"), option, value],
           f"{option} must be a positive integer, got {value}.", isolated_home)


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "0"], "--seeds must be a positive integer, got 0."),
    (["--top", "0"], "--top must be a positive integer, got 0."),
    (["--workers", "0"], "--workers must be a positive integer, got 0."),
    (["--trials", "3,seven"], "Invalid --trials '3,seven'; expected trial numbers such as 3,7,12."),
])
def test_confirm_options_refused_before_any_store_is_opened(run_cli, isolated_home, args, message):
    _fails(run_cli, ["confirm", "any", *args], message, isolated_home)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root (CI runs as root)")
def test_disk_full_while_writing_artifacts_keeps_every_trial(run_cli, isolated_home, space_path):
    artifacts = isolated_home / "artifacts"
    artifacts.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(artifacts)], check=True)
    try:
        code, out, err = run_cli("run", space_path("big_artifact"), "--study", "full", "--trials", "3",
                                 "--epochs", "1", "--pruner", "none")
    finally:
        subprocess.run(["umount", "-l", str(artifacts)], check=False)
    assert code == 0, err
    assert "study full: 3 complete" in out
    assert "warning: could not store artifact big.bin" in err and "No space left on device" in err
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{isolated_home / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("full").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    trial_runs = [r for r in runs if r.data.tags.get("search.role") == "trial"]
    assert len(trial_runs) == 3 and all(r.info.status == "FINISHED" for r in trial_runs)
    assert any("No space left on device" in r.data.tags.get("search.artifact_error", "") for r in trial_runs)


def test_compare_refuses_a_space_of_several_objectives(run_cli, isolated_home, space_path):
    _fails(run_cli, ["compare", space_path("two_objectives"), "--budget-trials", "1"],
           "Space 'two_objectives' has several objectives (val_loss (min), params (min)); search compare times "
           "searches to one objective's target.", isolated_home)
