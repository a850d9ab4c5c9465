"""``search confirm``: a real tiny study's best trials retrained with fresh seeds, recorded, compared, resumed.

One study, ``cf``, of a tiny 3-fold regression space is made once through the CLI (``pristine``);
each test that confirms works on its own copy of that home, so none sees another's confirmation.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from search.study import confirm_stats
from tests._cli import search

# Each epoch sleeps CONFIRM_TEST_SLEEP seconds (default none), so a test can interrupt a confirmation mid-way.
FOLDS_SPACE = '''"""A tiny regression over 3 fixed folds (every third row is fold f's validation)."""
import os
import time

import numpy as np

from search.space import fit_arrays

OBJECTIVE = "val_loss"
EPOCHS = 2
SETTINGS = {"fold": [0, 1, 2]}


def load_data(seed, fold=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((120, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(120)).astype("float32")[:, None]
    val = np.arange(120) % 3 == fold
    return (x[~val], y[~val]), (x[val], y[val])


def build(hp):
    import keras

    units = hp.Int("units", 2, 8, step=2)
    lr = hp.Float("lr", 1e-2, 1e-1, sampling="log")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, "tanh"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(lr), "mse")
    return model


def fit(hp, model, *args, callbacks=(), **kwargs):
    import keras

    pause = float(os.environ.get("CONFIRM_TEST_SLEEP", "0"))

    class Pause(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(pause)

    return fit_arrays(model, *args, batch_size=16, callbacks=[*callbacks, Pause()], **kwargs)
'''


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A home holding study ``cf`` (3 trials of 2 epochs) and ``mixed`` (one COMPLETE, one FAIL trial, no fold)."""
    root = tmp_path_factory.mktemp("confirm")
    space = root / "folds.py"
    space.write_text(FOLDS_SPACE)
    home = root / "home"
    code, _, err = search("run", space, "--study", "cf", "--trials", "3", "--sampler", "random", "--pruner", "none",
                          "--home", home)
    assert code == 0, err
    mixed = optuna.create_study(study_name="mixed", storage=f"sqlite:///{home}/optuna.db")
    mixed.set_user_attr("space", "tiny")
    mixed.set_user_attr("settings", {"noise": 0.1})
    for state, value in ((TrialState.COMPLETE, 0.5), (TrialState.FAIL, None)):
        mixed.add_trial(create_trial(state=state, value=value, params={"x": 1.0},
                                     distributions={"x": FloatDistribution(0, 2)}))
    return home


def copy_home(pristine: Path, where: Path) -> Path:
    return Path(shutil.copytree(pristine, where / "home"))


def load(home: Path, name: str = "cf") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{home}/optuna.db")


def runs(home: Path, role: str | None = None) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    found = client.search_runs([client.get_experiment_by_name("cf").experiment_id], max_results=1000)
    return [r for r in found if role is None or r.data.tags.get("search.role") == role]


def top_two(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: (t.value, t.number))[:2]


@pytest.fixture(scope="module")
def confirmed(pristine, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the home after `search confirm cf --top 2 --seeds 2`, and what it printed."""
    home = copy_home(pristine, tmp_path_factory.mktemp("confirmed"))
    code, out, err = search("confirm", "cf", "--top", "2", "--seeds", "2", "--home", home)
    assert code == 0, err
    return home, out


def test_each_trial_gets_a_line_and_the_run_ends_with_a_verdict(confirmed):
    home, out = confirmed
    lines = out.splitlines()
    assert lines[0] == "confirm cf: 2 trials x 2 seeds, 2 epochs each; val_loss (min) at each retrain's best epoch"
    assert lines[1] == "retrains: 4 trained now, 0 of 4 already recorded"
    numbers = {t.number for t in top_two(load(home))}
    trial_lines = lines[2:4]
    assert {int(line.split()[1]) for line in trial_lines} == numbers
    for line in trial_lines:
        assert " confirmed " in line and "95% CI " in line and " n=2 " in line and " search " in line
        assert "(optimism " in line and " final epoch " in line and " P(best)=" in line
    first = int(trial_lines[0].split()[1])
    assert lines[4].startswith(f"trial {first} is best with P=")
    assert lines[4].endswith("at 95% (Welch's t-test)")
    assert lines[5].startswith(f"mlflow  sqlite:///{home}/mlflow.db (confirm run ")


def test_every_retrain_is_a_finished_child_run_under_one_confirm_run(confirmed):
    home, _ = confirmed
    study = load(home)
    parents, children = runs(home, "confirm"), runs(home, "confirm-retrain")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.params["seeds"] == "2"
    assert {f"trial_{t.number}.p_best" for t in top_two(study)} <= set(parents[0].data.metrics)
    assert not [r for r in runs(home) if r.info.status == "RUNNING"]
    assert len(children) == 4 and {r.info.status for r in children} == {"FINISHED"}
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    expected = {(str(t.number), str(1000 * (s + 1) + int(t.user_attrs["kt_trial_id"])))
                for t in top_two(study) for s in range(2)}
    assert {(r.data.tags["search.confirms"], r.data.params["seed"]) for r in children} == expected
    assert {r.data.params["fold"] for r in children} == {"0"}  # the study's own fold
    from mlflow import MlflowClient

    history = MlflowClient(f"sqlite:///{home}/mlflow.db").get_metric_history(children[0].info.run_id, "val_loss")
    assert [m.step for m in history] == [0, 1]  # every epoch


def test_the_study_keeps_each_retrain_and_the_figures(confirmed):
    home, _ = confirmed
    study = load(home)
    attrs = study.user_attrs
    assert len([k for k in attrs if k.startswith("confirm:")]) == 4
    figures = attrs["confirmed"]
    assert set(figures) == {str(t.number) for t in top_two(study)}
    for f in figures.values():
        assert f["n"] == 2 and f["ci"][0] <= f["mean"] <= f["ci"][1] and math.isfinite(f["search_value"])
    assert sum(f["p_best"] for f in figures.values()) == pytest.approx(1.0)


def test_trials_and_best_show_the_confirmed_figures(confirmed):
    home, _ = confirmed
    study = load(home)
    numbers = {t.number for t in top_two(study)}
    code, out, err = search("trials", "cf", "--format", "json", "--home", home)
    assert code == 0, err
    rows = {r["number"]: r for r in json.loads(out)}
    assert {n for n, r in rows.items() if r["confirmed_mean"] is not None} == numbers
    assert all(len(rows[n]["confirmed_ci"]) == 2 and 0 <= rows[n]["p_best"] <= 1 for n in numbers)
    code, out, _ = search("trials", "cf", "--format", "csv", "--home", home)
    assert out.splitlines()[0].endswith("confirmed_mean,confirmed_ci,p_best")
    code, out, _ = search("trials", "cf", "--home", home)
    assert "confirmed_mean" in out.splitlines()[0]
    code, out, _ = search("best", "cf", "--home", home)
    assert [line.split()[0] for line in out.splitlines()[:8]] == [
        "study", "trial", "objective", "direction", "value", "confirmed_mean", "confirmed_ci", "p_best"]
    ranked_first = min(numbers, key=lambda n: study.user_attrs["confirmed"][str(n)]["mean"])
    code, out, err = search("best", "cf", "--confirmed", "--format", "json", "--home", home)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["trial"] == ranked_first
    assert shown["confirmed_mean"] == study.user_attrs["confirmed"][str(ranked_first)]["mean"]


def test_export_confirmed_exports_the_trial_ranked_first(confirmed, tmp_path):
    home, _ = confirmed
    figures = load(home).user_attrs["confirmed"]
    ranked_first = min(figures, key=lambda n: figures[n]["mean"])
    code, out, err = search("export", "cf", "--confirmed", "--out", tmp_path / "m.keras", "--home", home)
    assert code == 0, err
    assert f"--confirmed: trial {ranked_first}, ranked first by `search confirm`" in err
    assert out.startswith(f"exported trial {ranked_first} of cf ")


def test_running_again_resumes_and_trains_nothing(confirmed):
    home, first = confirmed
    code, out, err = search("confirm", "cf", "--top", "2", "--seeds", "2", "--home", home)
    assert code == 0, err
    assert out.splitlines()[1] == "retrains: 0 trained now, 4 of 4 already recorded"
    assert out.splitlines()[2:5] == first.splitlines()[2:5]  # the same figures and verdict
    assert len(runs(home, "confirm-retrain")) == 4
    assert [r.info.status for r in runs(home, "confirm")] == ["FINISHED"]  # the same parent run, ended again


def test_two_workers_train_the_same_retrains_as_one(confirmed, pristine, tmp_path):
    one, _ = confirmed
    home = copy_home(pristine, tmp_path)
    code, out, err = search("confirm", "cf", "--top", "2", "--seeds", "2", "--workers", "2", "--home", home)
    assert code == 0, err
    assert out.splitlines()[1] == "retrains: 4 trained now, 0 of 4 already recorded"
    alone, shared = load(one).user_attrs, load(home).user_attrs
    retrains = sorted(k for k in alone if k.startswith("confirm:"))
    assert retrains == sorted(k for k in shared if k.startswith("confirm:"))
    # The same seeds and data; each worker has one thread, the single process two, which may change the
    # last bits of TensorFlow's reductions.
    for key in retrains:
        assert shared[key]["best"] == pytest.approx(alone[key]["best"], rel=1e-5)
    assert len(runs(home, "confirm-retrain")) == 4 and not [r for r in runs(home) if r.info.status == "RUNNING"]


def test_cv_retrains_on_every_fold_and_reuses_the_studys_own(pristine, tmp_path):
    home = copy_home(pristine, tmp_path)
    best = top_two(load(home))[0]
    code, out, err = search("confirm", "cf", "--trials", best.number, "--seeds", "1", "--home", home)
    assert code == 0, err
    code, out, err = search("confirm", "cf", "--trials", best.number, "--seeds", "1", "--cv", "--home", home)
    assert code == 0, err
    assert out.splitlines()[0].startswith("confirm cf: 1 trials x 1 seeds x 3 folds, 2 epochs each")
    assert out.splitlines()[1] == "retrains: 2 trained now, 1 of 3 already recorded"  # fold 0 and its seed: done
    assert out.splitlines()[3] == f"trial {best.number} is best with P=1.00; it is the only trial confirmed"
    folds = sorted(r.data.params["fold"] for r in runs(home, "confirm-retrain"))
    assert folds == ["0", "1", "2"]


def test_ctrl_c_keeps_what_finished_and_the_same_command_resumes(pristine, tmp_path):
    home = copy_home(pristine, tmp_path)
    command = [str(Path(sys.executable).parent / "search"), "confirm", "cf", "--top", "2", "--seeds", "3",
               "--workers", "2", "--home", str(home)]
    env = {**os.environ, "CONFIRM_TEST_SLEEP": "0.4"}
    env.pop("SEARCH_HOME", None)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(k.startswith("confirm:") for k in load(home).user_attrs) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.startswith("error: interrupted; ") and "retrains are recorded and no run is left RUNNING" in err
    assert not [r for r in runs(home) if r.info.status == "RUNNING"]
    assert [r.info.status for r in runs(home, "confirm")] == ["KILLED"]
    kept = len([k for k in load(home).user_attrs if k.startswith("confirm:")])
    assert 1 <= kept < 6 and len(runs(home, "confirm-retrain")) == kept
    code, out, err = search("confirm", "cf", "--top", "2", "--seeds", "3", "--home", home)
    assert code == 0, err
    assert out.splitlines()[1] == f"retrains: {6 - kept} trained now, {kept} of 6 already recorded"
    assert len(runs(home, "confirm-retrain")) == 6
    assert [r.info.status for r in runs(home, "confirm")] == ["FINISHED"]


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "Unknown study 'nope' in sqlite:///"),
    (["cf", "--trials", "9"], "Invalid --trials 9: no such trial in study 'cf'; only COMPLETE trials can be "
                              "confirmed: 0, 1, 2."),
    (["mixed", "--trials", "1"], "Invalid --trials 1: trial 1 is FAIL in study 'mixed'; only COMPLETE trials can "
                                 "be confirmed: 0."),
    (["mixed", "--cv"], "--cv needs a space with a 'fold' setting; space 'tiny' has none."),
    (["cf", "--top", "0"], "--top must be a positive integer, got 0."),
    (["cf", "--seeds", "-1"], "--seeds must be a positive integer, got -1."),
    (["cf", "--trials", "1,x"], "Invalid --trials '1,x'; expected trial numbers such as 3,7,12."),
    (["cf", "--top", "2", "--trials", "1"], "--top 2 and --trials 1 exclude each other; pass one."),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(pristine, tmp_path, args, message):
    home = copy_home(pristine, tmp_path)
    before = {name: load(home, name).user_attrs for name in ("cf", "mixed")}
    code, out, err = search("confirm", *args, "--home", home)
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert {name: load(home, name).user_attrs for name in ("cf", "mixed")} == before
    assert runs(home, "confirm") == []


def test_best_and_export_confirmed_need_a_confirmation(pristine):
    code, out, err = search("best", "cf", "--confirmed", "--home", pristine)
    assert (code, err) == (2, "error: Study 'cf' has no confirmed trial; run `search confirm cf` first.\n")
    code, out, err = search("export", "cf", "--confirmed", "--trial", "1", "--out", "m.keras", "--home", pristine)
    assert (code, err) == (2, "error: --confirmed and --trial 1 exclude each other; give one.\n")


# -- the statistics on known numbers ------------------------------------------------------------------
def test_the_interval_is_students_t():
    s = confirm_stats.summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (s.n, s.mean, s.std) == (5, 3.0, pytest.approx(math.sqrt(2.5)))
    half = 2.7764451051977934 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4)
    assert s.ci == pytest.approx((3.0 - half, 3.0 + half))
    one = confirm_stats.summarize([0.7, math.nan])
    assert (one.n, one.mean, one.std, one.ci, one.nonfinite) == (1, 0.7, None, None, 1)


def test_p_best_is_a_seeded_bootstrap_that_splits_ties():
    apart = confirm_stats.p_best({1: [0.1, 0.11, 0.12], 2: [0.5, 0.51, 0.52]}, "min")
    assert apart == {1: 1.0, 2: 0.0}
    assert confirm_stats.p_best({1: [0.1, 0.11, 0.12], 2: [0.5, 0.51, 0.52]}, "max") == {1: 0.0, 2: 1.0}
    assert confirm_stats.p_best({1: [1.0, 1.0], 2: [1.0, 1.0]}, "max") == {1: 0.5, 2: 0.5}
    close = confirm_stats.p_best({1: [0.1, 0.3, 0.2], 2: [0.15, 0.35, 0.25]}, "min")
    assert 0.5 < close[1] < 1.0 and close[1] + close[2] == pytest.approx(1.0)
    assert close == confirm_stats.p_best({1: [0.1, 0.3, 0.2], 2: [0.15, 0.35, 0.25]}, "min")  # seeded
    assert confirm_stats.p_best({1: [math.nan], 2: [0.2]}, "min") == {1: 0.0, 2: 1.0}


def test_welch_t_test_on_known_numbers():
    # scipy.stats.ttest_ind([1, 2, 3, 4], [3, 4, 5, 6, 7, 8], equal_var=False).pvalue
    assert confirm_stats.welch_p([1, 2, 3, 4], [3, 4, 5, 6, 7, 8]) == pytest.approx(0.0172165, abs=1e-7)
    assert confirm_stats.welch_p([1.0, 1.0], [0.9, 0.9]) == 0.0 and confirm_stats.welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert confirm_stats.welch_p([1.0], [0.9, 0.8]) is None
    assert confirm_stats.indistinguishable([1, 2, 3, 4], {7: [3, 4, 5, 6, 7, 8], 8: [1.5, 2.5, 3.5]}) == [8]
