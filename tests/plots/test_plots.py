"""Pictures: per-trial learning curves, confusion matrix and space plots; study plots on the parent run."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import keras
import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from PIL import Image

from search import StudyConfig, run_study
from search import storage as storage_mod
from search.plots import class_labels, draw_study_plots, learning_curves, line_plot

SVG = "{http://www.w3.org/2000/svg}"
STUDY_PLOTS = {"optimization_history", "param_importances", "parallel_coordinate", "slice", "intermediate_values"}


def _runs(name: str):
    client = MlflowClient(storage_mod.resolve().tracking_uri)
    experiment = client.get_experiment_by_name(name)
    return client, client.search_runs([experiment.experiment_id], max_results=1000)


def _open_images(client: MlflowClient, run_id: str, folder: str, tmp_path) -> set[str]:
    """Downloads ``folder`` of the run's artifacts; checks every PNG opens as an image and
    every SVG parses as one; returns the names."""
    local = client.download_artifacts(run_id, folder, str(tmp_path / run_id))
    names = set()
    for path in sorted(Path(local).glob("*.png")):
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100
        names.add(path.stem)
    for path in sorted(Path(local).glob("*.svg")):
        root = ElementTree.parse(path).getroot()
        assert root.tag == SVG + "svg" and min(int(root.get("width")), int(root.get("height"))) > 100
        names.add(path.stem)
    return names


def test_trial_and_study_plots_are_logged_as_images(space_path, tmp_path):
    result = run_study(StudyConfig(space=space_path("classifier"), study="pictures", trials=3, epochs=2,
                                   sampler="random", pruner="none", seed=1, progress=False))
    assert result.complete == 3
    client, runs = _runs("pictures")
    trials = [r for r in runs if r.data.tags.get("search.role") == "trial"]
    for run in trials:
        assert _open_images(client, run.info.run_id, "plots", tmp_path) == {
            "learning_curves", "confusion_matrix", "hidden_kernel"}
        assert "search.plot_error" not in run.data.tags

    [parent] = [r for r in runs if r.data.tags.get("search.role") == "study"]
    parent = client.get_run(parent.info.run_id)  # tags written after the listing above
    assert _open_images(client, parent.info.run_id, "plots", tmp_path) == STUDY_PLOTS
    assert json.loads(parent.data.tags["search.plot_notes"]) == {}
    csv = client.download_artifacts(parent.info.run_id, "trials.csv", str(tmp_path / "csv"))
    table = pd.read_csv(csv)
    assert list(table["number"]) == [0, 1, 2] and set(table["state"]) == {"COMPLETE"}
    assert "gradients" in table.columns and json.loads(table["params"][0])["plots"] == "ok"


def test_a_plotting_error_never_fails_a_trial(space_path):
    result = run_study(StudyConfig(space=space_path("classifier"), study="broken", trials=1, epochs=1,
                                   sets={"plots": "broken"}, progress=False))
    assert result.complete == 1
    client, runs = _runs("broken")
    [trial] = [r for r in runs if r.data.tags.get("search.role") == "trial"]
    assert trial.data.tags["search.plot_error"] == "space plots: RuntimeError: this space cannot draw"
    assert {a.path for a in client.list_artifacts(trial.info.run_id, "plots")} == {
        "plots/learning_curves.svg", "plots/confusion_matrix.png"}


def test_study_plots_say_what_optuna_cannot_draw_yet(tmp_path):
    study = optuna.create_study()
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    study.tell(trial, 0.5)
    failed = study.ask()
    failed.suggest_float("lr", 1e-4, 1e-1, log=True)
    study.tell(failed, state=TrialState.FAIL)
    notes = draw_study_plots(study, str(tmp_path))
    assert notes == {"param_importances": "needs at least 2 completed trials",
                     "intermediate_values": "no trial reported intermediate values yet"}
    assert {p.stem for p in tmp_path.glob("*.svg")} == {"optimization_history", "parallel_coordinate", "slice"}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert set(draw_study_plots(optuna.create_study(), str(empty))) == STUDY_PLOTS
    assert not list(empty.iterdir())


def test_study_plots_draw_every_trial_and_parameter(tmp_path):
    study = optuna.create_study(direction="maximize")
    values = [0.2, 0.5, 0.4, 0.9]
    for i, value in enumerate(values):
        study.enqueue_trial({"init": ["glorot", "offset"][i % 2]})
        trial = study.ask()
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_int("units", 8, 64)
        if trial.suggest_categorical("init", ["glorot", "offset"]) == "offset":
            trial.suggest_float("offset", 0.0, 1.0)  # conditional: only some trials have it
        for step in range(3):
            trial.report(value * (step + 1) / 3, step)
        study.tell(trial, value)
    pruned = study.ask()
    pruned.suggest_float("lr", 1e-4, 1e-1, log=True)
    pruned.report(0.01, 0)
    study.tell(pruned, state=TrialState.PRUNED)
    assert draw_study_plots(study, str(tmp_path)) == {}
    parse = lambda name: ElementTree.parse(tmp_path / f"{name}.svg").getroot()  # noqa: E731

    history = parse("optimization_history")
    dots = [c for c in history.iter(SVG + "circle") if c.get("class") == "objective"]
    assert len(dots) == 4  # one per completed trial
    [best] = [p for p in history.iter(SVG + "polyline") if p.get("class") == "best"]
    heights = [float(p.split(",")[1]) for p in best.get("points").split()]
    assert heights == sorted(heights, reverse=True)  # maximize: the best so far only rises (y grows downwards)

    lines = {p.get("data-trial"): p for p in parse("intermediate_values").iter(SVG + "polyline") if p.get("class") == "trial"}
    assert set(lines) == {"0", "1", "2", "3", "4"}
    assert lines["4"].get("data-state") == "PRUNED" and lines["4"].get("stroke-dasharray")
    assert len(lines["0"].get("points").split()) == 3

    panels = [g.get("data-param") for g in parse("slice").iter(SVG + "g")]
    assert panels == sorted(study.trials[0].params | {"offset": 0}) and len(panels) == 4

    parallel = parse("parallel_coordinate")
    drawn = {p.get("data-trial") for p in parallel.iter(SVG + "polyline")}
    assert drawn == {"0", "1", "2", "3"}  # completed trials only
    # Axes: objective, init, lr, offset, units. Trials 0 and 2 (glorot) have no offset: their
    # line breaks there, and units, alone between the gap and the end, is a dot.
    assert {c.get("data-trial") for c in parallel.iter(SVG + "circle")} == {"0", "2"}
    assert [len(p.get("points").split()) for p in parallel.iter(SVG + "polyline") if p.get("data-trial") == "1"] == [5]
    assert {"init", "lr", "units", "offset", "objective value", "glorot"} <= {t.text for t in parallel.iter(SVG + "text")}

    bars = {r.get("data-param"): float(r.get("data-value")) for r in parse("param_importances").iter(SVG + "rect")
            if r.get("class") == "importance"}
    assert set(bars) == set(optuna.importance.get_param_importances(study))
    assert sum(bars.values()) == pytest.approx(1.0, abs=1e-3)


def test_learning_curves_mark_the_non_finite_epoch(tmp_path):
    fig = learning_curves({"loss": [10.0, 0.5, float("nan")], "val_loss": [12.0, 0.7, float("nan")],
                           "mae": [0.9, 0.6, 0.5]}, "trial 3")
    fig.savefig(tmp_path / "curves.svg")
    root = ElementTree.parse(tmp_path / "curves.svg").getroot()
    loss, mae = root.iter(SVG + "g")
    assert (loss.get("data-metric"), loss.get("data-scale")) == ("loss", "log")  # spans > 10x
    assert (mae.get("data-metric"), mae.get("data-scale")) == ("mae", "linear")
    assert [len(p.get("points").split()) for p in loss.iter(SVG + "polyline")] == [2, 2]  # the NaN is not drawn...
    [mark] = [float(line.get("x1")) for line in loss.iter(SVG + "line") if line.get("class") == "non-finite"]
    drawn = [float(point.split(",")[0]) for p in loss.iter(SVG + "polyline") for point in p.get("points").split()]
    assert mark > max(drawn)  # ...but marked, at epoch 3
    assert "train NaN, validation NaN" in [t.text for t in loss.iter(SVG + "text")]
    assert {t.text for t in loss.iter(SVG + "text")} >= {"0.5", "1", "10"}  # log ticks
    assert [p.get("class") for p in mae.iter(SVG + "polyline")] == ["train"]  # no validation curve: none drawn


def test_line_plot_draws_every_series_against_its_x_values(tmp_path):
    fig = line_plot([{"label": "window", "y": [0.0, 1.0, 1.0, 0.0], "dash": "6,4", "color": "black"},
                     {"label": "learned", "y": [0.1, float("inf"), 0.9, 0.2]},
                     {"label": "shifted", "x": [2, 3, 4, 5], "y": [-1.0, 0.0, 1.0, 2.0]}],
                    "kernels", xlabel="tap", ylabel="weight")
    fig.savefig(tmp_path / "plot.svg")
    root = ElementTree.parse(tmp_path / "plot.svg").getroot()
    window, learned, shifted = root.iter(SVG + "polyline")
    assert window.get("stroke-dasharray") == "6,4" and window.get("stroke") == "black"
    assert len(learned.get("points").split()) == 3  # the infinite value is left out
    xs = lambda line: [float(p.split(",")[0]) for p in line.get("points").split()]  # noqa: E731
    ys = lambda line: [float(p.split(",")[1]) for p in line.get("points").split()]  # noqa: E731
    assert xs(shifted)[0] == xs(window)[2] and xs(shifted)[-1] > xs(window)[-1]  # shared x axis 0..5
    assert ys(shifted)[0] > max(ys(window))  # -1 is drawn lowest (SVG y grows downwards)
    texts = [t.text for t in root.iter(SVG + "text")]
    assert {"kernels", "tap", "weight", "window", "learned", "shifted"} <= set(texts)
    assert {"0", "1", "2", "3", "4", "5"} <= set(texts)  # integer x ticks
    legend_box = [r for r in root.iter(SVG + "rect") if r.get("stroke") == "#ccc"][0]
    plot_area = [r for r in root.iter(SVG + "rect") if r.get("stroke") == "#888"][0]
    assert float(legend_box.get("y")) > float(plot_area.get("y")) + float(plot_area.get("height"))  # under the plot
    assert float(legend_box.get("y")) + float(legend_box.get("height")) <= float(root.get("height"))


@pytest.mark.parametrize(("units", "activation", "loss", "y", "expected"), [
    (3, "softmax", "sparse_categorical_crossentropy", np.array([0, 2, 1, 2]), 3),
    (3, "softmax", "categorical_crossentropy", np.eye(3)[[0, 2, 1, 2]], 3),
    (3, None, "mse", np.array([0, 2, 1, 2]), None),  # 3 linear outputs trained with MSE: not a classifier
    (1, "sigmoid", "binary_crossentropy", np.array([0, 1, 1, 0]), 2),
    (1, None, "mse", np.array([0.5, 1.5, 2.0, 0.1]), None),
])
def test_class_labels_recognise_classifiers(units, activation, loss, y, expected):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(units, activation=activation)])
    model.compile("sgd", loss)
    x = np.random.default_rng(0).standard_normal((4, 2)).astype("float32")
    found = class_labels(model, y, model.predict(x, verbose=0))
    assert (found[2] if found else None) == expected
    if found:
        assert len(found[0]) == len(found[1]) == 4


def test_study_plots_refresh_during_the_study_only_every_few_trials(tmp_path):
    from search.plots import StudyPlots
    from search.tracking.tracker import Tracker

    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "refresh", str(tmp_path / "artifacts"))
    tracker.start_parent({"study": "refresh"})
    study = optuna.create_study()
    listener = StudyPlots(study, tracker, every_trials=2, min_seconds=0.0, max_share=1.0)
    for value in (0.3, 0.2, 0.1):
        trial = study.ask()
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        study.tell(trial, value)
        listener.trial_ended(None, None, trial.number, TrialState.COMPLETE, value, None)
    assert listener.refreshes == 1  # after 2 trials, not after the 3rd (1 pending)
    listener.study_ended()
    assert listener.refreshes == 2
    listener.study_ended()
    assert listener.refreshes == 2  # nothing new to draw
    client = tracker.client
    assert {a.path for a in client.list_artifacts(tracker.parent_run_id)} == {"plots", "trials.csv"}
    tracker.end_parent()
