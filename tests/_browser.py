"""A real headless browser for the tests: Debian's Chromium, installed with apt-get if absent."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess

import pytest

_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _find() -> str | None:
    return next((path for path in map(shutil.which, _NAMES) if path), None)


def chromium() -> str:
    """The browser's path; installs Debian's ``chromium`` package when missing, else skips
    the test with the reason (not root, or apt-get failed)."""
    found = _find()
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("Chromium is not installed and the tests are not root: apt-get install chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"Chromium could not be installed ({' '.join(args)}): {done.stderr.strip()[-300:]}")
    found = _find()
    if not found:
        pytest.skip("apt-get installed chromium but no chromium binary is on PATH")
    return found


def dump_dom(url: str, wait_ms: int = 20000) -> str:
    """The DOM of ``url`` after its scripts ran (headless, ``wait_ms`` of virtual time)."""
    done = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--window-size=1920,1080", f"--virtual-time-budget={wait_ms}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def visible_text(dom: str) -> list[str]:
    """The page's text, one stripped line per element, scripts and styles left out."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>", "", dom, flags=re.S)
    return [line.strip() for line in html.unescape(re.sub(r"<[^>]+>", "\n", text)).split("\n") if line.strip()]
