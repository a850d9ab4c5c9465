"""Study pictures on the parent (study) run, refreshed while the study runs and at its end.

Logged under ``plots/`` of the invocation's parent run: Optuna's
``optimization_history``, ``param_importances`` (Optuna's default PED-ANOVA evaluator,
no scikit-learn), ``parallel_coordinate``, ``slice`` and ``intermediate_values`` as SVG
pictures written directly (:mod:`search.plots._svg_study`; objective axes on a log
scale when the values are positive and span more than 100x); and the trials table as
``trials.csv`` (the columns of ``search trials --format csv``). They cover the whole
study, including trials of earlier invocations.

Refreshing reads every trial, computes the importances and writes to MLflow, so during
the study it happens after a trial only when at least ``every_trials`` trials (10) ended
since the last refresh and at least ``min_seconds`` (60 s) and ten times the last
refresh's duration passed (plotting stays under about a tenth of the study's time); and
always after the last trial (the oracle will start no other: budget reached, timeout
passed, grid exhausted, and no retry queued). A plot that cannot be drawn yet (no
completed trial, fewer than two for importances, no intermediate values) is skipped and
said so in the parent run's tag ``search.plot_notes`` (JSON: plot -> why); an error never
stops the study.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from typing import TYPE_CHECKING

from search.engine.hooks import TrialListener
from search.records import keys
from search.records.table import trials_frame

if TYPE_CHECKING:
    import optuna
    from keras_tuner.engine.trial import Trial
    from optuna.trial import TrialState

    from search.engine.oracle import OptunaOracle
    from search.tracking.tracker import Tracker

PLOTS = ("optimization_history", "param_importances", "parallel_coordinate", "slice", "intermediate_values")
PARETO_PLOTS = ("pareto_front", "hypervolume")  # a study of several objectives: these instead


def _why_not(name: str, study: optuna.Study) -> str | None:
    """Why Optuna cannot draw plot ``name`` for ``study`` yet (None: it can)."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if name == "intermediate_values":
        if not any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
            return "no trial reported intermediate values yet"
        return None
    if not complete:
        return "no completed trial yet"
    if name == "param_importances":
        if len(complete) < 2:
            return "needs at least 2 completed trials"
        varying = {k for t in complete for k, v in t.params.items() if v != complete[0].params.get(k)}
        if not varying:
            return "no parameter varies across the completed trials"
    if name in ("parallel_coordinate", "slice", "param_importances") and not any(t.params for t in complete):
        return "the completed trials have no parameters"
    return None


# Plots whose y axis is the objective: drawn on a log scale when it spans decades.
_LOG_Y = ("optimization_history", "slice", "intermediate_values", "parallel_coordinate")


def _spans_decades(study: optuna.Study, name: str) -> bool:
    """True when the plotted objective values are all positive and span more than 100x."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    if name == "intermediate_values":
        values = [v for t in trials for v in t.intermediate_values.values()]
    else:
        values = [t.value for t in trials if t.state == TrialState.COMPLETE]
    values = [v for v in values if v is not None and math.isfinite(v)]
    return bool(values) and min(values) > 0 and max(values) > 100 * min(values)


def draw_study_plots(study: optuna.Study, folder: str) -> dict[str, str]:
    """Draws the study plots as SVG files in ``folder``; returns ``{plot: why skipped}``."""
    from search.plots._svg_study import DRAW

    if len(study.directions) > 1:
        return _draw_pareto_plots(study, folder)
    notes: dict[str, str] = {}
    for name in PLOTS:
        why = _why_not(name, study)
        if why:
            notes[name] = why
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PED-ANOVA's "fewer than 2 trials in a regime" and friends
                figure = DRAW[name](study, name in _LOG_Y and _spans_decades(study, name))
            figure.savefig(os.path.join(folder, f"{name}.svg"))
        except Exception as e:  # could not draw it: say why, go on
            notes[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
    return notes


def _draw_pareto_plots(study: optuna.Study, folder: str) -> dict[str, str]:
    from search.plots._svg_pareto import hypervolume_plot, pareto_front

    trials, objectives = study.get_trials(deepcopy=False), keys.study_objectives(study)
    notes: dict[str, str] = {}
    for name, draw in zip(PARETO_PLOTS, (pareto_front, hypervolume_plot)):
        try:
            draw(trials, objectives).savefig(os.path.join(folder, f"{name}.svg"))
        except Exception as e:  # nothing to draw yet, or could not: say why, go on
            notes[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
    return notes


def write_trials_csv(study: optuna.Study, path: str) -> None:
    """Writes the trials table (as ``search trials --format csv``) to ``path``."""
    frame = trials_frame(study)
    frame = frame.assign(params=frame["params"].map(lambda p: json.dumps(p, default=str)))
    frame.to_csv(path, index=False)


class StudyPlots(TrialListener):
    """Keeps the parent run's study plots and ``trials.csv`` up to date (see the module doc).

    Args:
        study: the Optuna study.
        tracker: the MLflow :class:`~search.tracking.tracker.Tracker` of this invocation.
        every_trials: refresh after at least this many trials ended since the last refresh...
        min_seconds: ...and at least this many seconds passed...
        max_share: ...and at least the last refresh's duration divided by this.
        final: also after the last trial and at ``study_ended`` (False: the caller draws
            the final plots, as ``search run --workers`` does once every worker is done).
    """

    def __init__(self, study: optuna.Study, tracker: Tracker, every_trials: int = 10, min_seconds: float = 60.0,
                 max_share: float = 0.1, final: bool = True) -> None:
        self.study = study
        self.final = final
        self.tracker = tracker
        self.every_trials = every_trials
        self.min_seconds = min_seconds
        self.max_share = max_share
        self._pending = 0
        self._last = time.monotonic()
        self._last_duration = 0.0
        self.refreshes = 0
        self.seconds = 0.0

    def trial_ended(self, oracle: OptunaOracle, trial: Trial, number: int, state: TrialState, value: float | None,
                    reason: str | None) -> None:
        self._pending += 1
        if self.final and self._last_trial(oracle):
            self.refresh()
        elif self._pending >= self.every_trials:
            wait = max(self.min_seconds, self._last_duration / self.max_share)
            if time.monotonic() - self._last >= wait:
                self.refresh()

    @staticmethod
    def _last_trial(oracle: OptunaOracle) -> bool:
        """True when no trial will follow here (budget, timeout, grid exhausted; no retry queued)."""
        stop_reason = getattr(oracle, "_stop_reason", None)
        return bool(stop_reason and stop_reason() and not getattr(oracle, "_retry_queue", None))

    def study_ended(self, oracle: OptunaOracle | None = None) -> None:
        """Draws the final plots if trials ended since the last refresh (for runners that
        end a study otherwise than by its budget or timeout)."""
        if self._pending and self.final:
            self.refresh()

    def refresh(self) -> None:
        """Redraws every plot and the trials table on the parent run; never raises."""
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="search-study-plots-") as folder:
                plots = os.path.join(folder, "plots")
                os.makedirs(plots)
                notes = draw_study_plots(self.study, plots)
                csv = os.path.join(folder, "trials.csv")
                write_trials_csv(self.study, csv)
                self.tracker.log_parent_artifact(plots, "plots")
                self.tracker.log_parent_artifact(csv)
        except Exception as e:
            notes = {"all": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]}
        try:
            self.tracker.set_parent_tags({keys.TAG_PLOT_NOTES: json.dumps(notes)})
        except Exception:
            pass
        self._pending = 0
        self._last = time.monotonic()
        self._last_duration = self._last - started
        self.refreshes += 1
        self.seconds += self._last_duration
