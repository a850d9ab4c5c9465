"""Register the project's Keras serializables as soon as Keras is loaded.

``keras.saving.load_model`` resolves custom objects only through Keras's global
registry, which is filled when the modules defining them are imported. Importing
them eagerly in ``search/__init__`` would pull TensorFlow into every ``search --help``;
instead a post-import hook imports them right after the ``keras`` package finishes
loading (or at once, if Keras is already loaded).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

# Modules whose import registers Keras serializables. Missing ones are skipped so the
# package stays importable while a module is being written.
REGISTERING_MODULES = ("search.layers", "search.losses", "search.initializers", "search.metrics")


def register_all() -> None:
    """Import every module that registers Keras serializables."""
    for name in REGISTERING_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


class _KerasFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the top-level ``keras`` package to run a hook after it."""

    def find_spec(self, fullname, path, target=None):  # noqa: D102 - importlib protocol
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)  # find the real spec without finding ourselves
        try:
            spec = importlib.util.find_spec("keras")
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        real_exec = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            real_exec(module)
            _uninstall()
            register_all()

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_finder = _KerasFinder()


def _uninstall() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)


def register_when_keras_loads(modules: dict[str, ModuleType]) -> None:
    """Register now if Keras is loaded, else as soon as it is."""
    if "keras" in modules:
        register_all()
    elif _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
