"""Hyperparameter and architecture search for Keras models with custom layers.

Optuna's samplers, pruners and storages drive KerasTuner trials through
:class:`OptunaOracle`; every trial is logged to MLflow.

Importing ``search`` is cheap: TensorFlow, Keras, Optuna and MLflow load only when
a name that needs them is first used, so the ``search`` CLI starts instantly. The
project's Keras layers, losses and initializers are nevertheless registered as Keras
serializables whenever Keras is loaded in a process that has imported ``search``
(before or after Keras itself), so ``keras.saving.load_model(path)`` with
``safe_mode=True`` and no ``custom_objects`` finds them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from search import _keras_hook

__version__ = "0.1.0"

# Public name -> module that defines it; loaded on first access (PEP 562).
_LAZY = {
    "OptunaOracle": "search.engine.oracle",
    "Tuner": "search.engine.tuner",
    "run_study": "search.study.run",
    "StudyConfig": "search.study.config",
    "load_space": "search.space.loader",
    "SearchError": "search.errors",
}
_SUBMODULES = ("layers", "losses", "initializers", "metrics")

__all__ = [*_LAZY, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"search.{name}")
    raise AttributeError(f"module 'search' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


_keras_hook.register_when_keras_loads(sys.modules)
