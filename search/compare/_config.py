"""``CompareConfig``: the spaces, methods, budgets and targets of one ``search compare``, validated once.

Options that differ between spaces (``--target``, ``--epochs``, ``--budget-trials``,
``--budget-seconds``) map a space's name to its value; the key ``""`` (the plain form
``--epochs 20``) is every space's value, which a space's own ``SPACE=VALUE`` beats. A plain
``--target`` is accepted only with one space: a target is a value of one space's objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from search.engine import samplers
from search.errors import UsageError

# Optuna samplers run through the project's oracle and tuner (with the pruner);
# KerasTuner's own tuners run stock, on the same hypermodel, data, epochs and seeds.
OPTUNA_METHODS = ("tpe", "random", "cmaes", "qmc")
KT_METHODS = ("kt-random", "kt-bayesian", "kt-hyperband")
DEFAULT_METHOD = "default"  # what `search run` does with no options (see `Method`)
METHOD_NAMES = (DEFAULT_METHOD, *OPTUNA_METHODS, *KT_METHODS)
DEFAULT_METHODS = (DEFAULT_METHOD, "tpe", "random", "kt-random", "kt-bayesian", "kt-hyperband")
DEFAULT_BUDGET_TRIALS = 10
EVERY_SPACE = ""  # the key of a per-space option's plain value


def _accepted_methods() -> str:
    return f"{', '.join(METHOD_NAMES)}, or SAMPLER+PRUNER ({'|'.join(OPTUNA_METHODS)} + {'|'.join(samplers.PRUNER_NAMES)})"


@dataclass(frozen=True)
class Method:
    """One compared method and what it runs.

    ``default`` is ``search run`` with no options: the sampler and pruner it uses
    (``search.engine.samplers.DEFAULT_SAMPLER`` / ``DEFAULT_PRUNER``, read when the name is
    resolved) and the space's ``SUGGESTED`` configurations first. ``SAMPLER+PRUNER`` is an
    Optuna sampler with that pruner; a plain Optuna sampler takes ``--pruner``; ``kt-*``
    are KerasTuner's own tuners (no sampler or pruner of ours).
    """

    name: str
    sampler: str | None = None
    pruner: str | None = None
    suggested: bool = False

    @property
    def kt(self) -> bool:
        return self.sampler is None


def resolve_method(name: str, pruner: str) -> Method:
    """The :class:`Method` called ``name`` (``pruner`` for a plain Optuna sampler)."""
    if name == DEFAULT_METHOD:
        return Method(name, samplers.DEFAULT_SAMPLER, samplers.DEFAULT_PRUNER, suggested=True)
    if name in KT_METHODS:
        return Method(name)
    sampler, plus, own = name.partition("+")
    if sampler not in OPTUNA_METHODS or (plus and own not in samplers.PRUNER_NAMES):
        if plus and sampler in OPTUNA_METHODS:
            raise UsageError(f"Unknown pruner {own!r} in --samplers {name!r}; accepted: {', '.join(samplers.PRUNER_NAMES)}.")
        raise UsageError(f"Unknown sampler {name!r} in --samplers; accepted: {_accepted_methods()}.")
    return Method(name, sampler, own if plus else pruner)


def parse_methods(text: str | None) -> tuple[str, ...]:
    """``"tpe,kt-random"`` -> ``("tpe", "kt-random")``, each checked by :func:`resolve_method`."""
    if text is None:
        return DEFAULT_METHODS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise UsageError(f"--samplers is empty; accepted: {_accepted_methods()}.")
    for name in names:
        resolve_method(name, "none")
    if len(set(names)) != len(names):
        raise UsageError(f"--samplers names a method twice: {text!r}.")
    return names


def parse_spaces(text: str) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``: space names or paths, each once."""
    specs = tuple(s.strip() for s in text.split(",") if s.strip())
    if not specs:
        raise UsageError(f"No space in {text!r}; give a space name (see `search spaces`) or a path, comma-separated.")
    names = [space_key(s) for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"The spaces name {twice[0]!r} twice in {text!r}; each space is compared once.")
    return specs


def space_key(spec: str) -> str:
    """The name a space is known by in per-space options and experiments: its file's stem."""
    return Path(spec).stem if spec.endswith(".py") or "/" in spec or "\\" in spec else spec


def parse_per_space(option: str, items: list[str] | tuple[str, ...] | None, kind: type) -> dict[str, float]:
    """``["20", "iq_combiner=40"]`` -> ``{"": 20, "iq_combiner": 40}`` for option ``--OPTION``.

    A value is typed by ``kind`` (int or float); a space given twice is refused. Which
    spaces exist is checked by :class:`CompareConfig`.
    """
    out: dict[str, float] = {}
    expected = "an integer" if kind is int else "a number"
    for item in items or ():
        key, sep, raw = str(item).rpartition("=")
        key = key.strip() if sep else EVERY_SPACE
        try:
            value = kind(raw.strip())
        except ValueError:
            raise UsageError(f"Invalid --{option} {item!r}; expected {expected} or SPACE={expected.split()[-1].upper()}.") from None
        if sep and not key:
            raise UsageError(f"Invalid --{option} {item!r}; expected {expected} or SPACE={expected.split()[-1].upper()}.")
        if key in out:
            which = f"for space {key!r}" if key else "without a space"
            raise UsageError(f"--{option} is given twice {which}: {item!r}.")
        out[key] = value
    return out


@dataclass(frozen=True)
class CompareConfig:
    """The settings of one comparison.

    Attributes:
        spaces: space names or paths to space files (each space's name is its file's stem).
        methods: names from :data:`METHOD_NAMES` or ``SAMPLER+PRUNER`` (see :class:`Method`).
        budget_trials: trials per method and repeat, by space (``""``: every space); default 10
            when no budget is given.
        budget_seconds: seconds per method and repeat, by space: no trial starts after them.
        repeats: independent repeats per method (seeds ``seed``, ``seed + 1``, ...).
        targets: the objective value to reach, by space (``<=`` when minimizing, ``>=`` when
            maximizing); ``""`` only with one space.
        epochs: epochs per trial, by space (default: the space's ``EPOCHS``); KerasTuner's
            Hyperband uses it as ``max_epochs``.
        pruner: the Optuna pruner of the plain Optuna methods (from ``PRUNER_NAMES``).
        seed: the data seed, and the base of the samplers' and trials' seeds.
        sets: ``--set`` pairs: ``NAME`` for every space that declares the setting or
            hyperparameter, ``SPACE:NAME`` for one space.
        home, tracking_uri: where the ``compare-SPACE`` and ``compare-suite`` MLflow experiments live.
    """

    spaces: tuple[str, ...]
    methods: tuple[str, ...] = DEFAULT_METHODS
    budget_trials: dict[str, int] = field(default_factory=dict)
    budget_seconds: dict[str, float] = field(default_factory=dict)
    repeats: int = 1
    targets: dict[str, float] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=dict)
    pruner: str = "median"
    seed: int = 0
    sets: dict[str, str] = field(default_factory=dict)
    home: str | None = None
    tracking_uri: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.spaces, str):
            object.__setattr__(self, "spaces", parse_spaces(self.spaces))
        if not self.spaces:
            raise UsageError("No space to compare; give a space name (see `search spaces`) or a path.")
        if self.budget_trials and self.budget_seconds:
            raise UsageError("Give one budget: --budget-trials or --budget-seconds, not both.")
        for option, values in (("budget-trials", self.budget_trials), ("epochs", self.epochs)):
            for value in values.values():
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise UsageError(f"--{option} must be a positive integer, got {value!r}.")
        if not isinstance(self.repeats, int) or isinstance(self.repeats, bool) or self.repeats < 1:
            raise UsageError(f"--repeats must be a positive integer, got {self.repeats!r}.")
        for value in self.budget_seconds.values():
            if not value > 0 or not math.isfinite(value):
                raise UsageError(f"--budget-seconds must be a positive number, got {value!r}.")
        for value in self.targets.values():
            if not math.isfinite(value):
                raise UsageError(f"--target must be a finite number, got {value!r}.")
        if self.pruner not in samplers.PRUNER_NAMES:
            raise UsageError(f"Unknown pruner {self.pruner!r}; accepted: {', '.join(samplers.PRUNER_NAMES)}.")
        if not self.methods:
            raise UsageError(f"No method to compare; accepted: {_accepted_methods()}.")
        for name in self.methods:
            resolve_method(name, self.pruner)
        self._check_space_keys()

    def _check_space_keys(self) -> None:
        names = self.space_names
        accepted = ", ".join(names)
        for option, values in (("target", self.targets), ("epochs", self.epochs),
                               ("budget-trials", self.budget_trials), ("budget-seconds", self.budget_seconds)):
            for key in values:
                if key != EVERY_SPACE and key not in names:
                    raise UsageError(f"--{option} {key}=... names a space not compared; compared: {accepted}.")
        if EVERY_SPACE in self.targets and len(names) > 1:
            raise UsageError(f"A plain --target {self.targets[EVERY_SPACE]:g} needs one space; "
                             f"give SPACE=VALUE for each of: {accepted}.")
        for option, values in (("budget-trials", self.budget_trials), ("budget-seconds", self.budget_seconds)):
            missing = [n for n in names if values and EVERY_SPACE not in values and n not in values]
            if missing:
                raise UsageError(f"--{option} gives no budget for space {missing[0]!r}; "
                                 f"give a plain value for every space or {missing[0]}=VALUE.")
        for key in self.sets:
            scope, colon, _ = key.rpartition(":")
            if colon and scope not in names:
                raise UsageError(f"--set {key}=... names a space not compared; compared: {accepted}.")

    @property
    def space_names(self) -> list[str]:
        """The spaces' names, in order (see :func:`space_key`)."""
        return [space_key(s) for s in self.spaces]

    @property
    def method_specs(self) -> tuple[Method, ...]:
        """Each method resolved: its sampler, pruner and whether it runs the space's ``SUGGESTED``."""
        return tuple(resolve_method(name, self.pruner) for name in self.methods)

    def _of(self, values: dict, name: str, default):
        return values.get(name, values.get(EVERY_SPACE, default))

    def target(self, name: str) -> float | None:
        """Space ``name``'s target (None: none given)."""
        return self._of(self.targets, name, None)

    def epochs_of(self, name: str) -> int | None:
        """Space ``name``'s epochs per trial (None: the space's ``EPOCHS``)."""
        return self._of(self.epochs, name, None)

    def trials(self, name: str) -> int | None:
        """Space ``name``'s trial budget (10 when no budget was given)."""
        if not self.budget_trials and not self.budget_seconds:
            return DEFAULT_BUDGET_TRIALS
        return self._of(self.budget_trials, name, None)

    def seconds(self, name: str) -> float | None:
        """Space ``name``'s time budget in seconds (None: a trial budget)."""
        return self._of(self.budget_seconds, name, None)

    def sets_for(self, name: str) -> tuple[dict[str, str], dict[str, str]]:
        """``(shared, own)``: the ``--set NAME`` pairs (which apply where the space declares the
        name) and the ``--set SPACE:NAME`` pairs of space ``name``."""
        shared = {k: v for k, v in self.sets.items() if ":" not in k}
        own = {k.rpartition(":")[2]: v for k, v in self.sets.items() if k.rpartition(":")[0] == name}
        return shared, own
