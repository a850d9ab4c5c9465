"""``search ui``: the MLflow UI on the project's store, and a link to each study's trials."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request

from search import storage as storage_mod
from search.errors import UsageError


def ui_command(host: str, port: int, tracking_uri: str, artifact_root: str) -> list[str]:
    """The ``mlflow server`` command line serving ``tracking_uri``."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", tracking_uri, "--registry-store-uri", tracking_uri,
        "--default-artifact-root", artifact_root,
        "--host", host, "--port", str(port),
        "--workers", "1",
    ]


def links(tracking_uri: str, address: str, study: str | None = None) -> dict[str, str]:
    """``{study: link}`` to each study's trials (or only ``study``'s) on the UI at ``address``."""
    from search.tracking import views
    from search.tracking.client import client

    found = views.study_links(client(tracking_uri), tracking_uri)
    if study is not None:
        if study not in found:
            known = ", ".join(sorted(found)) or "none yet"
            raise UsageError(f"No study {study!r} in {storage_mod.mask_password(tracking_uri)}; studies: {known}.")
        found = {study: found[study]}
    return {name: views.with_base(link, address) for name, link in found.items()}


def serve(host: str, port: int, home: str | None = None, tracking_uri: str | None = None,
          study: str | None = None, open_browser: bool = False) -> int:
    """Prints the studies' links, then runs the MLflow UI in the foreground until Ctrl-C;
    returns its exit code. ``open_browser``: open the (first) link once the UI answers."""
    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {port}.")
    loc = storage_mod.resolve(home, None, tracking_uri)
    if loc.tracking_uri.startswith(("http://", "https://")):
        raise UsageError(
            f"The tracking URI {storage_mod.mask_password(loc.tracking_uri)} is already an MLflow server; "
            "open it in a browser."
        )
    loc.home.mkdir(parents=True, exist_ok=True)
    address = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    found = links(loc.tracking_uri, address, study)
    log = loc.home / "ui.log"
    print(f"MLflow UI on {address} for {storage_mod.mask_password(loc.tracking_uri)} (Ctrl-C stops it; "
          f"its log: {log})", file=sys.stderr, flush=True)
    for name, link in found.items():
        print(f"{name}  {link}", flush=True)
    with open(log, "ab") as out:  # the server's own lines, kept out of the terminal
        proc = subprocess.Popen(ui_command(host, port, loc.tracking_uri, loc.artifact_root),
                                stdout=out, stderr=subprocess.STDOUT)
    if open_browser:
        target = next(iter(found.values()), address)
        threading.Thread(target=_open_when_up, args=(address, target, proc), daemon=True).start()
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
    if code:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(empty log)"]
        print(f"the MLflow server stopped with exit code {code}: {tail[0]} (see {log})", file=sys.stderr)
    return code


def _open_when_up(address: str, link: str, proc: subprocess.Popen, wait: float = 60.0) -> None:
    import webbrowser

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{address}/health", timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    else:
        return
    if not webbrowser.open(link):
        print("no browser found here; open the link above", file=sys.stderr, flush=True)
