"""One accelerator per local worker: the assignment (tested on CPU, GPUs named through
CUDA_VISIBLE_DEVICES) and what each trial records of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from search.errors import UsageError
from search.study.devices import assign, device_env, device_label, parse_devices, visible_gpus
from tests.test_quiet import NOISE

SEARCH = str(Path(sys.executable).parent / "search")


@pytest.mark.parametrize("visible, workers, devices, expected", [
    ("0,1", 3, None, ["0", "1", "0"]),  # worker i gets GPU i mod G
    ("0,1,2,3", 2, "2,3", ["2", "3"]),
    ("0,1", 3, "1", ["1", "1", "1"]),  # both on one
    ("0,1", 2, "cpu", ["", ""]),  # the GPUs hidden
    ("", 2, None, [None, None]),  # no GPU: nothing changes
])
def test_each_worker_gets_the_gpu_its_index_mod_their_number(monkeypatch, visible, workers, devices, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert assign(workers, parse_devices(devices)) == expected


def test_the_environment_of_a_worker_pins_its_gpu_with_memory_growth():
    assert device_env("1") == {"CUDA_VISIBLE_DEVICES": "1", "TF_FORCE_GPU_ALLOW_GROWTH": "true", "SEARCH_DEVICE": "gpu:1"}
    assert device_env("") == {"CUDA_VISIBLE_DEVICES": "", "TF_FORCE_GPU_ALLOW_GROWTH": "true", "SEARCH_DEVICE": "cpu"}
    assert device_env(None) == {"SEARCH_DEVICE": "cpu"}


def test_the_label_is_the_assignment_else_the_visible_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.delenv("SEARCH_DEVICE", raising=False)
    assert visible_gpus() == ["3"] and device_label() == "gpu:3"
    monkeypatch.setenv("SEARCH_DEVICE", "gpu:0")
    assert device_label() == "gpu:0"


@pytest.mark.parametrize("spec, message", [
    ("x", "Invalid --devices 'x'; expected 'cpu' or GPU ids such as 0,1."),
    ("0,", "Invalid --devices '0,'; expected 'cpu' or GPU ids such as 0,1."),
    ("2", "--devices 2: no GPU 2 here; GPUs visible: 0, 1."),
])
def test_bad_devices_are_refused_naming_what_is_accepted(monkeypatch, spec, message):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(UsageError) as e:
        parse_devices(spec)
    assert str(e.value) == message


def test_devices_of_a_machine_without_gpus_are_refused_before_anything_is_written(run_cli, space_path, isolated_home):
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    if visible_gpus():
        pytest.skip("this machine has GPUs")
    code, out, err = run_cli("run", space_path("tiny"), "--devices", "0")
    assert (code, out, err) == (2, "", "error: --devices 0: no GPU 0 here; GPUs visible: none.\n")
    assert not isolated_home.exists()


def test_two_local_workers_record_their_gpus_on_each_trial_and_run(space_path, tmp_path):
    """On this CPU machine the two GPUs are names only: TensorFlow finds none and trains on the
    CPU, while every process records the GPU it was given."""
    env = {**os.environ, "SEARCH_HOME": str(tmp_path / "home"), "CUDA_VISIBLE_DEVICES": "0,1"}
    env.pop("SEARCH_DEVICE", None)
    done = subprocess.run([SEARCH, "run", space_path("tiny"), "--study", "gpus", "--trials", "6", "--epochs", "2",
                           "--workers", "2", "--pruner", "none"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = json.loads(subprocess.run([SEARCH, "trials", "gpus", "--format", "json"], env=env, capture_output=True,
                                       text=True, timeout=120).stdout)
    by_device = {t["device"] for t in trials}
    assert by_device == {"gpu:0", "gpu:1"}, trials
    lines = [line for line in done.stderr.splitlines() if line.startswith("trial ")]
    assert len(lines) == 6 and all(" · gpu:" in line for line in lines)
    assert not [line for line in done.stderr.splitlines() if NOISE.search(line)]  # quiet with workers too
    client = MlflowClient(f"sqlite:///{tmp_path}/home/mlflow.db")
    experiment = client.get_experiment_by_name("gpus")
    runs = client.search_runs([experiment.experiment_id], "tags.`search.role` = 'trial'")
    assert {r.data.tags["search.device"] for r in runs} == {"gpu:0", "gpu:1"}
