"""``search ui``: the MLflow UI on the project's store."""

from __future__ import annotations

import subprocess
import sys

from search import storage as storage_mod
from search.errors import UsageError


def ui_command(host: str, port: int, tracking_uri: str, artifact_root: str) -> list[str]:
    """The ``mlflow server`` command line serving ``tracking_uri``."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", tracking_uri,
        "--default-artifact-root", artifact_root,
        "--host", host, "--port", str(port),
        "--workers", "1",
    ]


def serve(host: str, port: int, home: str | None = None, tracking_uri: str | None = None) -> int:
    """Runs the MLflow UI in the foreground until Ctrl-C; returns its exit code."""
    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {port}.")
    loc = storage_mod.resolve(home, None, tracking_uri)
    if loc.tracking_uri.startswith(("http://", "https://")):
        raise UsageError(
            f"The tracking URI {storage_mod.mask_password(loc.tracking_uri)} is already an MLflow server; "
            "open it in a browser."
        )
    loc.home.mkdir(parents=True, exist_ok=True)
    print(f"MLflow UI on http://{host}:{port} for {storage_mod.mask_password(loc.tracking_uri)} (Ctrl-C stops it)",
          file=sys.stderr, flush=True)
    proc = subprocess.Popen(ui_command(host, port, loc.tracking_uri, loc.artifact_root))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
