"""The ``search`` CLI run in the test process, for module-scoped fixtures (``run_cli`` is per test)."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest


def search(*args: object) -> tuple[int, str, str]:
    """Runs the ``search`` CLI in this process on the given stores; returns (exit code, stdout, stderr)."""
    from search.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(out), redirect_stderr(err):
        mp.setattr(sys, "argv", ["search", *map(str, args)])
        for name in ("SEARCH_STORAGE", "MLFLOW_TRACKING_URI"):
            mp.delenv(name, raising=False)
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()
