"""Quiet output: no TensorFlow/absl C++ lines and no library warnings on any command's stderr
(unless SEARCH_DEBUG=1), and the doctor's findings said once per trial and once per study."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_SPACES

SEARCH = str(Path(sys.executable).parent / "search")
NOISE = re.compile(r"I0000|W0000|E0000|oneDNN|cudart|cuInit|absl|Warning|warnings\.warn|Traceback|retracing|"
                   r"Registry store URI")
SPACE = str(TEST_SPACES / "unused_weight.py")


def _search(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    # A module-scoped fixture runs before conftest's isolated_home clears what other tests left set.
    cleared = ("SEARCH_DEBUG", "TF_CPP_MIN_LOG_LEVEL", "MLFLOW_TRACKING_URI", "SEARCH_STORAGE", "SEARCH_DEVICE")
    env = {k: v for k, v in os.environ.items() if k not in cleared}
    return subprocess.run([SEARCH, *args], env={**env, "SEARCH_HOME": str(home)}, capture_output=True,
                          text=True, timeout=timeout)


def _quiet(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    noisy = [line for line in done.stderr.splitlines() if NOISE.search(line)]
    assert not noisy, noisy


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A study of a space whose weight gets no gradient (Keras warns about it every step)."""
    home = tmp_path_factory.mktemp("quiet") / "home"
    done = _search(home, "run", SPACE, "--study", "quiet", "--trials", "2", "--epochs", "2", "--pruner", "none")
    _quiet(done)
    lines = [line for line in done.stderr.splitlines() if line.startswith("trial ")]
    assert len(lines) == 2 and all(" COMPLETE val_loss=" in line and
                                   "· no gradient: sequential/threshold_bump/threshlevel" in line for line in lines)
    assert "doctor  no gradient: sequential/threshold_bump/threshlevel (in 2 of 2 trials" in done.stdout
    _quiet(_search(home, "run", str(TEST_SPACES / "tiny.py"), "--study", "quiet-tiny", "--trials", "1",
                   "--epochs", "1"))  # a space whose model saves, for export
    return home


@pytest.mark.parametrize("args", [
    ["trials", "quiet"], ["best", "quiet"], ["spaces"], ["reconcile", "quiet"], ["worker", "quiet"],
    ["export", "quiet-tiny", "--out", "{home}/model.keras"], ["report", "quiet", "--out", "{home}/quiet.html"],
    ["reproduce", "quiet-tiny", "0"],
    ["baseline", "prototype_rbf", "--set", "dataset=iris", "--epochs", "1"],
    ["compare", str(TEST_SPACES / "tiny.py"), "--samplers", "default,kt-random", "--budget-trials", "2"],
], ids=lambda args: args[0])  # `run --workers 2`: tests/study/test_devices.py
def test_a_command_writes_no_library_lines_to_stderr(home, args):
    _quiet(_search(home, *(a.format(home=home) for a in args)))


def test_ui_writes_one_line_and_keeps_the_server_log_in_the_home(home):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SEARCH_HOME": str(home)}
    proc = subprocess.Popen([SEARCH, "ui", "quiet", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("quiet  http://127.0.0.1:")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    err = proc.stderr.read()
    assert err.startswith("MLflow UI on http://127.0.0.1:") and err.count("\n") == 1, err


def test_search_debug_shows_the_library_warnings(tmp_path):
    env = {**os.environ, "SEARCH_HOME": str(tmp_path / "home"), "SEARCH_DEBUG": "1"}
    done = subprocess.run([SEARCH, "run", SPACE, "--trials", "1", "--epochs", "1", "--pruner", "none"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Gradients do not exist for variables" in done.stderr
