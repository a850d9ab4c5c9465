"""``StudyConfig``: every setting of a ``search run``, validated once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import math

from search.engine.objectives import check_objectives, parse_constraint, parse_objective
from search.engine.samplers import DEFAULT_PRUNER, DEFAULT_SAMPLER, PRUNER_NAMES, SAMPLER_NAMES
from search.errors import UsageError

_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DEFAULT_TRIALS = 10  # a new study's budget when --trials is not given
WARM_START_BEST = 3  # --warm-start STUDY runs that study's best 3 configurations first


def parse_sets(items: list[str] | tuple[str, ...] | None) -> dict[str, str]:
    """Parses ``NAME=VALUE`` strings (values stay strings; the space types them)."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"Invalid --set {item!r}; expected NAME=VALUE.")
        out[name.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class StudyConfig:
    """The settings of one study invocation.

    Attributes:
        space: a space name (``spaces/NAME.py``) or a path to a space file.
        study: the study name (default: the space's name); re-running resumes it.
        trials: the study's total trial budget (stored with the study).
        timeout: seconds after which no new trial starts (this invocation).
        epochs: epochs per trial (default: the space's ``EPOCHS``).
        sampler, pruner: names from :data:`search.engine.samplers.SAMPLER_NAMES` / ``PRUNER_NAMES``.
        seed: sampler seed, data seed and per-trial training seed base.
        sets: ``--set NAME=VALUE`` pairs: space settings or fixed hyperparameters.
        home, storage, tracking_uri: where the study lives (see :mod:`search.storage`).
        allow_space_change: resume even if the space file changed since the study began.
        max_consecutive_failures: stop the study after this many failed trials in a row.
        workers: local worker processes sharing the study (each with its share of the cores).
        progress: show the progress display.
        enqueue: a JSON file of configurations (one object or a list) to run first.
        warm_start: ``STUDY[:K]``: the best K (default 3) configurations of another study of the
            same space run first; its other finished trials inform TPE.
        suggested: run the space's ``SUGGESTED`` configurations first.
        target: end the study once a trial reaches this objective value.
        devices: ``--devices``: GPU ids (``0,1``) shared out among the local workers, or ``cpu``;
            default every visible GPU (:mod:`search.study.devices`).
        objectives: ``--objective METRIC[:min|max]`` texts, in place of the space's ``OBJECTIVE``.
        constraints: ``--constraint`` texts (``params<=20000``), added to the space's ``CONSTRAINTS``.
    """

    space: str
    study: str | None = None
    trials: int | None = None
    timeout: float | None = None
    epochs: int | None = None
    sampler: str = DEFAULT_SAMPLER
    pruner: str = DEFAULT_PRUNER
    seed: int = 0
    sets: dict[str, str] = field(default_factory=dict)
    home: str | None = None
    storage: str | None = None
    tracking_uri: str | None = None
    allow_space_change: bool = False
    max_consecutive_failures: int = 10
    workers: int = 1
    progress: bool = True
    enqueue: str | None = None
    warm_start: str | None = None
    suggested: bool = True
    target: float | None = None
    devices: str | None = None
    objectives: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    pruner_given: bool = False  # --pruner was given (not the default): a study of several objectives says it is off

    def __post_init__(self) -> None:
        check_limits(self.trials, self.timeout)
        for name in ("epochs", "workers"):
            check_positive(name, getattr(self, name))
        if self.sampler not in SAMPLER_NAMES:
            raise UsageError(f"Unknown sampler {self.sampler!r}; accepted: {', '.join(SAMPLER_NAMES)}.")
        if self.pruner not in PRUNER_NAMES:
            raise UsageError(f"Unknown pruner {self.pruner!r}; accepted: {', '.join(PRUNER_NAMES)}.")
        if self.study is not None and not _STUDY_NAME.match(self.study):
            raise UsageError(
                f"Invalid study name {self.study!r}; use letters, digits, '_', '.', '-' (at most 128)."
            )
        if self.warm_start is not None:
            parse_warm_start(self.warm_start)
        if self.target is not None and not math.isfinite(self.target):
            raise UsageError(f"--target must be a finite number, got {self.target!r}.")
        self.gpus()
        check_objectives(self.objective_pairs())
        for text in self.constraints:
            parse_constraint(text)

    def objective_pairs(self) -> list[tuple[str, str]]:
        """``--objective`` as ``(metric, direction)`` pairs ([] when not given)."""
        return [parse_objective(text) for text in self.objectives]

    def gpus(self) -> list[str | None]:
        """The GPU of each local worker (:func:`search.study.devices.assign`)."""
        from search.study.devices import assign, parse_devices

        return assign(self.workers, parse_devices(self.devices))


def parse_warm_start(text: str) -> tuple[str, int]:
    """``"STUDY"`` or ``"STUDY:K"`` -> (study, K); K defaults to :data:`WARM_START_BEST`."""
    name, sep, count = text.partition(":")
    k = WARM_START_BEST
    if sep:
        try:
            k = int(count)
        except ValueError:
            k = 0
    if not _STUDY_NAME.match(name) or k < 1:
        raise UsageError(f"Invalid --warm-start {text!r}; expected STUDY or STUDY:K (K a positive integer).")
    return name, k


def check_positive(name: str, value: int | None) -> None:
    """``--NAME`` is a positive integer when given."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise UsageError(f"--{name} must be a positive integer, got {value!r}.")


def check_limits(trials: int | None, timeout: float | None) -> None:
    """``--trials`` and ``--timeout``, as ``search run`` and ``search worker`` take them."""
    check_positive("trials", trials)
    if timeout is not None and not timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout!r}.")


def check_several(objectives: tuple[tuple[str, str], ...], sampler: str, target: float | None) -> None:
    """What a study of several objectives cannot use: a sampler without multi-objective support, a
    ``--target`` (a single value cannot be reached by a front)."""
    from search.engine.samplers import SINGLE_OBJECTIVE_SAMPLERS

    if len(objectives) < 2:
        return
    if sampler in SINGLE_OBJECTIVE_SAMPLERS:
        from search.engine.samplers import SAMPLER_NAMES

        several = [s for s in SAMPLER_NAMES if s not in SINGLE_OBJECTIVE_SAMPLERS]
        raise UsageError(f"--sampler {sampler} searches a single objective; with several, use one of: "
                         f"{', '.join(several)}.")
    if target is not None:
        raise UsageError("--target needs a single objective; a study of several searches their Pareto front.")
