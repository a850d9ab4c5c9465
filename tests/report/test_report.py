"""``search report``: real studies written to one HTML file, read back in a real headless browser.

One home holds the module's studies (a store costs seconds to create): ``rep``, a tiny space with
a baseline; ``doc``, a layer whose weight gets no gradient; ``flk``, a build that fails for one choice.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial

from search.report import Tracked
from tests._browser import dump_dom, visible_text
from tests._cli import search

SPACES = Path(__file__).parents[1] / "fixture_spaces"
HEADINGS = {"settings": "Settings", "best": "Best trial", "plots": "Study plots", "curves": "Learning curves",
            "failures": "Failures and prunes", "doctor": "Doctor's findings",
            "baselines": "Baselines and confirmed figures", "mlflow": "MLflow"}
# The tiny space with a baseline: predicting the training targets' mean.
BASELINE = '''

def baselines(seed, noise=0.1):
    from search.space import Baseline

    (_, y), (_, y_val) = load_data(seed, noise)
    return [Baseline("predict_mean", {"val_loss": float(((y_val - y.mean()) ** 2).mean())})]
'''


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The home of the three studies, each run through the CLI; ``rep`` also has a baseline."""
    root = tmp_path_factory.mktemp("report")
    space = root / "tiny_baseline.py"
    space.write_text((SPACES / "tiny.py").read_text() + BASELINE)
    first = root / "first.json"
    first.write_text(json.dumps([{"mode": "ok"}, {"mode": "boom"}]))
    home = root / "home"
    for args in ((space, "--study", "rep", "--trials", "4", "--sampler", "random", "--pruner", "none"),
                 (SPACES / "unused_weight.py", "--study", "doc", "--trials", "1"),
                 (SPACES / "flaky.py", "--study", "flk", "--trials", "2", "--enqueue", first)):
        code, _, err = search("run", *args, "--home", home)
        assert code == 0, err
    code, _, err = search("baseline", space, "--study", "rep", "--home", home)
    assert code == 0, err
    return home


def report(home: Path, study: str, out: Path) -> dict[str, list[str]]:
    """Writes the report of ``study`` through the CLI and reads it in the browser: visible lines per section."""
    code, printed, err = search("report", study, "--out", out, "--home", home)
    assert code == 0, err
    assert printed == f"{out}\n"
    dom = dump_dom(out.as_uri())
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', dom, flags=re.S))
    assert list(sections) == list(HEADINGS)
    lines = {key: visible_text(part) for key, part in sections.items()}
    for key, heading in HEADINGS.items():
        assert lines[key][0] == heading
    return lines


@pytest.fixture(scope="module")
def rep(home, tmp_path_factory) -> tuple[dict[str, list[str]], str]:
    """The report of ``rep`` (visible lines per section) and its HTML text."""
    out = tmp_path_factory.mktemp("out") / "rep.html"
    return report(home, "rep", out), out.read_text()


def test_the_page_is_self_contained(rep):
    _, page = rep
    assert "<script" not in page
    assert re.findall(r'(?:src|href)="(?!#)([^"]*)"', page) == []  # every link stays inside the page
    assert "<?xml" not in page


def test_settings_best_and_mlflow(home, rep):
    lines, _ = rep
    study = optuna.load_study(study_name="rep", storage=f"sqlite:///{home}/optuna.db")
    settings = lines["settings"]
    for name, value in (("space", "tiny_baseline"), ("sampler", "random"), ("pruner", "none"), ("epochs", "3"),
                        ("seed", "0"), ("budget (trials)", "4"), ("settings", "noise=0.1"), ("workers", "1")):
        assert settings[settings.index(name) + 1] == value
    code, best, _ = search("best", "rep", "--home", home)
    assert code == 0
    value = next(line.split()[1] for line in best.splitlines() if line.startswith("value"))
    assert lines["best"][lines["best"].index("value") + 1] == value
    assert lines["best"][lines["best"].index("trial") + 1] == str(study.best_trial.number)
    mlflow = lines["mlflow"]
    assert mlflow[mlflow.index("parent run id") + 1] == study.user_attrs["parent_run_id"]
    assert mlflow[mlflow.index("tracking URI") + 1] == f"sqlite:///{home}/mlflow.db"
    assert "search ui" in mlflow
    assert mlflow[-1].startswith(") to browse them, then open http://127.0.0.1:5000/#/experiments/")


def test_plots_and_the_best_trials_curves(home, rep):
    lines, page = rep
    plots = page.split('<section id="plots">')[1].split("</section>")[0]
    assert plots.count("<svg") == 5
    assert {"Optimization History", "Hyperparameter Importances", "Intermediate Values"} <= set(lines["plots"])
    study = optuna.load_study(study_name="rep", storage=f"sqlite:///{home}/optuna.db")
    ranked = sorted(study.trials, key=lambda t: t.value)
    legend = [line for line in lines["curves"] if line.startswith("trial ")]
    assert legend == [f"trial {t.number} ({t.value:.4g})" for t in ranked]
    assert "val_loss per epoch: the best 4 trials" in lines["curves"]


def test_baselines_and_no_failure_or_finding(rep):
    lines, _ = rep
    assert lines["baselines"][lines["baselines"].index("predict_mean") + 1] == "holdout"
    assert "none: no trial has confirmed figures." in lines["baselines"]
    assert lines["failures"][1:] == ["none: no trial failed or was pruned."]
    assert lines["doctor"][1:] == ["gradient audit", "trials", "ok", "4",
                                   "none: the doctor found no gradient problem and no training event."]


def test_the_doctors_findings(home, tmp_path):
    lines = report(home, "doc", tmp_path / "doc.html")
    assert lines["doctor"][lines["doctor"].index("finding") + 1:][:3] == [
        "0", "COMPLETE", "no gradient: sequential/threshold_bump/threshlevel"]


def test_failures_grouped_by_reason(home, tmp_path):
    lines = report(home, "flk", tmp_path / "flk.html")
    failed = [line for line in lines["failures"] if "FAIL" in line]
    assert len(failed) == 1
    assert failed[0].startswith("1 trial FAIL:") and "boom: this configuration cannot be built" in failed[0]
    assert failed[0].endswith("(with mode=boom); trials 1")


def test_a_plot_with_an_xml_prolog_is_embedded_without_it(home, tmp_path):
    from mlflow import MlflowClient

    from search.report import gather

    study = optuna.load_study(study_name="doc", storage=f"sqlite:///{home}/optuna.db")
    drawn = tmp_path / "plots" / "matplotlib.svg"  # as matplotlib writes one
    drawn.parent.mkdir()
    drawn.write_text('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD '
                     'SVG 1.1//EN"\n  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg><g/></svg>\n')
    MlflowClient(f"sqlite:///{home}/mlflow.db").log_artifacts(study.user_attrs["parent_run_id"], str(drawn.parent),
                                                              "plots")
    plots = gather(study, f"sqlite:///{home}/mlflow.db").tracked.plots
    assert plots["matplotlib"] == "<svg><g/></svg>\n"
    assert all(svg.startswith("<svg") for svg in plots.values())


def test_text_is_escaped_and_confirmed_figures_shown(tmp_path):
    from search.report import gather, render

    study = optuna.create_study(study_name='<b>"odd" & name</b>')
    study.add_trial(create_trial(value=0.5, params={"x": 1.0}, distributions={"x": FloatDistribution(0, 2)}))
    study.set_user_attr("confirmed", {"0": {"mean": 0.52, "ci": [0.5, 0.54], "p_best": 0.9}})  # as `search confirm`
    page = render(gather(study, f"sqlite:///{tmp_path}/absent/mlflow.db"))
    assert "<b>" not in page and "&lt;b&gt;&quot;odd&quot; &amp; name&lt;/b&gt;" in page
    lines = visible_text(page)
    assert 'Study <b>"odd" & name</b>: search report' in lines
    assert lines[lines.index("p_best") + 1:][:4] == ["0", "0.52", "0.5, 0.54", "0.9"]
    assert "The MLflow store has no experiment for this study." in lines
    assert not (tmp_path / "absent").exists()  # reading creates no store


def test_a_tracking_server_is_linked(tmp_path):
    from search.report import gather, render

    study = optuna.create_study(study_name="served")
    data = replace(gather(study, f"sqlite:///{tmp_path}/absent.db"),
                   tracking_uri="https://mlflow.example.org:5000/", tracked=Tracked(experiment_id="7"))
    link = "https://mlflow.example.org:5000/#/experiments/7/runs?"
    assert re.search(f'<a href="{re.escape(link)}[^"]*">{re.escape(link)}', render(data))


def test_unknown_study_is_one_line_and_writes_nothing(home, tmp_path):
    code, out, err = search("report", "nope", "--out", tmp_path / "r.html", "--home", home)
    assert code == 2 and out == ""
    assert err.startswith("error: Unknown study 'nope'") and "studies there: doc, flk, rep" in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["missing/r.html", "."])
def test_out_in_a_missing_folder_or_a_folder_is_refused_before_reading(tmp_path, where):
    out = str(tmp_path / where)
    code, printed, err = search("report", "nope", "--out", out, "--home", tmp_path / "nohome")
    assert code == 2 and printed == ""
    assert err.startswith(f"error: Cannot write --out {out!r}: ") and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no home, no file


def test_the_cli_loads_no_store_library_before_the_command_runs():
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, search.cli, search.report; "
         "print([m for m in ('tensorflow', 'mlflow', 'optuna') if m in sys.modules])"],
        capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip() == "[]"
