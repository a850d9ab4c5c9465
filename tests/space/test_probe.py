"""The start-up probe: the shipped spaces pass it, and it changes nothing a trial draws or trains."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from search import StudyConfig, run_study
from search import storage as storage_mod
from search.space.loader import list_spaces, load_space
from search.space.probe import first_line, probe
from search.space.sets import resolve_sets
from search.study.plan import make_setup

SMALL = {"iq_combiner": {"n_train": "256"}, "prototype_rbf": {"dataset": "iris"}}
SHUFFLED_FIT = "\ndef fit(hp, model, *a, **k):\n    from search.space import fit_arrays\n    return fit_arrays(model, *a, **k)\n"


@pytest.mark.parametrize("name", list_spaces())
def test_every_shipped_space_passes_the_probe_and_leaves_the_generators_as_they_were(name):
    space = load_space(name)
    setup = make_setup(space, *resolve_sets(space, SMALL.get(name, {})), None, 0)
    random.seed(7)
    np.random.seed(7)
    python, numpy = random.random(), np.random.random()
    random.seed(7)
    np.random.seed(7)
    probe(setup.space, setup.settings, setup.fixed, setup.data)
    assert (random.random(), np.random.random()) == (python, numpy)


def _values(study: str) -> list[float]:
    import optuna

    loaded = optuna.load_study(study_name=study, storage=storage_mod.resolve().storage_url)
    return [t.value for t in sorted(loaded.trials, key=lambda t: t.number)]


def test_a_seeded_study_trains_the_same_with_and_without_the_probe(space_path, tmp_path, monkeypatch):
    """fit_arrays shuffles with NumPy's global generator: a probe drawing from it would show."""
    space = tmp_path / "tiny_shuffled.py"
    space.write_text(Path(space_path("tiny")).read_text() + SHUFFLED_FIT)
    config = {"space": str(space), "trials": 2, "epochs": 2, "sampler": "random", "pruner": "none", "seed": 4,
              "progress": False}
    run_study(StudyConfig(study="probed", **config))
    monkeypatch.setattr("search.space.probe.probe", lambda *args: None)
    run_study(StudyConfig(study="unprobed", **config))
    assert _values("probed") == _values("unprobed")


def test_first_line_skips_keras_and_tensorflow_preambles():
    error = ValueError("Exception encountered when calling Sequential.call().\n\n\x1b[1mInput 0 of layer 'dense' is "
                       "incompatible with the layer\x1b[0m\n\nArguments received by Sequential.call():")
    assert first_line(error) == "Input 0 of layer 'dense' is incompatible with the layer"
    assert first_line(RuntimeError("Graph execution error:\n\n{{function_node x}} label 5 is out of range")) == (
        "label 5 is out of range")
