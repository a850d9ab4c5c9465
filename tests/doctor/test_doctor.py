"""The trial doctor: gradient audit, numerics sentinel, divergence/jump events, failure groups.

Study-level tests run real studies (TensorFlow training, SQLite Optuna and MLflow stores)
on purpose-built broken spaces in tests/fixture_spaces/.
"""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import optuna
from mlflow import MlflowClient
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from search import StudyConfig, run_study
from search import storage as storage_mod
from search.doctor import audit_gradients, diverged
from search.engine.failure_aware import FailureAwareTPESampler
from search.records.failures import group_failures
from search.space.loader import load_space

NAN_REASON = ("loss became NaN at epoch 2 (step 1); first non-finite: output of layer 'nan_after' (NanAfter) "
              "at replayed batch 0")


def _study(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage_mod.resolve().storage_url)


def _trial_runs(name: str) -> tuple[MlflowClient, dict[int, object]]:
    client = MlflowClient(storage_mod.resolve().tracking_uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return client, {int(r.data.tags["search.optuna_trial_number"]): r for r in runs
                    if r.data.tags.get("search.role") == "trial"}


# -- gradient audit -------------------------------------------------------------------------
def test_unused_weight_is_named_in_tags_attrs_and_trials_table(space_path, run_cli):
    run_study(StudyConfig(space=space_path("unused_weight"), study="unused", trials=1, epochs=1, progress=False))
    trial = _study("unused").trials[0]
    expected = "sequential/threshold_bump/threshlevel (layer threshold_bump: ThresholdBump)"
    assert trial.user_attrs["no_gradient"] == [expected]
    assert trial.user_attrs["gradient_audit"] == "no gradient: 1"
    _, runs = _trial_runs("unused")
    tags = runs[0].data.tags
    assert tags["search.no_gradient"] == expected
    assert tags["search.gradient_audit"] == "no gradient: 1"
    assert "search.zero_gradient" not in tags and "search.nonfinite_gradient" not in tags

    code, out, _ = run_cli("trials", "unused", "--format", "json")
    assert code == 0
    assert json.loads(out)[0]["gradients"] == "no gradient: sequential/threshold_bump/threshlevel"
    code, out, _ = run_cli("trials", "unused")
    assert "no gradient: sequential/threshold_bump/threshlevel" in out


@keras.saving.register_keras_serializable(package="tests")
class SqrtOfWeight(keras.layers.Layer):
    """Adds sqrt(w) with w = 0: a finite output whose gradient is infinite."""

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(1,), initializer="zeros")

    def call(self, inputs):
        return inputs + keras.ops.sqrt(self.w)


def test_audit_names_none_zero_and_nonfinite_gradients_and_leaves_state_alone(space_path):
    nan_after = load_space(space_path("nan_at_epoch2")).module.NanAfter
    unused = load_space(space_path("unused_weight")).module.ThresholdBump
    inputs = keras.Input((3,))
    dead = keras.layers.Dense(2, activation="relu", bias_initializer=keras.initializers.Constant(-100.0),
                              name="dead")(inputs)
    alive = keras.layers.Dense(2, name="alive")(inputs)
    merged = keras.layers.Concatenate()([dead, alive])
    merged = SqrtOfWeight(name="sqrt")(nan_after(calls=100, name="counter")(merged))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(unused(name="gate")(merged)))
    model.compile("sgd", "mse")
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")

    report = audit_gradients(model, x, y)
    assert report.no_gradient == ["gate/threshlevel (layer gate: ThresholdBump)"]
    assert report.zero_gradient == ["dead/kernel (layer dead: Dense)", "dead/bias (layer dead: Dense)"]
    assert report.nonfinite_gradient[0] == "sqrt/w (layer sqrt: SqrtOfWeight)"
    assert report.summary().startswith("no gradient: 1, zero gradient: 2, non-finite gradient:")
    # The training-mode forward pass counted a call; the audit put the counter back.
    assert float(model.get_layer("counter").count.numpy()) == 0.0


# -- numerics sentinel ------------------------------------------------------------------------
def test_replay_names_the_first_non_finite_output_or_gradient(space_path):
    from search.doctor._numerics import first_nonfinite_output, replay

    nan_after = load_space(space_path("nan_at_epoch2")).module.NanAfter
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    forward = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="first"),
                                nan_after(calls=1, name="late"), keras.layers.Dense(1, name="out")])
    forward.compile("sgd", "mse")
    # Batches of 4: the layer's 2nd training call is the first non-finite one.
    assert replay(forward, x, y, batch=4) == "output of layer 'late' (NanAfter) at replayed batch 1"
    assert first_nonfinite_output(forward, x) == "output of layer 'late' (NanAfter)"

    backward = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="first"),
                                 SqrtOfWeight(name="sqrt"), keras.layers.Dense(1, name="out")], name="backward")
    backward.compile("sgd", "mse")
    # Finite forward pass; the gradient of sqrt(w) at w = 0 is infinite, and back-propagation
    # carries it no further than the variable nearest the output that it reaches.
    assert replay(backward, x, y, batch=4) == (
        "gradient of backward/sqrt/w (layer sqrt: SqrtOfWeight) at replayed batch 0")


def test_nan_trials_fail_with_the_reason_and_the_study_completes_its_healthy_ones(space_path, run_cli):
    # Random sampler, seed 4: mode = nan, nan, nan, ok, ok. Two consecutive failures would
    # end the study, but NaN trials do not count toward that limit.
    result = run_study(StudyConfig(space=space_path("nan_at_epoch2"), study="nan", trials=5, epochs=3,
                                   sampler="random", pruner="none", seed=4, max_consecutive_failures=2, progress=False))
    assert (result.complete, result.failed) == (2, 3)
    study = _study("nan")
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3 + [TrialState.COMPLETE] * 2
    client, runs = _trial_runs("nan")
    for t in study.trials[:3]:
        assert t.user_attrs["hp"]["mode"] == "nan"
        assert t.user_attrs["fail_reason"] == NAN_REASON
        assert t.user_attrs["numerics"] == {
            "metric": "loss", "value": "NaN", "epoch": 2, "step": 1,
            "origin": "output of layer 'nan_after' (NanAfter) at replayed batch 0"}
        assert t.constraints == {"finite": 1.0}  # what the failure-aware TPE reads
        assert t.user_attrs["events"] == [{"event": "nonfinite", "epoch": 2, "detail": NAN_REASON}]
        assert list(t.intermediate_values) == [0]  # epoch 1 was reported, the NaN epoch was not
        run = runs[t.number]
        assert run.info.status == "FAILED"
        assert run.data.tags["search.fail_reason"] == NAN_REASON
        assert run.data.tags["search.numerics"] == NAN_REASON
        assert json.loads(run.data.tags["search.events"])[0]["event"] == "nonfinite"
        losses = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)]
        assert len(losses) == 2 and math.isfinite(losses[0]) and math.isnan(losses[1])
        assert "plots/learning_curves.svg" in {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    for t in study.trials[3:]:
        assert t.user_attrs["hp"]["mode"] == "ok" and "numerics" not in t.user_attrs and not t.constraints

    code, out, _ = run_cli("trials", "nan", "--failures")
    assert code == 0
    assert out.splitlines() == [
        "3 trials FAIL: loss became NaN; first non-finite: output of layer 'nan_after' (NanAfter) at epoch 2 "
        "(all with mode=nan); trials 0, 1, 2"]
    code, out, _ = run_cli("trials", "nan", "--failures", "--format", "json")
    assert json.loads(out) == [{
        "state": "FAIL", "reason": "loss became NaN; first non-finite: output of layer 'nan_after' (NanAfter)",
        "count": 3, "trials": [0, 1, 2], "epochs": [2, 2, 2], "shared_params": {"mode": "nan"}}]


def test_failure_aware_tpe_keeps_away_from_a_nan_region():
    """A cliff: the objective improves toward x = 0.75 and is NaN beyond (tests/perf/steer_nan.py)."""

    def nan_trials(sampler_cls, seed):
        study = optuna.create_study(sampler=sampler_cls(seed=seed, multivariate=True, constant_liar=True))
        for _ in range(40):
            trial = study.ask()
            x = trial.suggest_float("x", 0, 1)
            if x >= 0.75:
                trial.set_constraint("finite", 1.0)
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, (x - 0.75) ** 2)
        return sum(t.state == TrialState.FAIL for t in study.trials)

    plain = sum(nan_trials(optuna.samplers.TPESampler, s) for s in range(3))
    aware = sum(nan_trials(FailureAwareTPESampler, s) for s in range(3))
    assert aware < plain / 1.5, (aware, plain)


# -- divergence and jump ---------------------------------------------------------------------
def test_divergence_rule():
    assert diverged(loss=11.0, best=1.0, first=5.0)
    assert not diverged(loss=9.0, best=1.0, first=5.0)
    assert not diverged(loss=50.0, best=5.0, first=5.0)  # never improved: not a divergence
    assert diverged(loss=10.0, best=-2.0, first=-1.0)  # negative losses: 9x the improvement back
    assert not diverged(loss=6.0, best=-2.0, first=-1.0)


def test_jump_and_divergence_events_are_recorded_with_their_epoch(space_path):
    # Random sampler, seed 0: scenario = diverge, then jump.
    run_study(StudyConfig(space=space_path("events"), study="events", trials=2, epochs=4, sampler="random",
                          seed=0, pruner="none", progress=False))
    study = _study("events")
    _, runs = _trial_runs("events")
    by_scenario = {t.user_attrs["hp"]["scenario"]: t for t in study.trials}
    assert all(t.state == TrialState.COMPLETE for t in study.trials)  # events never stop a trial

    [divergence] = by_scenario["diverge"].user_attrs["events"]
    assert divergence["event"] == "divergence" and divergence["epoch"] == 4
    assert "over 10x its best" in divergence["detail"]
    [jump] = by_scenario["jump"].user_attrs["events"]
    assert jump["event"] == "jump" and jump["epoch"] == 2
    assert "from the start (most: sequential/linear/kernel (layer linear: Dense))" in jump["detail"]
    assert "(before training)" in jump["detail"]
    for t in study.trials:
        assert json.loads(runs[t.number].data.tags["search.events"]) == t.user_attrs["events"]


# -- failure groups --------------------------------------------------------------------------
def _add(study, state, params, **attrs):
    dists = {"loss": CategoricalDistribution(["mse", "mae"]), "optimizer": CategoricalDistribution(["adam", "sgd"]),
             "lr": FloatDistribution(1e-4, 1.0, log=True)}
    study.add_trial(create_trial(state=state, value=1.0 if state == TrialState.COMPLETE else None, params=params,
                                 distributions=dists, user_attrs={"hp": params, **attrs}))


def test_failures_are_grouped_by_normalised_reason_with_shared_params():
    study = optuna.create_study(study_name="groups")
    nan = lambda epoch: {"numerics": {"metric": "loss", "value": "NaN", "epoch": epoch, "step": epoch - 1,  # noqa: E731
                                      "origin": f"output of layer 'atan2' (Atan2) at replayed batch {epoch * 3}"},
                         "fail_reason": f"loss became NaN at epoch {epoch} ..."}
    _add(study, TrialState.FAIL, {"loss": "mse", "optimizer": "adam", "lr": 0.1}, **nan(2))
    _add(study, TrialState.FAIL, {"loss": "mse", "optimizer": "adam", "lr": 0.3}, **nan(4))
    _add(study, TrialState.FAIL, {"loss": "mae", "optimizer": "sgd", "lr": 0.3},
         fail_reason="Oversized model: 123456 parameters. Skip model.")
    _add(study, TrialState.PRUNED, {"loss": "mae", "optimizer": "adam", "lr": 0.01}, pruned_by="MedianPruner at step 3")
    _add(study, TrialState.PRUNED, {"loss": "mae", "optimizer": "sgd", "lr": 0.01}, pruned_by="MedianPruner at step 5")
    _add(study, TrialState.COMPLETE, {"loss": "mae", "optimizer": "adam", "lr": 0.001})

    lines = [g.line() for g in group_failures(study)]
    assert lines == [
        "2 trials FAIL: loss became NaN; first non-finite: output of layer 'atan2' (Atan2) at epochs 2-4 "
        "(all with loss=mse, optimizer=adam); trials 0, 1",
        "2 trials PRUNED: pruned by MedianPruner at epochs 4-6 (all with loss=mae, lr=0.01); trials 3, 4",
        "1 trial FAIL: Oversized model: # parameters. Skip model. (with loss=mae, lr=0.3, optimizer=sgd); trials 2",
    ]


def test_failures_of_a_study_without_any(run_cli, isolated_home):
    isolated_home.mkdir()
    study = optuna.create_study(study_name="clean", storage=storage_mod.resolve().storage_url)
    _add(study, TrialState.COMPLETE, {"loss": "mae", "optimizer": "adam", "lr": 0.001})
    code, out, _ = run_cli("trials", "clean", "--failures")
    assert (code, out) == (0, "study clean: no failed or pruned trial\n")
