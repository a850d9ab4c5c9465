"""Pictures where people would rather look than read, logged as MLflow artifacts.

- :class:`TrialPlotsHook`: per trial, learning curves, a confusion matrix for
  classifiers, and the space's own ``plots(model, data)``;
- :class:`StudyPlots`: per study (on the parent run), Optuna's optimization history,
  parameter importances, parallel coordinates, slice and intermediate-value plots,
  and ``trials.csv``.

matplotlib draws into files only (Agg); a plotting error never fails a trial.
"""

from __future__ import annotations

from search._lazy import lazy_getattr

_LAZY = {
    "TrialPlotsHook": "search.plots._trial",
    "save_figures": "search.plots._trial",
    "StudyPlots": "search.plots._study",
    "draw_study_plots": "search.plots._study",
    "write_trials_csv": "search.plots._study",
    "learning_curves": "search.plots._svg",
    "line_plot": "search.plots._svg",
    "SvgFigure": "search.plots._svg",
    "confusion_matrix": "search.plots._figures",
    "class_labels": "search.plots._figures",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr("search.plots", _LAZY)
