"""The ``search`` command line: each command parses, calls one function, prints.

TensorFlow, Keras, Optuna and MLflow are imported inside command bodies so that
``search --help`` starts at once. The project's own errors become one line on stderr
and exit code 2 (bad usage or input) or 1 (failures); never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from search.engine.samplers import DEFAULT_PRUNER, DEFAULT_SAMPLER
from search.errors import SearchError

if TYPE_CHECKING:
    from search.records.summary import StudyResult

app = typer.Typer(
    name="search",
    help="Hyperparameter and architecture search for Keras models with custom layers "
    "(Optuna behind KerasTuner, every trial in MLflow).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

HomeOpt = Annotated[Optional[str], typer.Option("--home", help="Folder of the default stores [env SEARCH_HOME; default ./mlruns].")]
StorageOpt = Annotated[Optional[str], typer.Option("--storage", help="Optuna storage URL [env SEARCH_STORAGE; default sqlite:///HOME/optuna.db].")]
TrackingOpt = Annotated[Optional[str], typer.Option("--tracking-uri", help="MLflow tracking URI [env MLFLOW_TRACKING_URI; default sqlite:///HOME/mlflow.db].")]


WAIT_DEFAULT_S = 600.0  # `search worker --wait` with no value


class TableFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class BestFormat(str, Enum):
    table = "table"
    json = "json"


def _echo_err(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)


@app.command()
def run(
    space: Annotated[str, typer.Argument(help="A space name (see `search spaces`) or a path to a space .py file.")],
    study: Annotated[Optional[str], typer.Option(help="Study name (default: the space's name); an existing study is resumed.")] = None,
    trials: Annotated[Optional[int], typer.Option(help="The study's total trial budget [default 10, or the stored one].")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Start no new trial after this many seconds.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs per trial [default: the space's EPOCHS].")] = None,
    sampler: Annotated[str, typer.Option(help="tpe|nsga2|random|cmaes|qmc|grid")] = DEFAULT_SAMPLER,
    pruner: Annotated[Optional[str], typer.Option(help=f"asha|median|percentile|sha|hyperband|wilcoxon|none [default {DEFAULT_PRUNER}; none with several objectives]", show_default=False)] = None,
    objective: Annotated[Optional[list[str]], typer.Option(metavar="METRIC[:min|max]", help="The metric to optimise, in place of the space's OBJECTIVE; repeat for several (a Pareto front), e.g. val_accuracy:max and latency_ms:min.")] = None,
    constraint: Annotated[Optional[list[str]], typer.Option(metavar="METRIC<=BOUND", help="A bound every feasible trial keeps, e.g. params<=20000 (repeatable; also <, >=, >).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampler, the data and each trial's training.")] = 0,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="NAME=VALUE: a space setting or a fixed hyperparameter (repeatable).")] = None,
    target: Annotated[Optional[float], typer.Option(help="End the study once a trial reaches this objective value (stored with the study).")] = None,
    enqueue: Annotated[Optional[str], typer.Option(metavar="FILE.json", help="Configurations to run first: a JSON object of hyperparameter values, or a list of them.")] = None,
    warm_start: Annotated[Optional[str], typer.Option(metavar="STUDY[:K]", help="Run the best K (default 3) configurations of another study of the space first; TPE learns from its other trials.")] = None,
    suggested: Annotated[bool, typer.Option(help="Run the space's SUGGESTED configurations first.")] = True,
    allow_space_change: Annotated[bool, typer.Option(help="Resume even if the space file changed.")] = False,
    workers: Annotated[int, typer.Option(help="Local worker processes sharing the study (each gets its share of the cores).")] = 1,
    devices: Annotated[Optional[str], typer.Option(help="GPU ids shared out among the workers (worker i: the i-th mod their number), or cpu [default: every visible GPU].")] = None,
    home: HomeOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Run (or resume) a study of SPACE; every trial is logged to MLflow."""
    from search._quiet import quiet_imports
    from search.study.config import StudyConfig, parse_sets
    from search.study.devices import device_env

    config = StudyConfig(
        space=space, study=study, trials=trials, timeout=timeout, epochs=epochs, sampler=sampler,
        pruner=pruner or DEFAULT_PRUNER, pruner_given=pruner is not None, objectives=tuple(objective or ()),
        constraints=tuple(constraint or ()), seed=seed, sets=parse_sets(set_), allow_space_change=allow_space_change,
        home=home, storage=storage, tracking_uri=tracking_uri, workers=workers, target=target,
        enqueue=enqueue, warm_start=warm_start, suggested=suggested, devices=devices,
    )
    gpus = config.gpus()
    os.environ.update(device_env(gpus[0]))  # this process is worker 0; TensorFlow is not imported yet
    local = None
    if config.workers > 1:  # the other workers import TensorFlow while this process does
        from search.study.workers import LocalWorkers

        local = LocalWorkers(config.workers, gpus)
    with _interruptible():
        try:
            quiet_imports()
        except BaseException:  # run_study stops them from here on
            if local is not None:
                local.stop()
            raise
        from search.study.run import run_study

        result = run_study(config, local)
    _print_result(result)


@contextlib.contextmanager
def _interruptible():
    # Click turns KeyboardInterrupt into its own "Aborted!"; say what happened instead.
    from search.errors import Interrupted

    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted("interrupted; running trials were marked FAIL and their runs closed.") from None


def _print_result(result: StudyResult) -> None:
    from search.errors import StudyFailedError

    typer.echo("\n".join(result.lines()))
    if result.complete == 0:
        raise StudyFailedError(f"Study {result.study!r} has no completed trial; see `search trials {result.study}`.")


@app.command()
def trials(
    study: Annotated[str, typer.Argument(help="The study name.")],
    format: Annotated[TableFormat, typer.Option("--format", help="table|csv|json")] = TableFormat.table,
    failures: Annotated[bool, typer.Option("--failures", help="Group failed and pruned trials by reason, with counts and shared params.")] = False,
    pareto: Annotated[bool, typer.Option("--pareto", help="Mark the trials on the Pareto front (a study of several objectives) with *.")] = False,
    home: HomeOpt = None,
    storage: StorageOpt = None,
) -> None:
    """List a study's trials: number, state, value(s), costs, params, duration, MLflow run id."""
    from search import storage as storage_mod
    from search.records.failures import render_failures
    from search.records.studies import open_study
    from search.records.table import render_trials

    the_study = open_study(study, storage_mod.resolve(home, storage))
    if failures:
        typer.echo(render_failures(the_study, format.value), nl=False)
    else:
        typer.echo(render_trials(the_study, format.value, pareto=pareto), nl=False)


@app.command()
def best(
    study: Annotated[str, typer.Argument(help="The study name.")],
    format: Annotated[TableFormat, typer.Option("--format", help="table|csv|json")] = TableFormat.table,
    confirmed: Annotated[bool, typer.Option("--confirmed", help="The trial with the best confirmed mean (`search confirm`).")] = False,
    home: HomeOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Show the best completed trial of a study (pruned trials never count); with several objectives, the
    whole Pareto front."""
    from search import storage as storage_mod
    from search.records.studies import open_study
    from search.records.table import render_best

    typer.echo(render_best(open_study(study, storage_mod.resolve(home, storage)), format.value, confirmed), nl=False)


@app.command()
def spaces() -> None:
    """List the shipped spaces with their hyperparameters and settings."""
    from search._quiet import quiet_imports
    from search.space.loader import list_spaces, load_space
    from search.space.sets import describe_space

    quiet_imports()
    for name in list_spaces():
        typer.echo("\n".join(describe_space(load_space(name))))


@app.command()
def worker(
    study: Annotated[str, typer.Argument(help="The study to join (created by `search run`).")],
    trials: Annotated[Optional[int], typer.Option(help="Run at most this many trials here [default: until the study's budget].")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Start no new trial after this many seconds.")] = None,
    wait: Annotated[Optional[float], typer.Option(metavar="[SECONDS]", help=f"Wait for `search run` to create the study (alone: {WAIT_DEFAULT_S:g} s).")] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress display.")] = True,
    home: HomeOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Join a study from any machine and run its trials until its budget (--wait: one not created yet)."""
    if wait is not None and wait < 0:
        from search.errors import UsageError

        raise UsageError(f"--wait must be a number of seconds >= 0, got {wait:g}.")
    _work(study_name=study, home=home, storage=storage, tracking_uri=tracking_uri, trials=trials,
          timeout=timeout, progress=progress, wait=wait)


@app.command(hidden=True)
def standby(
    for_pid: Annotated[int, typer.Option(help="The `search run --workers N` process that started this one.")],
) -> None:
    """A local worker of `search run --workers N`, started before its study exists.

    Imports what a worker needs, then reads one line from stdin: the `search worker`
    options as JSON (then works as `search worker` does), or end of file (then exits,
    having written nothing). ``--for-pid`` only names the parent in the process list.
    """
    from search._quiet import imports_without_gc, quiet_imports
    from search.study.worker import warm_imports

    quiet_imports()
    with imports_without_gc():
        warm_imports()
    line = sys.stdin.readline()
    if line.strip():
        _work(**json.loads(line))


def _work(**options: Any) -> None:
    from search._quiet import quiet_imports
    from search.study.worker import run_worker

    with _interruptible():
        quiet_imports()
        result = run_worker(**options)
    _print_result(result)


@app.command()
def reconcile(
    study: Annotated[str, typer.Argument(help="The study to repair.")],
    home: HomeOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Repair what a crash left: stale RUNNING trials, RUNNING MLflow runs, KerasTuner's retry state."""
    from search.study.reconcile import reconcile as repair

    changes = repair(study, home=home, storage=storage, tracking_uri=tracking_uri)
    for line in changes or ["nothing to repair"]:
        typer.echo(line)


@app.command()
def ui(
    study: Annotated[Optional[str], typer.Argument(help="Print the link of this study only [default: every study].")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
    open_: Annotated[bool, typer.Option("--open", help="Open the (first) study's trials in the default browser.")] = False,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Serve the MLflow UI on the project's store, printing a link to each study's trials (Ctrl-C stops it)."""
    from search.ui import serve

    raise typer.Exit(serve(host, port, home=home, tracking_uri=tracking_uri, study=study, open_browser=open_))


@app.command()
def report(
    study: Annotated[str, typer.Argument(help="The study name.")],
    out: Annotated[str, typer.Option("--out", help="The HTML file to write (its folder must exist).")],
    home: HomeOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Write a study's report to one self-contained HTML file: settings, best trial, plots, curves, failures, doctor."""
    from search import storage as storage_mod
    from search.records.studies import open_study
    from search.report import check_out, write_report

    path = check_out(out)
    loc = storage_mod.resolve(home, storage, tracking_uri)
    typer.echo(str(write_report(open_study(study, loc), loc.tracking_uri, path)))


@app.command()
def proxy(
    storage: Annotated[Optional[str], typer.Option("--storage", help="The database to serve: postgresql://... [env SEARCH_STORAGE].")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0: every machine that can reach this one).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 13000,
    threads: Annotated[int, typer.Option(help="Server threads (each waiting ask lock holds one).")] = 256,
) -> None:
    """Serve a storage to many workers through Optuna's gRPC proxy (workers: --storage grpc://HOST:PORT)."""
    from search.proxy import serve

    raise typer.Exit(serve(storage, host, port, threads))


@app.command()
def baseline(
    space: Annotated[str, typer.Argument(help="A space name (see `search spaces`) or a path to a space .py file.")],
    study: Annotated[Optional[str], typer.Option(help="The study to compare with and log to (default: the space's name).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="NAME=VALUE: a space setting (repeatable); a study's own settings apply by default.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the baselines' training (default: the study's seed, else 0).")] = None,
    cv: Annotated[bool, typer.Option("--cv", help="Cross-validate on every fold of the space's fixed split (mean ± std).")] = False,
    trial: Annotated[Optional[str], typer.Option(help="Also report this trial of the study: a number or 'best' (retrained per fold with --cv).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs of trained baselines and trial retraining (default: the study's epochs).")] = None,
    format: Annotated[BestFormat, typer.Option("--format", help="table|json")] = BestFormat.table,
    home: HomeOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Compute SPACE's baselines on the study's own split (or folds) and log them beside its trials."""
    from search._quiet import quiet_imports
    from search.baseline import BaselineConfig, report_dict, report_table, run_baselines
    from search.study.config import parse_sets

    quiet_imports()
    config = BaselineConfig(
        space=space, study=study, sets=parse_sets(set_), seed=seed, cv=cv, trial=trial, epochs=epochs,
        home=home, storage=storage, tracking_uri=tracking_uri,
    )
    report = run_baselines(config)
    if format is BestFormat.json:
        typer.echo(json.dumps(report_dict(report), indent=2, default=str))
        return
    typer.echo(report_table(report))
    typer.echo(f"mlflow  {report.tracking_uri} (study {report.study}, parent run {report.parent_run_id})")


@app.command()
def export(
    study: Annotated[str, typer.Argument(help="The study name.")],
    out: Annotated[str, typer.Option("--out", help="Where to write: a .keras file, or a folder for savedmodel/mlflow.")],
    format: Annotated[str, typer.Option("--format", help="keras|savedmodel|mlflow")] = "keras",
    trial: Annotated[Optional[int], typer.Option("--trial", help="Export this trial number instead of the best COMPLETE one.")] = None,
    pick: Annotated[Optional[str], typer.Option("--pick", metavar="RULE", help="Export the trial a rule picks: 'max|min METRIC [where METRIC<=BOUND [and ...]]', e.g. 'max val_accuracy where latency_ms<=2'.")] = None,
    confirmed: Annotated[bool, typer.Option("--confirmed", help="Export the trial `search confirm` ranks first.")] = False,
    register: Annotated[Optional[str], typer.Option("--register", help="With --format mlflow: register as NAME, alias 'best'.")] = None,
    home: HomeOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Export the best trial's model, verified to reload and predict the same in a fresh process."""
    from search.export.exporter import check_options

    check_options(format, register)  # before the imports below: a bad format is refused at once
    from search._quiet import quiet_imports
    from search.export.exporter import export as export_trial

    if confirmed:
        trial = _confirmed_first(study, trial, pick, home, storage)
    if pick is not None:
        trial = _picked(study, pick, trial, home, storage)
    quiet_imports()
    result = export_trial(study, out, format, trial, register, home=home, storage=storage,
                          tracking_uri=tracking_uri, notify=lambda line: typer.echo(line, err=True))
    typer.echo("\n".join(result.lines()))


def _confirmed_first(study: str, trial: int | None, pick: str | None, home: str | None, storage: str | None) -> int:
    """The trial number ``--confirmed`` names: the one `search confirm` ranks first (not with ``--trial``, ``--pick``)."""
    from search import storage as storage_mod
    from search.errors import UsageError
    from search.records.confirmed import best_confirmed
    from search.records.studies import open_study

    if trial is not None or pick is not None:
        other = f"--trial {trial}" if trial is not None else f"--pick {pick!r}"
        raise UsageError(f"--confirmed and {other} exclude each other; give one.")
    number = best_confirmed(open_study(study, storage_mod.resolve(home, storage))).number
    typer.echo(f"--confirmed: trial {number}, ranked first by `search confirm`", err=True)
    return number


def _picked(study: str, rule: str, trial: int | None, home: str | None, storage: str | None) -> int:
    """The trial number ``--pick RULE`` names (not with ``--trial``)."""
    from search import storage as storage_mod
    from search.errors import UsageError
    from search.records.pick import pick_trial
    from search.records.studies import open_study

    if trial is not None:
        raise UsageError("Give --trial N or --pick RULE, not both.")
    number = pick_trial(open_study(study, storage_mod.resolve(home, storage)), rule)
    typer.echo(f"--pick {rule!r}: trial {number}", err=True)
    return number


@app.command()
def reproduce(
    study: Annotated[str, typer.Argument(help="The study name.")],
    trial: Annotated[int, typer.Argument(help="The trial number.")],
    tolerance: Annotated[float, typer.Option(help="Largest difference accepted per epoch, relative (plus as much absolute).")] = 1e-5,
    home: HomeOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Train a trial again from its recorded configuration and seed; compare its objective epoch by epoch (exit 1 if it differs)."""
    from search._quiet import quiet_imports

    quiet_imports()
    from search.study.reproduce import reproduce as again

    result = again(study, trial, home=home, storage=storage, tracking_uri=tracking_uri, tolerance=tolerance)
    typer.echo("\n".join(result.lines()))
    if not result.reproduced:
        raise typer.Exit(1)


@app.command()
def confirm(
    study: Annotated[str, typer.Argument(help="The study name.")],
    top: Annotated[Optional[int], typer.Option(help="Confirm the K best completed trials (default 5; with several objectives: the Pareto front).", show_default=False)] = None,
    seeds: Annotated[int, typer.Option(help="Retrains per trial (and fold), each with a fresh seed.")] = 5,
    cv: Annotated[bool, typer.Option("--cv", help="Retrain on every fold of the space's fold setting.")] = False,
    trials: Annotated[Optional[str], typer.Option(metavar="N,M,...", help="Confirm these trial numbers instead of the top K.")] = None,
    workers: Annotated[int, typer.Option(help="Processes training retrains in parallel (each gets its share of the cores).")] = 1,
    home: HomeOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Retrain the best trials with fresh seeds: mean, 95% interval, P(best) and a verdict (re-running resumes)."""
    from search.study.confirm import confirm as confirm_trials

    result = confirm_trials(study, top=top, seeds=seeds, cv=cv, trials=trials, workers=workers, home=home,
                            storage=storage, tracking_uri=tracking_uri)
    typer.echo("\n".join(result.lines()))


@app.command()
def compare(
    space: Annotated[str, typer.Argument(help="Space names (see `search spaces`) or paths to space .py files, comma-separated.")],
    samplers: Annotated[Optional[str], typer.Option(help="Comma-separated: default (what `search run` does), tpe,random,cmaes,qmc (Optuna, with --pruner), SAMPLER+PRUNER (tpe+sha), kt-random,kt-bayesian,kt-hyperband (KerasTuner) [default default,tpe,random,kt-random,kt-bayesian,kt-hyperband].")] = None,
    budget_trials: Annotated[Optional[list[str]], typer.Option(help="N or SPACE=N (repeatable): trials per method and repeat [default 10].")] = None,
    budget_seconds: Annotated[Optional[list[str]], typer.Option(help="S or SPACE=S (repeatable): seconds per method and repeat (no trial starts after them).")] = None,
    repeats: Annotated[int, typer.Option(help="Repeats per method (seeds seed, seed+1, ...); figures are medians.")] = 1,
    target: Annotated[Optional[list[str]], typer.Option(help="SPACE=V (repeatable; a plain V with one space): objective value to reach, for time/trials/epochs to target.")] = None,
    epochs: Annotated[Optional[list[str]], typer.Option(help="N or SPACE=N (repeatable): epochs per trial [default: each space's EPOCHS].")] = None,
    pruner: Annotated[str, typer.Option(help="Pruner of the plain Optuna methods: asha|median|percentile|sha|hyperband|wilcoxon|none")] = "median",
    seed: Annotated[int, typer.Option(help="Data seed and base of the samplers' and trials' seeds.")] = 0,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="NAME=VALUE for every space that declares NAME, SPACE:NAME=VALUE for one: a setting or a fixed hyperparameter (repeatable).")] = None,
    format: Annotated[BestFormat, typer.Option("--format", help="table|json")] = BestFormat.table,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Compare search methods on one or more spaces; each logged to MLflow as compare-SPACE, the summary as compare-suite."""
    from search._quiet import quiet_imports

    quiet_imports()  # search.compare and the spaces import TensorFlow
    from search.compare import CompareConfig, compare as run_compare
    from search.compare._config import parse_methods, parse_per_space as per, parse_spaces
    from search.compare._table import format_suite
    from search.study.config import parse_sets

    config = CompareConfig(
        spaces=parse_spaces(space), methods=parse_methods(samplers), repeats=repeats, pruner=pruner, seed=seed,
        budget_trials=per("budget-trials", budget_trials, int), budget_seconds=per("budget-seconds", budget_seconds, float),
        targets=per("target", target, float), epochs=per("epochs", epochs, int), sets=parse_sets(set_), home=home,
        tracking_uri=tracking_uri,
    )
    with _interruptible():
        result = run_compare(config, notify=lambda line: typer.echo(line, err=True))
    if format == BestFormat.json:
        typer.echo(json.dumps(result.to_dict(), default=str))
    else:
        typer.echo(format_suite(result))


def _terminate(signum, frame) -> None:
    # SIGTERM stops like Ctrl-C: running trials are told FAIL and their runs closed.
    raise KeyboardInterrupt


def main() -> None:
    """Entry point of the ``search`` console script."""
    from search._argv import optional_values
    from search._quiet import quiet_warnings

    signal.signal(signal.SIGTERM, _terminate)
    quiet_warnings()
    try:
        app(args=optional_values(sys.argv[1:], "--wait", f"{WAIT_DEFAULT_S:g}"))
    except SearchError as e:
        _echo_err(str(e))
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _echo_err("interrupted; running trials were marked FAIL and their runs closed.")
        sys.exit(130)
    except Exception as e:  # an unexpected failure: one line, the traceback on request
        from search._quiet import debugging

        if debugging():
            raise
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), "")  # SQL errors run on
        _echo_err(f"{type(e).__name__}: {first} (set SEARCH_DEBUG=1 for the traceback)")
        sys.exit(1)


def console() -> None:
    """The ``search`` console script: :func:`main`, then a quick exit.

    Once TensorFlow is loaded, Python's own shutdown (finalizing TensorFlow's and Keras's
    objects) takes seconds after the work is done, which every ``search run`` (and every
    ``--workers`` worker, which its parent waits for) would pay. Here the exit handlers
    run, the output is flushed and the process ends without that finalization; every store
    write has been committed and every file closed by then (``tests/perf/README.md``).
    """
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, int) and e.code is not None:
            print(e.code, file=sys.stderr)
    if "tensorflow" not in sys.modules:
        sys.exit(code)
    import atexit
    import logging

    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":
    console()
