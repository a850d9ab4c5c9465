"""The ``search`` command line: each command parses, calls one function, prints.

TensorFlow, Keras, Optuna and MLflow are imported inside command bodies so that
``search --help`` starts at once. The project's own errors become one line on stderr
and exit code 2 (bad usage or input) or 1 (failures); never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from search.errors import SearchError

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
    sampler: Annotated[str, typer.Option(help="tpe|random|cmaes|qmc|grid")] = "tpe",
    pruner: Annotated[str, typer.Option(help="median|percentile|sha|hyperband|wilcoxon|none")] = "median",
    seed: Annotated[int, typer.Option(help="Seed of the sampler, the data and each trial's training.")] = 0,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="NAME=VALUE: a space setting or a fixed hyperparameter (repeatable).")] = None,
    allow_space_change: Annotated[bool, typer.Option(help="Resume even if the space file changed.")] = False,
    home: HomeOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Run (or resume) a study of SPACE; every trial is logged to MLflow."""
    from search._quiet import quiet_imports
    from search.config import StudyConfig, parse_sets
    from search.errors import StudyFailedError
    from search.study import run_study

    quiet_imports()

    config = StudyConfig(
        space=space, study=study, trials=trials, timeout=timeout, epochs=epochs, sampler=sampler,
        pruner=pruner, seed=seed, sets=parse_sets(set_), allow_space_change=allow_space_change,
        home=home, storage=storage, tracking_uri=tracking_uri,
    )
    result = run_study(config)
    best = "-" if result.best_value is None else f"{result.best_value:.6g} (trial {result.best_trial})"
    typer.echo(
        f"study {result.study}: {result.complete} complete, {result.pruned} pruned, "
        f"{result.failed} failed; best {best}"
    )
    typer.echo(f"storage {result.storage}\nmlflow  {result.tracking_uri} (parent run {result.parent_run_id})")
    if result.complete == 0:
        raise StudyFailedError(f"Study {result.study!r} has no completed trial; see `search trials {result.study}`.")


@app.command()
def trials(
    study: Annotated[str, typer.Argument(help="The study name.")],
    format: Annotated[TableFormat, typer.Option("--format", help="table|csv|json")] = TableFormat.table,
    home: HomeOpt = None,
    storage: StorageOpt = None,
) -> None:
    """List a study's trials: number, state, value, params, duration, MLflow run id."""
    from search import storage as storage_mod
    from search.results import open_study, trials_frame, trials_records

    the_study = open_study(study, storage_mod.resolve(home, storage))
    if format is TableFormat.json:
        typer.echo(json.dumps(trials_records(the_study), indent=2, default=str))
        return
    frame = trials_frame(the_study)
    if format is TableFormat.csv:
        frame = frame.assign(params=frame["params"].map(json.dumps))
        typer.echo(frame.to_csv(index=False), nl=False)
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                               "display.max_colwidth", 80):
            typer.echo(frame.drop(columns=["kt_trial_id"]).to_string(index=False))


@app.command()
def best(
    study: Annotated[str, typer.Argument(help="The study name.")],
    format: Annotated[BestFormat, typer.Option("--format", help="table|json")] = BestFormat.table,
    home: HomeOpt = None,
    storage: StorageOpt = None,
) -> None:
    """Show the best completed trial of a study (pruned trials never count)."""
    from search import storage as storage_mod
    from search.results import best as best_trial
    from search.results import open_study

    result = best_trial(open_study(study, storage_mod.resolve(home, storage)))
    if format is BestFormat.json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    for key in ("study", "trial", "objective", "direction", "value", "mlflow_run_id"):
        typer.echo(f"{key:<14}{result[key]}")
    for key, value in result["params"].items():
        typer.echo(f"  {key:<24}{value}")


@app.command()
def spaces() -> None:
    """List the shipped spaces with their hyperparameters and settings."""
    from search._quiet import quiet_imports
    from search.sets import declared_space
    from search.spaces import list_spaces, load_space

    quiet_imports()
    for name in list_spaces():
        space = load_space(name)
        doc = (space.module.__doc__ or "").strip().splitlines()
        typer.echo(f"{name}: {doc[0] if doc else ''}")
        typer.echo(f"  objective {space.objective} ({space.direction}), epochs {space.epochs}")
        for key, values in space.settings.items():
            typer.echo(f"  setting {key}: {' | '.join(map(str, values))} (default {values[0]})")
        for hp in declared_space(space, space.default_settings()).space:
            if hp.name not in space.settings:
                typer.echo(f"  {hp!r}")


@app.command()
def ui(
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Open the MLflow UI on the project's store (Ctrl-C stops it)."""
    from search.ui import serve

    raise typer.Exit(serve(host, port, home=home, tracking_uri=tracking_uri))


# [baseline command: issue 4]


# [export command: issue 6]


def main() -> None:
    """Entry point of the ``search`` console script."""
    try:
        app()
    except SearchError as e:
        _echo_err(str(e))
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _echo_err("interrupted; running trials were marked FAIL and their runs closed.")
        sys.exit(130)
    except Exception as e:  # an unexpected failure: one line, the traceback on request
        if os.environ.get("SEARCH_DEBUG"):
            raise
        _echo_err(f"{type(e).__name__}: {e} (set SEARCH_DEBUG=1 for the traceback)")
        sys.exit(1)


if __name__ == "__main__":
    main()
