"""The search CLI: commands, formats, exit codes, one-line errors, the MLflow UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SEARCH = str(Path(sys.executable).parent / "search")


def test_help_is_fast_and_imports_no_tensorflow():
    started = time.monotonic()
    out = subprocess.run([SEARCH, "--help"], capture_output=True, text=True, check=True)
    assert "run" in out.stdout and "best" in out.stdout and "ui" in out.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, search.cli; print('tensorflow' in sys.modules, 'keras' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    assert probe.stdout.split() == ["False", "False"]
    assert time.monotonic() - started < 10  # generous: the figure itself is in the benchmarks


def test_run_trials_best_from_the_cli(run_cli, space_path):
    code, out, err = run_cli("run", space_path("tiny"), "--study", "cli", "--trials", "3", "--epochs", "2",
                             "--sampler", "random", "--pruner", "none", "--set", "activation=tanh")
    assert code == 0, err
    assert "study cli: 3 complete, 0 pruned, 0 failed; best" in out

    code, out, _ = run_cli("trials", "cli")
    assert code == 0
    assert out.splitlines()[0].split()[:5] == ["number", "state", "value", "params", "duration_s"]
    assert out.count("COMPLETE") == 3

    code, out, _ = run_cli("trials", "cli", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("number,state,value,params,duration_s,mlflow_run_id")
    assert len(out.splitlines()) == 4

    code, out, _ = run_cli("trials", "cli", "--format", "json")
    rows = json.loads(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert all(r["params"]["activation"] == "tanh" for r in rows)

    code, out, _ = run_cli("best", "cli", "--format", "json")
    best = json.loads(out)
    assert code == 0
    assert {"study", "trial", "value", "params", "mlflow_run_id"} <= set(best)
    assert best["value"] == min(r["value"] for r in rows)
    code, out, _ = run_cli("best", "cli")
    assert code == 0 and f"trial         {best['trial']}" in out


def test_the_console_script_ends_quickly_with_its_output_and_exit_code(space_path, tmp_path):
    # The script skips Python's slow shutdown once TensorFlow is loaded (search.cli.console):
    # what it printed into a pipe, its exit code and its stores must all be intact.
    import optuna
    from mlflow import MlflowClient

    home = tmp_path / "home"
    started = time.monotonic()
    done = subprocess.run([SEARCH, "run", space_path("tiny"), "--study", "quick", "--trials", "2", "--epochs", "1",
                           "--home", str(home)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "study quick: 2 complete" in done.stdout and "mlflow" in done.stdout
    assert done.stdout.endswith("\n")  # flushed to the end
    study = optuna.load_study(study_name="quick", storage=f"sqlite:///{home}/optuna.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("quick").experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3  # the parent and two trials
    assert time.monotonic() - started < 120

    refused = subprocess.run([SEARCH, "run", space_path("tiny"), "--trials", "0", "--home", str(home)],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1


def test_spaces_lists_the_shipped_spaces_with_their_hyperparameters(run_cli):
    code, out, _ = run_cli("spaces")
    assert code == 0
    assert "iq_combiner:" in out
    assert "setting target: atan2 | add | multiply (default atan2)" in out
    assert "  combiner: add | multiply | atan2 (default atan2)" in out
    assert "  learning_rate: float 0.0001 to 0.1, log (default 0.01)" in out
    assert "  threshold: float 0.1 to 4.0, log (default 1.0) when activation in {truncation}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "tiny_missing.py"], "Space file 'tiny_missing.py' does not exist."),
        (["run", "nope"], "Unknown space 'nope'; accepted: "),
        (["run", "iq_combiner", "--sampler", "bogus"], "Unknown sampler 'bogus'; accepted: tpe, nsga2, random, cmaes, qmc, grid."),
        (["run", "iq_combiner", "--pruner", "bogus"], "Unknown pruner 'bogus'; accepted: asha, median, percentile, sha, hyperband, wilcoxon, none."),
        (["run", "iq_combiner", "--trials", "0"], "--trials must be a positive integer, got 0."),
        (["run", "iq_combiner", "--epochs", "-1"], "--epochs must be a positive integer, got -1."),
        (["run", "iq_combiner", "--set", "target"], "Invalid --set 'target'; expected NAME=VALUE."),
        (["run", "iq_combiner", "--set", "target=sine"], "Invalid --set target=sine; accepted: atan2, add, multiply."),
        (["run", "iq_combiner", "--storage", "bogus://x"], "Malformed storage URL 'bogus://x'"),
        (["trials", "nope"], "Unknown study 'nope'"),
        (["best", "nope"], "Unknown study 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_cli, args, message, isolated_home):
    code, out, err = run_cli(*args)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (isolated_home / "optuna.db").exists() or args[0] != "run"


def test_best_of_a_study_without_completed_trials_is_exit_2(run_cli, tmp_path):
    import optuna

    from search import storage

    optuna.create_study(study_name="empty", storage=storage.open_storage(storage.resolve().storage_url))
    code, _, err = run_cli("best", "empty")
    assert code == 2 and "Study 'empty' has no completed trial yet." in err


def test_storage_and_tracking_options_override_the_home(run_cli, space_path, tmp_path):
    storage = f"sqlite:///{tmp_path / 'elsewhere' / 'o.db'}"
    tracking = f"sqlite:///{tmp_path / 'elsewhere' / 'm.db'}"
    code, _, err = run_cli("run", space_path("tiny"), "--trials", "1", "--epochs", "1",
                           "--storage", storage, "--tracking-uri", tracking)
    assert code == 0, err
    assert (tmp_path / "elsewhere" / "o.db").is_file() and (tmp_path / "elsewhere" / "m.db").is_file()
    code, out, _ = run_cli("best", "tiny", "--storage", storage, "--format", "json")
    assert code == 0 and json.loads(out)["study"] == "tiny"


def test_an_unexpected_failure_is_one_line_naming_its_type_and_the_traceback_is_on_request(monkeypatch, capsys):
    """SQLAlchemy's errors run on over many lines (the SQL, its parameters, a link): only the first is shown."""
    import signal

    import search.cli

    def fails(args=None):
        raise RuntimeError("(sqlite3.OperationalError) table assessments already exists\n[SQL: \nCREATE TABLE assessments (\n]\n")

    monkeypatch.setattr(search.cli, "app", fails)
    monkeypatch.delenv("SEARCH_DEBUG", raising=False)
    previous = signal.getsignal(signal.SIGTERM)  # main() installs its own
    try:
        with pytest.raises(SystemExit) as exited:
            search.cli.main()
        assert exited.value.code == 1
        assert capsys.readouterr().err.splitlines() == [
            "error: RuntimeError: (sqlite3.OperationalError) table assessments already exists "
            "(set SEARCH_DEBUG=1 for the traceback)"
        ]
        monkeypatch.setenv("SEARCH_DEBUG", "1")
        with pytest.raises(RuntimeError):
            search.cli.main()
    finally:
        signal.signal(signal.SIGTERM, previous)
