"""The bad-input catalogue (README): one test per row, asserting the message and the exit code.

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
    ("--sampler", "bogus", "Unknown sampler 'bogus'; accepted: tpe, random, cmaes, qmc, grid."),
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


@pytest.mark.parametrize(("option", "value"), [("--trials", "0"), ("--trials", "-3"), ("--epochs", "0")])
def test_non_positive_trials_or_epochs(run_cli, isolated_home, space_path, option, value):
    _fails(run_cli, ["run", space_path("tiny"), option, value],
           f"{option} must be a positive integer, got {value}.", isolated_home)


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
