"""``search ui`` and the study links: the MLflow server on the study's store, checked over its
REST API and in a real headless browser."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests._browser import dump_dom, visible_text

SEARCH = str(Path(sys.executable).parent / "search")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _wait_up(proc: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            _get(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui")
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("search ui did not answer on 127.0.0.1") from None
            time.sleep(1)


def _runs(base: str, experiment_id: str) -> list[dict]:
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow/runs/search", data=json.dumps({"experiment_ids": [experiment_id]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["runs"]


def _check_rest(base: str) -> None:
    experiment = _get(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui")["experiment"]
    runs = _runs(base, experiment["experiment_id"])
    roles = sorted(next(t["value"] for t in r["data"]["tags"] if t["key"] == "search.role") for r in runs)
    assert roles == ["study", "trial", "trial", "trial"]
    parent = next(r for r in runs if {"key": "search.role", "value": "study"} in r["data"]["tags"])
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        if tags["search.role"] == "trial":
            assert tags["mlflow.parentRunId"] == parent["info"]["run_id"]
            assert {p["key"] for p in run["data"]["params"]} >= {"units", "lr", "activation"}


def test_ui_prints_each_study_link_and_the_browser_opens_it_on_the_trials_sorted_by_the_objective(
        run_cli, space_path, isolated_home, tmp_path):
    """`--open` opens the link in the default browser: what $BROWSER names (Python's webbrowser), here a
    script that records its URL; the page itself is then loaded in headless Chromium."""
    code, out, err = run_cli("run", space_path("tiny"), "--study", "ui", "--trials", "3", "--epochs", "1",
                             "--pruner", "none")
    assert code == 0, err
    run_link = next(line.split()[1] for line in out.splitlines() if line.startswith("trials "))
    code, out, err = run_cli("trials", "ui", "--format", "json")
    values = {f"trial-{t['number']:04d}": t["value"] for t in json.loads(out)}
    port = _free_port()
    opened, browser = tmp_path / "opened.txt", tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    env = {**os.environ, "SEARCH_HOME": str(isolated_home), "BROWSER": f"{browser} %s"}
    proc = subprocess.Popen([SEARCH, "ui", "--open", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        study, link = proc.stdout.readline().split()
        assert study == "ui" and link.startswith(f"{base}/#/experiments/")
        assert link.split("/#/")[1] == run_link.split("/#/")[1]  # what `search run` printed
        _wait_up(proc, base)
        _check_rest(base)
        page = visible_text(dump_dom(link))
        deadline = time.monotonic() + 30
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert opened.read_text().strip() == link  # --open: the first study's link, once the UI answered
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    assert "Model training" in page and "Sort: val_loss" in page, page[:60]
    assert "val_loss" in page[page.index("Run Name"):]  # a column of the runs table
    names = [line for line in page if line.startswith("trial-")]
    best_first = sorted(values, key=values.get)
    assert names == best_first, (names, values)  # the trials only, best first
    shown = {f"{v:.6g}" for v in values.values()}
    assert shown <= {f"{float(line):.6g}" for line in page if line.replace(".", "", 1).isdigit()}
    assert proc.stderr.read().count("\n") == 1  # its one line; the server's own lines go to ui.log
    assert (isolated_home / "ui.log").stat().st_size > 0


def test_ui_for_an_unknown_study_is_one_line_naming_the_studies(run_cli, space_path):
    code, _, err = run_cli("run", space_path("tiny"), "--study", "known", "--trials", "1", "--epochs", "1")
    assert code == 0, err
    code, out, err = run_cli("ui", "nosuch", "--port", str(_free_port()))
    assert code == 2 and out == ""
    assert err.strip() == f"error: No study 'nosuch' in sqlite:///{Path('home').resolve()}/mlflow.db; studies: known."

