"""``search export``: the best (or a chosen) trial as a verified ``.keras``, SavedModel or MLflow model.

Layout: :mod:`~search.export.hook` records the best checkpoint and a probe batch while a
trial trains; :mod:`~search.export.weights` finds a trial's weights again (local trial
folder, MLflow artifacts, or a retrain); :mod:`~search.export.formats` writes each
format; :mod:`~search.export.verify` reloads it in a fresh process and compares with the
probe; :mod:`~search.export.pyfunc` is the MLflow ``PythonModel``;
:mod:`~search.export.exporter` ties them together.

Importing this package is cheap: names load on first use (TensorFlow is not imported).
"""

from __future__ import annotations

from search._lazy import lazy_getattr

_LAZY = {
    "export": "search.export.exporter",
    "ExportResult": "search.export.exporter",
    "FORMATS": "search.export.exporter",
    "BestCheckpointHook": "search.export.hook",
    "Probe": "search.export.probe",
    "verify_in_fresh_process": "search.export.verify",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr("search.export", _LAZY)
