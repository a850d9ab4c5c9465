"""Per-trial hooks: code that watches a trial's training (audits, sentinels, probes, plots).

A :class:`TrialHook` makes a Keras callback for each trial execution; it receives a
:class:`TrialContext` with the trial, its oracle, the space, the training data and a way
to log to the trial's MLflow run. Hooks are created inside ``run_trial`` (KerasTuner
deep-copies the callbacks given to ``search()``, which would copy the oracle too).

``default_trial_hooks`` and ``default_listeners`` are the single place where the study
runner's hooks and listeners are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrialContext:
    """What a hook may use while one trial trains."""

    tuner: Any
    trial: Any
    fit_args: tuple = ()
    fit_kwargs: dict = field(default_factory=dict)

    @property
    def oracle(self) -> Any:
        return self.tuner.oracle

    @property
    def space(self) -> Any:
        """The :class:`search.spaces.Space` (None when the tuner was not given one)."""
        return getattr(self.tuner, "space", None)

    @property
    def tracker(self) -> Any:
        """The MLflow :class:`search.tracking.Tracker` (None when not tracking)."""
        return getattr(self.tuner, "tracker", None)

    @property
    def trial_id(self) -> str:
        return self.trial.trial_id

    @property
    def number(self) -> int | None:
        """The Optuna trial number currently running this trial."""
        numbers = getattr(self.oracle, "optuna_number", None)
        return numbers(self.trial_id) if numbers else None

    @property
    def trial_dir(self) -> str:
        """KerasTuner's folder of this trial (checkpoints live there)."""
        return self.oracle._get_trial_dir(self.trial_id)

    def training_data(self) -> tuple[Any, Any]:
        """``(x, y)`` as given to ``fit``."""
        x = self.fit_kwargs.get("x", self.fit_args[0] if self.fit_args else None)
        y = self.fit_kwargs.get("y", self.fit_args[1] if len(self.fit_args) > 1 else None)
        return x, y

    def validation_data(self) -> tuple[Any, Any] | None:
        return self.fit_kwargs.get("validation_data")

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        """Logs a file or folder on the trial's MLflow run (no-op without a tracker)."""
        if self.tracker is not None:
            self.tracker.log_trial_artifact(self.trial_id, local_path, artifact_path)

    def set_tags(self, tags: dict[str, str]) -> None:
        """Sets tags on the trial's MLflow run (no-op without a tracker)."""
        if self.tracker is not None:
            self.tracker.set_trial_tags(self.trial_id, tags)

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        """Logs metrics on the trial's MLflow run (no-op without a tracker)."""
        if self.tracker is not None:
            self.tracker.log_trial_metrics(self.trial_id, metrics, step)


class TrialHook:
    """Makes a Keras callback for each trial execution; return None to skip a trial."""

    def callback(self, context: TrialContext) -> Any:
        raise NotImplementedError


def space_trial_hooks(space: Any) -> list[TrialHook]:
    """The space's own hooks: its module's optional ``TRIAL_HOOKS`` list of :class:`TrialHook`."""
    return list(getattr(getattr(space, "module", None), "TRIAL_HOOKS", ()) or ())


def default_trial_hooks(space: Any) -> list[TrialHook]:
    """The hooks ``search run`` attaches to every trial of ``space``."""
    hooks: list[TrialHook] = space_trial_hooks(space)
    # issue 5: gradient audit, divergence/jump events, pictures, then the numerics
    # sentinel (last of these: the others see a non-finite epoch before it fails the trial)
    from search.doctor import GradientAuditHook, NumericsSentinelHook, TrainingEventsHook
    from search.plots import TrialPlotsHook

    hooks += [GradientAuditHook(), TrainingEventsHook(), TrialPlotsHook(), NumericsSentinelHook()]
    from search.export.hook import BestCheckpointHook

    hooks.append(BestCheckpointHook())  # issue 6: best checkpoint + probe batch for `search export`
    return hooks


def default_listeners(study: Any, tracker: Any, study_plots: str = "all") -> list[Any]:
    """Extra trial listeners ``search run`` attaches to the oracle (besides tracking and progress).

    ``study_plots``: "all" (redrawn during the study and after its last trial), "periodic"
    (not after the last trial: the caller draws them) or "none".
    """
    listeners: list[Any] = []
    from search.plots import StudyPlots

    if study_plots != "none":  # issue 5: study plots + trials.csv on the parent run
        listeners.append(StudyPlots(study, tracker, final=study_plots == "all"))
    return listeners
