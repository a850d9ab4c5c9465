"""The architecture contracts of pyproject.toml (import-linter): kept by the code, and live.

The layers, the absence of import cycles and what the shipped spaces may import are
checked on the real tree; then on a copy with one import against the layer order, which
must break them (a contract that nothing can break guards nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Runs import-linter on the tree at ``root`` with its own pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())", "--no-cache", "--no-logo"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )


def test_the_code_keeps_every_architecture_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    for contract in ("No import cycles", "The harness in layers", "search.layers imports nothing of the harness",
                     "The shipped spaces import only the space author's face"):
        assert contract in result.stdout


def test_an_import_against_the_layer_order_breaks_the_contracts(tmp_path):
    for name in ("search", "spaces"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    oracle = tmp_path / "search" / "engine" / "oracle.py"
    oracle.write_text(oracle.read_text() + "\n\ndef _back_up():\n    from search.study.run import run_study  # noqa\n")
    space = tmp_path / "spaces" / "iq_combiner.py"
    space.write_text(space.read_text() + "\n\nfrom search.study.config import StudyConfig  # noqa\n")

    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "search.engine.oracle -> search.study.run" in result.stdout  # the arrow against the layer order
    assert "No cycles are allowed in search." in result.stdout  # study imports engine: now a cycle
    assert "spaces.iq_combiner -> search.study.config" in result.stdout  # not the space author's face
    assert "3 broken" in result.stdout
