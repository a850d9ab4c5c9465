"""How long ``search report`` takes on a 100-trial study: its functions in one process, and the whole command.

1. Creates the study once (``search run tests/fixture_spaces/tiny.py --trials N --home HOME``)
   and reuses it on later runs.
2. In this process: the first ``write_report`` (MLflow's import and the stores' first
   opening included), then ``--rounds`` timed rounds of reading the stores (``gather``),
   rendering the page (``render``) and both with the atomic write (``write_report``).
3. The whole command, a new process each round as a user runs it, beside ``search best``
   (the same process start, imports and study opening, without MLflow or the page); and
   what a new process pays once for MLflow: its import, and opening its store.

Prints the median, min and max of each.

    .venv/bin/python tests/perf/report_speed.py --rounds 20 --cli-rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEARCH = str(Path(sys.executable).parent / "search")
STUDY = "tiny"


def ensure_study(home: Path, trials: int) -> None:
    """Runs the study of ``trials`` trials in ``home`` unless it is there already."""
    if (home / "optuna.db").exists():
        return
    print(f"creating the {trials}-trial study in {home} (once) ...", flush=True)
    subprocess.run([SEARCH, "run", str(ROOT / "tests" / "fixture_spaces" / "tiny.py"), "--trials", str(trials),
                    "--home", str(home)], check=True, capture_output=True)


def summary(label: str, seconds: list[float]) -> None:
    ms = [1000 * s for s in seconds]
    print(f"{label:<34} median {statistics.median(ms):8.1f} ms   min {min(ms):8.1f}   max {max(ms):8.1f}"
          f"   ({len(ms)} rounds)")


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def in_process(home: Path, out: Path, rounds: int) -> None:
    from search import storage as storage_mod
    from search.records.studies import open_study
    from search.report import gather, render, write_report

    loc = storage_mod.resolve(home)
    study = open_study(STUDY, loc)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    print(f"study {STUDY}: {len(states)} trials ({', '.join(f'{states.count(s)} {s}' for s in sorted(set(states)))})")
    print(f"{'first write_report (cold)':<34} {1000 * timed(write_report, study, loc.tracking_uri, out):8.1f} ms"
          "   (imports MLflow, opens its store)")
    data = gather(study, loc.tracking_uri)
    times: dict[str, list[float]] = {"gather (read the stores)": [], "render (the page)": [],
                                     "write_report (all, atomic write)": []}
    for _ in range(rounds):
        times["gather (read the stores)"].append(timed(gather, study, loc.tracking_uri))
        times["render (the page)"].append(timed(render, data))
        times["write_report (all, atomic write)"].append(timed(write_report, study, loc.tracking_uri, out))
    for label, seconds in times.items():
        summary(label, seconds)
    print(f"page: {out.stat().st_size / 1024:.0f} KiB")


FIRST_MLFLOW = """
import sys, time
started = time.perf_counter()
import mlflow
imported = time.perf_counter()
from search.tracking.client import client
client(sys.argv[1]).search_runs(["0"], max_results=1)
print(f"{imported - started:.3f} {time.perf_counter() - imported:.3f}")
"""


def mlflow_first_costs(home: Path, rounds: int) -> None:
    """What the command pays once for MLflow, in a new process each round: the import, the store's opening."""
    costs = [subprocess.run([sys.executable, "-c", FIRST_MLFLOW, f"sqlite:///{home}/mlflow.db"], check=True,
                            capture_output=True, text=True).stdout.split() for _ in range(rounds)]
    summary("import mlflow (new process)", [float(c[0]) for c in costs])
    summary("open its store, first query", [float(c[1]) for c in costs])


def cli(home: Path, out: Path, rounds: int) -> None:
    commands = {"search report (new process)": [SEARCH, "report", STUDY, "--out", str(out), "--home", str(home)],
                "search best (new process)": [SEARCH, "best", STUDY, "--home", str(home)]}
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(rounds):  # interleaved
        for label, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times[label].append(time.perf_counter() - started)
    for label, seconds in times.items():
        summary(label, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "search-report-speed")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--cli-rounds", type=int, default=5)
    args = parser.parse_args()
    for name in ("SEARCH_HOME", "SEARCH_STORAGE", "MLFLOW_TRACKING_URI"):
        os.environ.pop(name, None)
    ensure_study(args.home, args.trials)
    out = args.home / "report.html"
    in_process(args.home, out, args.rounds)
    cli(args.home, out, args.cli_rounds)
    mlflow_first_costs(args.home, args.cli_rounds)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
