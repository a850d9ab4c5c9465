"""Several objectives from the CLI: real studies, real training, a real MLflow store."""

from __future__ import annotations

import json

import mlflow
import optuna

from search.records import keys
from search.records.pareto import front

OBJECTIVES = [("val_loss", "min"), ("params", "min")]


def _study(home, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{home / 'optuna.db'}")


def _runs(home, name):
    client = mlflow.MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    return client, client.search_runs([experiment.experiment_id])


def test_a_study_of_two_objectives_and_a_constraint_end_to_end(run_cli, isolated_home, space_path, tmp_path):
    code, out, err = run_cli("run", space_path("two_objectives"), "--study", "p", "--trials", "8", "--sampler", "random")
    assert code == 0, err
    study = _study(isolated_home, "p")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.user_attrs[keys.STUDY_OBJECTIVES] == [list(o) for o in OBJECTIVES]
    assert study.user_attrs[keys.STUDY_PRUNER] == "none"
    trials = study.get_trials()
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == 8
    for t in done:  # the cost metric is told as measured; the constraint is set from it
        assert t.values[1] == t.user_attrs["params"] == 6 * t.params["units"] + 1
        assert keys.is_feasible(t) == (t.user_attrs["params"] <= 45)
        assert {"model_bytes", "latency_ms"} <= set(t.user_attrs)
    on_front = {t.number for t in front(trials, OBJECTIVES)}
    assert on_front and on_front == {t.number for t in study.best_trials}  # Optuna's own front, constraints included
    assert "best Pareto front of" in out and out.count("front   trial") == min(len(on_front), 5)

    # MLflow: front membership and feasibility on the trial runs; the two plots on the parent run.
    client, runs = _runs(isolated_home, "p")
    trial_runs = {int(r.data.tags[keys.TAG_OPTUNA_NUMBER]): r for r in runs if r.data.tags.get(keys.TAG_ROLE) == "trial"}
    assert {n for n, r in trial_runs.items() if r.data.tags.get(keys.TAG_PARETO) == "true"} == on_front
    assert all(r.data.tags[keys.TAG_FEASIBLE] == str(keys.is_feasible(trials[n])).lower() for n, r in trial_runs.items())
    assert all({"params", "model_bytes", "latency_ms", "best_val_loss", "best_params"} <= set(r.data.metrics)
               for r in trial_runs.values())
    parent = next(r for r in runs if r.data.tags.get(keys.TAG_ROLE) == keys.ROLE_STUDY)
    assert parent.data.metrics["pareto_size"] == len(on_front)
    assert json.loads(parent.data.tags[keys.TAG_PLOT_NOTES]) == {}
    folder = client.download_artifacts(parent.info.run_id, "plots", str(tmp_path))
    pareto_svg = open(f"{folder}/pareto_front.svg").read()
    assert pareto_svg.count('class="pareto"') == len(on_front)
    assert pareto_svg.count('class="infeasible"') == sum(not keys.is_feasible(t) for t in done)
    assert "Hypervolume History" in open(f"{folder}/hypervolume.svg").read()

    # search trials --pareto, search best (table, csv, json)
    table = run_cli("trials", "p", "--pareto")[1].splitlines()
    assert table[0].split()[:5] == ["number", "state", "pareto", "val_loss", "params_count"]
    assert sum(line.split()[2] == "*" for line in table[1:]) == len(on_front)
    rows = json.loads(run_cli("trials", "p", "--format", "json")[1])
    assert {r["number"] for r in rows if r["pareto"]} == on_front
    best = json.loads(run_cli("best", "p", "--format", "json")[1])
    assert {r["trial"] for r in best["pareto_front"]} == on_front
    assert all(r["mlflow_run_id"] == trial_runs[r["trial"]].info.run_id for r in best["pareto_front"])
    assert len(run_cli("best", "p", "--format", "csv")[1].strip().splitlines()) == len(on_front) + 1
    assert run_cli("best", "p")[1].startswith(f"study p: Pareto front of {len(on_front)} trial")

    # search export: refuses to guess, exports a named or a picked trial.
    code, out, err = run_cli("export", "p", "--out", str(tmp_path / "m.keras"))
    assert code == 2 and "has several objectives; its best trials are the Pareto front (trials" in err
    assert len(err.strip().splitlines()) == 1
    small = [t for t in done if keys.is_feasible(t) and t.user_attrs["params"] <= 31]
    if small:
        expected = min(small, key=lambda t: (t.values[0], t.number)).number
        code, out, err = run_cli("export", "p", "--out", str(tmp_path / "m.keras"), "--pick", "min val_loss where params<=31")
        assert code == 0, err
        assert f"exported trial {expected} of p" in out
    code, out, err = run_cli("export", "p", "--out", str(tmp_path / "m.keras"), "--pick", "max accuracy")
    assert code == 2 and "--pick names 'accuracy'" in err


def test_objectives_are_kept_on_resume_and_by_workers(run_cli, isolated_home, space_path):
    args = ["run", space_path("tiny"), "--study", "w", "--sampler", "random", "--epochs", "1"]
    code, out, err = run_cli(*args, "--trials", "2", "--workers", "2", "--objective", "val_loss",
                             "--objective", "latency_ms:min", "--constraint", "params<=40", "--pruner", "median")
    assert code == 0, err
    assert "note: --pruner median is off: Optuna cannot prune trials of several objectives" in err
    code, out, err = run_cli(*args, "--trials", "4")  # resumed: the objectives and constraint it was created with
    assert code == 0, err
    code, out, err = run_cli(*args, "--trials", "6", "--timeout", "0.001")  # the budget raised, no trial run
    assert code == 0, err
    code, out, err = run_cli("worker", "w")  # a worker takes them from the study
    assert code == 0, err
    study = _study(isolated_home, "w")
    done = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    assert len(done) == 6
    assert all(len(t.values) == 2 and t.values[1] == t.user_attrs["latency_ms"] for t in done)
    assert all(list(t.constraints) == ["params<=40"] for t in done)
    code, out, err = run_cli(*args, "--objective", "val_loss")
    assert code == 2 and "was created for objectives val_loss (min), latency_ms (min), not val_loss (min)" in err
    code, out, err = run_cli(*args, "--objective", "val_loss", "--objective", "latency_ms", "--constraint", "params<=9")
    assert code == 2 and "was created with constraints params<=40, not params<=9; a study's constraints cannot" in err


def test_a_constraint_on_a_single_objective_study(run_cli, isolated_home, space_path, tmp_path):
    code, out, err = run_cli("run", space_path("tiny"), "--study", "c", "--trials", "6", "--epochs", "1",
                             "--sampler", "random", "--constraint", "params<=37")
    assert code == 0, err
    study = _study(isolated_home, "c")
    done = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    feasible = [t for t in done if t.user_attrs["params"] <= 37]
    assert [keys.is_feasible(t) for t in done] == [t.user_attrs["params"] <= 37 for t in done]
    best = json.loads(run_cli("best", "c", "--format", "json")[1])
    if feasible:
        assert best["trial"] == min(feasible, key=lambda t: (t.value, t.number)).number  # never an infeasible one
    table = run_cli("trials", "c")[1].splitlines()
    assert "feasible" in table[0].split() and "params_count" in table[0].split()
    assert sum(" no " in f" {line} " for line in table[1:]) == len(done) - len(feasible)
    client, runs = _runs(isolated_home, "c")
    parent = next(r for r in runs if r.data.tags.get(keys.TAG_ROLE) == keys.ROLE_STUDY)
    history = open(client.download_artifacts(parent.info.run_id, "plots/optimization_history.svg", str(tmp_path))).read()
    assert history.count('class="infeasible"') == len(done) - len(feasible)
