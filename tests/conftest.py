"""Shared fixtures: every test gets its own stores in a temporary folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TEST_SPACES = Path(__file__).parent / "fixture_spaces"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Points SEARCH_HOME at a temporary folder and clears storage/tracking overrides."""
    home = tmp_path / "home"
    monkeypatch.setenv("SEARCH_HOME", str(home))
    monkeypatch.delenv("SEARCH_STORAGE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def space_path():
    """The path of a test space by name (tests/fixture_spaces/NAME.py)."""
    return lambda name: str(TEST_SPACES / f"{name}.py")


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Runs the ``search`` CLI in this process; returns (exit code, stdout, stderr)."""
    from search.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["search", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
