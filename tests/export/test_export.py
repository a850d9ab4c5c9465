"""``search export``: real tiny studies exported in all three formats and reloaded in fresh processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import optuna
import pytest

from search import StudyConfig, run_study
from search.export.probe import ATOL, RTOL, Probe, sha256_file
from search.export.verify import Job, verify_in_fresh_process

SPACES = Path(__file__).parents[1] / "fixture_spaces"


def _run_study(home: Path, space: str, study: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("SEARCH_STORAGE", "MLFLOW_TRACKING_URI"):
            mp.delenv(name, raising=False)
        result = run_study(StudyConfig(space=str(SPACES / f"{space}.py"), study=study, trials=2, epochs=2,
                                       sampler="random", pruner="none", seed=1, home=str(home), progress=False))
    assert result.complete == 2


@pytest.fixture(scope="module")
def studies_home(tmp_path_factory):
    """One home (one MLflow store: creating one costs seconds) for the module's two real studies."""
    return tmp_path_factory.mktemp("studies") / "home"


@pytest.fixture(scope="module")
def custom_home(studies_home):
    """A finished 2-trial study ``cl`` of a two-input space built from the project's custom layers."""
    _run_study(studies_home, "custom_layers", "cl")
    return studies_home


@pytest.fixture(scope="module")
def exported(custom_home, tmp_path_factory):
    """The best trial of ``cl`` exported in all three formats through the CLI (registered as ``clmodel``)."""
    from search.cli import main

    out = tmp_path_factory.mktemp("exports")
    paths = {"keras": out / "best.keras", "savedmodel": out / "best_savedmodel", "mlflow": out / "best_mlflow"}
    for fmt, path in paths.items():
        extra = ["--register", "clmodel"] if fmt == "mlflow" else []
        argv = ["search", "export", "cl", "--out", str(path), "--format", fmt, "--home", str(custom_home), *extra]
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sys, "argv", argv)
            mp.delenv("MLFLOW_TRACKING_URI", raising=False)
            try:
                main()
            except SystemExit as e:
                assert not e.code, f"export {fmt} failed with exit code {e.code}"
    return paths


def _best(home: Path, study: str) -> optuna.trial.FrozenTrial:
    return optuna.load_study(study_name=study, storage=f"sqlite:///{home}/optuna.db").best_trial


def _manifest(path: Path) -> dict:
    return json.loads((path.with_name(path.name + ".manifest.json") if path.suffix == ".keras"
                       else path / "manifest.json").read_text())


def test_hook_records_the_probe_with_the_best_checkpoint_locally_and_in_mlflow(custom_home):
    from search.tracking.models import ModelStore

    store = ModelStore(f"sqlite:///{custom_home}/mlflow.db")
    study = optuna.load_study(study_name="cl", storage=f"sqlite:///{custom_home}/optuna.db")
    for t in study.trials:
        folder = custom_home / "keras_tuner" / "cl" / f"trial_{t.user_attrs['kt_trial_id']}"
        probe = Probe.load(folder / "probe.npz")
        assert probe.weights_sha256 == sha256_file(folder / "checkpoint.weights.h5")
        assert probe.input_names == ["x_I", "x_Q"] and [x.shape for x in probe.inputs] == [(32, 6), (32, 6)]
        assert probe.outputs[0].shape == (32, 1) and np.isfinite(probe.outputs[0]).all()
        logged = Path(store.download_artifacts(t.user_attrs["mlflow_run_id"], "best", str(custom_home / f"dl{t.number}")))
        assert sorted(p.name for p in logged.iterdir()) == [
            "build_config.json", "checkpoint.weights.h5", "hyperparameters.json", "probe.npz"]
        assert Probe.load(logged / "probe.npz").weights_sha256 == probe.weights_sha256
        assert json.loads((logged / "hyperparameters.json").read_text())["lr"] == t.user_attrs["hp"]["lr"]
    # The probe holds the outputs of the BEST epoch's weights (what an export contains).
    from search.export.weights import build_model, restore_hp
    from search.space.loader import load_space

    model = build_model(load_space(str(SPACES / "custom_layers.py")), restore_hp(t.user_attrs["hp"], {}))
    model.load_weights(str(folder / "checkpoint.weights.h5"))
    np.testing.assert_allclose(model.predict_on_batch(probe.inputs), probe.outputs[0], rtol=RTOL, atol=ATOL)


def test_export_all_three_formats_reload_in_one_fresh_process(custom_home, exported):
    best = _best(custom_home, "cl")
    for fmt, path in exported.items():
        m = _manifest(path)
        assert (m["study"], m["trial"], m["format"], m["value"]) == ("cl", best.number, fmt, best.value)
        assert m["params"] == best.user_attrs["hp"] and m["weights"]["source"] == "local"
        assert m["verification"]["passed"] and m["verification"]["max_abs_diff"] <= ATOL
        assert (m["verification"]["rtol"], m["verification"]["atol"]) == (RTOL, ATOL)
        assert {"tensorflow", "keras", "search", "mlflow"} <= set(m["versions"])
    assert not [p for p in exported["keras"].parent.iterdir() if p.name.startswith(".")]  # no staging left
    probe = custom_home / "keras_tuner" / "cl" / f"trial_{best.user_attrs['kt_trial_id']}" / "probe.npz"
    results = verify_in_fresh_process([Job(fmt, fmt, str(p), str(probe)) for fmt, p in exported.items()])
    assert {fmt: r.passed for fmt, r in results.items()} == {"keras": True, "savedmodel": True, "mlflow": True}, results


def test_mlflow_export_is_logged_registered_and_loads_from_its_code_paths_alone(custom_home, exported):
    m = _manifest(exported["mlflow"])
    assert m["mlflow"]["run_id"] == _best(custom_home, "cl").user_attrs["mlflow_run_id"]
    assert m["mlflow"]["registered"] == {"name": "clmodel", "version": "1", "alias": "best",
                                         "uri": "models:/clmodel@best"}
    assert (exported["mlflow"] / "code" / "search" / "layers" / "atan2.py").is_file()
    # Hide the installed (editable) project: `search` must come from the model's code_paths.
    script = """
import sys, json, numpy as np
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
import os
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != sys.argv[2]]
import mlflow.pyfunc
model = mlflow.pyfunc.load_model("models:/clmodel@best")
import search
data = np.load(sys.argv[1])
out = model.predict({"x_I": data["input_0"], "x_Q": data["input_1"]})
print(json.dumps({"search": search.__file__, "diff": float(np.abs(out - data["output_0"]).max())}))
"""
    probe = Path(exported["mlflow"]).parent / "probe.npz"
    best = _best(custom_home, "cl")
    shutil.copy(custom_home / "keras_tuner" / "cl" / f"trial_{best.user_attrs['kt_trial_id']}" / "probe.npz", probe)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{custom_home}/mlflow.db"}
    done = subprocess.run([sys.executable, "-c", script, str(probe), str(Path(__file__).parents[2])],
                          capture_output=True, text=True, env=env, cwd=str(custom_home), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["search"].endswith("/code/search/__init__.py"), result
    assert not result["search"].startswith(str(Path(__file__).parents[2])) and result["diff"] <= ATOL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mlflow_models_serve_answers_a_prediction(custom_home, exported):
    probe = Probe.load(custom_home / "keras_tuner" / "cl" /
                       f"trial_{_best(custom_home, 'cl').user_attrs['kt_trial_id']}" / "probe.npz")
    port = _free_port()
    mlflow_bin = str(Path(sys.executable).parent / "mlflow")
    # MLflow starts `uvicorn` by name: the environment's bin folder must be on PATH (an activated venv).
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{custom_home}/mlflow.db",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = subprocess.Popen(
        [mlflow_bin, "models", "serve", "-m", "models:/clmodel@best", "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=str(custom_home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "mlflow models serve did not answer /ping in 180 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        body = {"inputs": {name: x[:4].tolist() for name, x in zip(probe.input_names, probe.inputs)}}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as r:
            predictions = np.asarray(json.loads(r.read())["predictions"], dtype="float32")
        np.testing.assert_allclose(predictions, probe.outputs[0][:4], rtol=RTOL, atol=ATOL)
    finally:
        _stop(server)


def _stop(process: subprocess.Popen) -> None:
    """Stops the server's whole process group (mlflow -> uvicorn -> workers)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def tiny_home(studies_home):
    """A finished 2-trial study ``tiny`` of the tiny Dense space."""
    _run_study(studies_home, "tiny", "tiny")
    return studies_home


def test_export_takes_the_weights_from_mlflow_when_the_trial_folder_is_gone(tiny_home, run_cli, tmp_path):
    best = _best(tiny_home, "tiny")
    shutil.rmtree(tiny_home / "keras_tuner" / "tiny" / f"trial_{best.user_attrs['kt_trial_id']}")
    code, out, err = run_cli("export", "tiny", "--out", "m.keras", "--home", tiny_home)
    assert code == 0, err
    m = _manifest(tmp_path / "m.keras")
    assert m["weights"] == {"source": "mlflow", "location": f"runs:/{best.user_attrs['mlflow_run_id']}/best",
                            "sha256": m["weights"]["sha256"]}
    assert m["verification"]["probe_recorded_with_trial"] and "weights from mlflow" in out


def test_export_retrains_a_trial_whose_weights_are_nowhere_and_says_so(tiny_home, run_cli, tmp_path):
    from search.tracking.models import ModelStore

    other = next(t for t in optuna.load_study(study_name="tiny", storage=f"sqlite:///{tiny_home}/optuna.db").trials
                 if t.number != _best(tiny_home, "tiny").number)
    kt_id = other.user_attrs["kt_trial_id"]
    shutil.rmtree(tiny_home / "keras_tuner" / "tiny" / f"trial_{kt_id}")
    run = ModelStore(f"sqlite:///{tiny_home}/mlflow.db").client.get_run(other.user_attrs["mlflow_run_id"])
    shutil.rmtree(Path(run.info.artifact_uri.removeprefix("file://")) / "best")
    code, out, err = run_cli("export", "tiny", "--trial", other.number, "--out", "m.keras", "--home", tiny_home)
    assert code == 0, err
    assert f"retraining it from its parameters with seed 1 + {int(kt_id)} for 2 epochs" in err
    m = _manifest(tmp_path / "m.keras")
    assert (m["trial"], m["weights"]["source"]) == (other.number, "retrained")
    assert m["verification"]["passed"] and not m["verification"]["probe_recorded_with_trial"]


def test_failed_verification_writes_nothing_and_deletes_the_logged_model(custom_home, run_cli, tmp_path):
    from search.tracking.models import ModelStore

    study = optuna.load_study(study_name="cl", storage=f"sqlite:///{custom_home}/optuna.db")
    other = next(t for t in study.trials if t.number != study.best_trial.number)
    path = custom_home / "keras_tuner" / "cl" / f"trial_{other.user_attrs['kt_trial_id']}" / "probe.npz"
    original = path.read_bytes()
    probe = Probe.load(path)
    probe.outputs = [o + 0.5 for o in probe.outputs]  # a recorded probe the weights do not reproduce
    probe.save(path)
    client = ModelStore(f"sqlite:///{custom_home}/mlflow.db").client
    experiment = client.get_experiment_by_name("cl").experiment_id
    models_before = len(client.search_logged_models([experiment]))
    try:
        code, _, err = run_cli("export", "cl", "--trial", other.number, "--format", "mlflow", "--out", "m_dir",
                               "--home", custom_home)
    finally:
        path.write_bytes(original)
    assert code == 1
    assert err.count("\n") == 1 and "failed verification in a fresh process: outputs differ: max abs diff 0.5" in err
    assert not [p.name for p in tmp_path.iterdir() if "m_dir" in p.name]
    assert len(client.search_logged_models([experiment])) == models_before


@pytest.fixture
def small_studies(isolated_home):
    """Studies made directly in Optuna (no training): 'done' (trial 0 COMPLETE, 1 FAIL, 2 PRUNED), 'empty'."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    isolated_home.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{isolated_home}/optuna.db"
    done = optuna.create_study(study_name="done", storage=storage)
    done.set_user_attr("space_path", str(SPACES / "tiny.py"))
    dist = {"lr": FloatDistribution(1e-3, 1e-1)}
    done.add_trial(create_trial(params={"lr": 0.01}, distributions=dist, value=1.0))
    done.add_trial(create_trial(params={"lr": 0.02}, distributions=dist, state=TrialState.FAIL,
                                user_attrs={"fail_reason": "ValueError: boom"}))
    done.add_trial(create_trial(params={"lr": 0.03}, distributions=dist, state=TrialState.PRUNED,
                                intermediate_values={0: 2.0}, user_attrs={"pruned_by": "MedianPruner at step 0"}))
    empty = optuna.create_study(study_name="empty", storage=storage)
    empty.add_trial(create_trial(params={}, distributions={}, state=TrialState.FAIL))
    return done


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--out", "m.keras"], "Unknown study 'nope' in "),
        (["empty", "--out", "m.keras"], "Study 'empty' has no completed trial yet."),
        (["done", "--out", "m.keras", "--trial", "7"], "Unknown trial 7 in study 'done'; trials there: 0 to 2."),
        (["done", "--out", "m.keras", "--trial", "1"],
         "Trial 1 of study 'done' failed (ValueError: boom); only COMPLETE or PRUNED trials can be exported."),
        (["done", "--out", "afile/m.keras"], "Cannot write --out 'afile/m.keras': "),
        (["done", "--out", "/proc/search-export/m.keras"], "Cannot write --out '/proc/search-export/m.keras': "),
        (["done", "--out", "m.onnx", "--format", "onnx"], "Unknown format 'onnx'; accepted: keras, savedmodel, mlflow."),
        (["done", "--out", "m.h5"], "--out 'm.h5' must end with .keras for --format keras."),
        (["done", "--out", "m.keras", "--register", "x"], "--register 'x' needs --format mlflow (got --format keras)."),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(small_studies, run_cli, tmp_path, args, message):
    (tmp_path / "afile").write_text("not a folder")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_cli("export", *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_pruned_trial_is_allowed_with_a_warning(small_studies):
    from search.export.trial import select_trial

    said = []
    assert select_trial(small_studies, 2, said.append).number == 2
    assert said == ["warning: trial 2 was pruned (MedianPruner at step 0); exporting the best epoch it reached."]
    assert select_trial(small_studies, None, said.append).number == 0  # the best never picks it
