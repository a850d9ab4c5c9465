"""A real PostgreSQL server on 127.0.0.1 for the tests, installed from Debian's packages if absent."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

USER = "search"
PASSWORD = "s3cret-Pw"


def _bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def ensure_installed() -> Path:
    """The PostgreSQL server's bin folder; installs the `postgresql` package when missing."""
    bindir = _bindir()
    if bindir is None:
        if os.geteuid() != 0:
            raise RuntimeError("PostgreSQL is not installed and the tests are not root: apt-get install postgresql")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env, capture_output=True)
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("apt-get installed postgresql but initdb/pg_ctl were not found")
    return bindir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """Starts a throw-away cluster in ``root``; ``url(db)`` gives a password-protected URL."""

    def __init__(self, root: Path) -> None:
        self.bindir = ensure_installed()
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        # PostgreSQL refuses to run as root: run its commands as the `postgres` user then.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, text=True)

    def start(self) -> Server:
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD)
        if self._as:
            shutil.chown(self.root, "postgres")
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile),
                  "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "log"), "-w", "-t", "60", "start")
        return self

    def createdb(self, name: str) -> str:
        self._run(str(self.bindir / "createdb"), "-h", str(self.root), "-p", str(self.port), "-U", USER, name)
        return self.url(name)

    def url(self, db: str) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True)


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    """Waits until ``url`` answers (an MLflow server starting)."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.5)
