"""KerasTuner hyperparameters as Optuna distributions: every type, conditionals, reuse."""

from __future__ import annotations

import math

import keras_tuner
import optuna
import optuna.distributions as od
import pytest

from search.engine import distributions
from search.errors import UsageError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _space(declare) -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    declare(hp)
    return hp


def _mapping(declare) -> dict[str, distributions.Mapped]:
    return {m.hp.name: m for m in distributions.map_space(_space(declare)) if m is not None}


def test_every_type_maps_to_its_distribution():
    def declare(hp):
        hp.Choice("choice", ["a", "b", "c"])
        hp.Int("int_step", 2, 10, step=2)
        hp.Int("int_log", 1, 1000, sampling="log")
        hp.Int("int_log_step", 1, 64, step=2, sampling="log")
        hp.Float("float_step", 0.0, 1.0, step=0.25)
        hp.Float("float_log", 1e-5, 1e-1, sampling="log")
        hp.Float("float_reverse", 0.5, 0.999, sampling="reverse_log")
        hp.Float("float_plain", -1.0, 1.0)
        hp.Boolean("flag")
        hp.Fixed("fixed", 7)

    m = _mapping(declare)
    assert m["choice"].distribution == od.CategoricalDistribution(["a", "b", "c"])
    assert m["int_step"].distribution == od.IntDistribution(2, 10, step=2)
    assert m["int_log"].distribution == od.IntDistribution(1, 1000, log=True)
    # Optuna forbids step with log: KerasTuner's multiplicative grid becomes a categorical.
    assert m["int_log_step"].distribution == od.CategoricalDistribution([1, 2, 4, 8, 16, 32, 64])
    assert m["float_step"].distribution == od.FloatDistribution(0.0, 1.0, step=0.25)
    assert m["float_log"].distribution == od.FloatDistribution(1e-5, 1e-1, log=True)
    assert m["float_reverse"].distribution == od.FloatDistribution(0.5, 0.999, log=True)
    assert m["float_reverse"].optuna_name == "float_reverse[reverse_log]"
    assert m["float_plain"].distribution == od.FloatDistribution(-1.0, 1.0)
    assert m["flag"].distribution == od.CategoricalDistribution([False, True])
    assert "fixed" not in m  # Fixed is never suggested


def test_reverse_log_is_mirrored_and_dense_near_the_maximum():
    m = _mapping(lambda hp: hp.Float("beta", 0.5, 0.999, sampling="reverse_log"))["beta"]
    assert m.to_value(0.5) == pytest.approx(0.999)
    assert m.to_value(0.999) == pytest.approx(0.5)
    assert m.to_param(m.to_value(0.6)) == pytest.approx(0.6)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = [m.suggest(study.ask()) for _ in range(400)]
    assert all(0.5 <= v <= 0.999 for v in values)
    # Log-uniform on the mirrored axis puts most mass near the maximum.
    assert sum(v > 0.9 for v in values) > sum(v < 0.6 for v in values)


def test_suggested_values_lie_in_the_declared_ranges():
    def declare(hp):
        hp.Int("units", 8, 64, step=8)
        hp.Float("lr", 1e-4, 1e-1, sampling="log")
        hp.Boolean("bn")
        hp.Fixed("epochs_hint", 3)

    space = _space(declare)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        trial = study.ask()
        values = distributions.suggest_values(space, trial)
        assert values["units"] in range(8, 65, 8)
        assert 1e-4 <= values["lr"] <= 1e-1
        assert isinstance(values["bn"], bool)
        assert values["epochs_hint"] == 3
        assert "epochs_hint" not in trial.params
        study.tell(trial, 0.0)


def _conditional(hp):
    model = hp.Choice("model", ["mlp", "cnn"])
    with hp.conditional_scope("model", ["mlp"]):
        hp.Int("units", 8, 32, step=8)
        hp.Choice("act", ["relu", "tanh"])
    with hp.conditional_scope("model", ["cnn"]):
        hp.Int("filters", 4, 16, step=4)
        hp.Choice("act", ["relu", "gelu", "swish"])  # same name, other choices
    return model


def test_conditionals_are_suggested_only_when_active_and_reused_names_work():
    space = _space(_conditional)  # KerasTuner registers inactive branches too
    names = [m.optuna_name for m in distributions.map_space(space) if m is not None]
    assert "act" in names and "act|model=cnn" in names

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        values = distributions.suggest_values(space, trial)
        seen.add(values["model"])
        if values["model"] == "mlp":
            assert set(values) == {"model", "units", "act"}
            assert values["act"] in ("relu", "tanh")
            assert "filters" not in trial.params
        else:
            assert set(values) == {"model", "filters", "act"}
            assert values["act"] in ("relu", "gelu", "swish")
            assert "units" not in trial.params
        study.tell(trial, 0.0)
    assert seen == {"mlp", "cnn"}


def test_params_for_values_round_trips_through_optuna():
    space = _space(lambda hp: (hp.Float("beta", 0.5, 0.999, sampling="reverse_log"), hp.Choice("c", [1, 2])))
    values = {"beta": 0.9, "c": 2}
    params, dists = distributions.params_for_values(space, values)
    assert params == {"beta[reverse_log]": pytest.approx(0.599), "c": 2}
    trial = optuna.trial.create_trial(params=params, distributions=dists, value=1.0)
    assert math.isclose(distributions.map_space(space)[0].to_value(trial.params["beta[reverse_log]"]), 0.9)


def test_grid_of_a_discrete_space_and_refusal_of_a_continuous_one():
    space = _space(lambda hp: (hp.Choice("a", ["x", "y"]), hp.Int("b", 1, 3), hp.Float("c", 0.0, 0.5, step=0.25)))
    assert distributions.grid(space) == {"a": ["x", "y"], "b": [1, 2, 3], "c": [0.0, 0.25, 0.5]}
    with pytest.raises(UsageError, match="'lr' is continuous"):
        distributions.grid(_space(lambda hp: hp.Float("lr", 1e-3, 1e-1, sampling="log")))
