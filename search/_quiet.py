"""Quiet start-up for the CLI: TensorFlow's C++ banner, Optuna's and MLflow's INFO lines.

TensorFlow 2.21 writes its oneDNN/CUDA/CPU-feature lines to file descriptor 2 before
its logging is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them; they are
discarded by pointing fd 2 at /dev/null while TensorFlow is imported and its devices
are discovered (on a machine without a GPU driver, cuInit logs an error line). An import error
is re-raised with the real stderr back in place.

The imports run with Python's cyclic garbage collector off, and what they created is then
frozen (:func:`imports_without_gc`): importing TensorFlow and MLflow creates hundreds of
thousands of long-lived objects, and the full collections that creating them sets off
would each scan all of them (a quarter of the import's time, ``tests/perf/README.md``);
later full collections (Keras's ``clear_session``, the first trial's) skip them too.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import warnings


@contextlib.contextmanager
def imports_without_gc():
    """Runs the block (imports) with the cyclic GC off, then freezes what exists: the GC
    never scans those objects again (their cyclic garbage, a few MB, is kept)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def quiet_imports() -> None:
    """Imports TensorFlow with its banner discarded and lowers library log levels."""
    with imports_without_gc():
        _quiet_imports()


def debugging() -> bool:
    """``SEARCH_DEBUG=1``: library warnings, TensorFlow's banner and tracebacks are shown."""
    return bool(os.environ.get("SEARCH_DEBUG"))


def quiet_warnings() -> None:
    """Hides the warnings the libraries raise (Keras's "Gradients do not exist", deprecations):
    what a user must know of them the harness says itself (the doctor's findings)."""
    if debugging():
        return
    warnings.filterwarnings("ignore", module=_LIBRARIES)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*experimental feature.*")
    warnings.filterwarnings("ignore", message=r".* is experimental \(supported from")  # Optuna's


_LIBRARIES = (r"(keras|keras_tuner|tensorflow|tf_keras|absl|optuna|mlflow|sklearn|scipy|numpy|pandas|"
              r"sqlalchemy|alembic|pydantic|google|h5py|matplotlib|rich|typer|click)(\.|$)")


def _quiet_imports() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet_warnings()
    if "tensorflow" not in sys.modules and not debugging():
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow

            # Device discovery (cuInit) logs too; do it now, while fd 2 is discarded.
            tensorflow.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    if not debugging():
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    import mlflow  # noqa: F401 - configures its loggers on import; lower them after
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not debugging():  # tf.function retracing and other advice about the space's code
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
