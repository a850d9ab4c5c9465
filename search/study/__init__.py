"""One study's life: from the options of ``search run`` to the trials in the stores.

- ``config``: :class:`StudyConfig`, every setting of a ``search run``, validated once;
- ``create``: create the study, or resume it if its stored settings match;
- ``plan``: the :class:`~search.study.plan.Plan` of one process, built the same way for
  ``search run`` and ``search worker``;
- ``execute``: the trial loop of one process, with the default hooks and listeners;
- ``run``: :func:`run_study`, ``search run`` from the checks to the summary;
- ``workers`` and ``worker``: ``search run --workers N`` and ``search worker``;
- ``progress``: the progress display; ``reconcile``: repairing what a crash left.
- ``confirm``: ``search confirm``, the best trials retrained with fresh seeds (``confirm_train``: a
  retrain; ``confirm_pool``: workers, recorder, display; ``confirm_result`` and ``confirm_stats``: the figures).

Importing this package is cheap: names load on first use (TensorFlow is not imported).
"""

from __future__ import annotations

from search._lazy import lazy_getattr

_LAZY = {
    "StudyConfig": "search.study.config",
    "run_study": "search.study.run",
    "run_worker": "search.study.worker",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr("search.study", _LAZY)
