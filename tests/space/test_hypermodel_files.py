"""KerasTuner files: a ``keras_tuner.HyperModel`` instance, whatever its name, is the space, its ``fit`` included."""

from __future__ import annotations

import json

import pytest

from search.errors import SpaceError
from search.space.loader import load_space

DATA = '''
import keras
import keras_tuner
import numpy as np

EPOCHS = 1


def load_data(seed):
    x = np.random.default_rng(seed).standard_normal((64, 4)).astype("float32")
    return (x[:48], x[:48].sum(1, keepdims=True)), (x[48:], x[48:].sum(1, keepdims=True))


class Batched(keras_tuner.HyperModel):
    def build(self, hp):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 1, 4)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        return model

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [8, 16]), **kwargs)


class Plain(keras_tuner.HyperModel):
    def build(self, hp):
        return Batched().build(hp)
'''


def _file(tmp_path, tail: str, name: str = "kt_file") -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(DATA + "\n\n" + tail + "\n")
    return str(path)


def test_a_hypermodel_kept_only_as_build_trains_with_its_fit_and_searches_its_batch_size(run_cli, tmp_path):
    home = tmp_path / "stores"
    path = _file(tmp_path, "hypermodel = Batched()\nbuild = hypermodel.build")
    code, out, err = run_cli("run", path, "--trials", "2", "--home", home, "--pruner", "none")
    assert code == 0, err
    code, out, err = run_cli("trials", "kt_file", "--home", home, "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 2 and all(r["state"] == "COMPLETE" for r in rows)
    assert all(r["params"]["batch_size"] in (8, 16) for r in rows)


@pytest.mark.parametrize(("tail", "which"), [
    ("hm = Batched()", "hm"),  # any name
    ("build = Batched().build", "build"),  # only its bound build
    ("one = Batched()\ntwo = one\nbuild = one.build", "one"),  # one instance under several names
    ("hm_a = Plain()\nhm_b = Batched()\nHYPERMODEL = hm_b", "hm_b"),  # HYPERMODEL names the one to use
])
def test_the_files_hypermodel_is_the_space(tmp_path, tail, which):
    space = load_space(_file(tmp_path, tail))
    named = getattr(space.module, which)
    assert space.hypermodel() is getattr(named, "__self__", named)  # a bound build: its HyperModel
    assert space.fit == space.hypermodel().fit  # its own fit trains


def test_a_module_fit_trains_a_hypermodel_without_its_own(tmp_path):
    space = load_space(_file(tmp_path, "hm = Plain()\n\ndef fit(hp, model, *args, **kwargs):\n"
                                       "    return model.fit(*args, batch_size=4, **kwargs)"))
    hypermodel = space.hypermodel()
    assert hypermodel is not space.module.hm and space.fit is space.module.fit
    assert space.build == space.module.hm.build


def test_two_hypermodels_are_refused_naming_both(run_cli, isolated_home, tmp_path):
    path = _file(tmp_path, "hm_a = Batched()\nhm_b = Plain()\nbuild = hm_a.build")
    code, out, err = run_cli("run", path)
    assert code == 2, (out, err)
    assert err == (f"error: Space {path!r} defines two HyperModels, hm_a and hm_b; keep one, or name the one to use "
                   "HYPERMODEL.\n")
    assert not isolated_home.exists()
    with pytest.raises(SpaceError, match="defines two HyperModels"):
        load_space(path)
