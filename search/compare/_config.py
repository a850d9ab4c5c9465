"""``CompareConfig``: the methods, budget and target of one ``search compare``, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field

from search.errors import UsageError
from search.engine.samplers import PRUNER_NAMES

# Optuna samplers run through the project's oracle and tuner (with the pruner);
# KerasTuner's own tuners run stock, on the same hypermodel, data, epochs and seeds.
OPTUNA_METHODS = ("tpe", "random", "cmaes", "qmc")
KT_METHODS = ("kt-random", "kt-bayesian", "kt-hyperband")
METHOD_NAMES = OPTUNA_METHODS + KT_METHODS
DEFAULT_METHODS = ("tpe", "random", "kt-random", "kt-bayesian", "kt-hyperband")
DEFAULT_BUDGET_TRIALS = 10


def parse_methods(text: str | None) -> tuple[str, ...]:
    """``"tpe,kt-random"`` -> ``("tpe", "kt-random")``, each checked against :data:`METHOD_NAMES`."""
    if text is None:
        return DEFAULT_METHODS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise UsageError(f"--samplers is empty; accepted: {', '.join(METHOD_NAMES)}.")
    for name in names:
        if name not in METHOD_NAMES:
            raise UsageError(f"Unknown sampler {name!r} in --samplers; accepted: {', '.join(METHOD_NAMES)}.")
    if len(set(names)) != len(names):
        raise UsageError(f"--samplers names a method twice: {text!r}.")
    return names


@dataclass(frozen=True)
class CompareConfig:
    """The settings of one comparison.

    Attributes:
        space: a space name or a path to a space file.
        methods: names from :data:`METHOD_NAMES`.
        budget_trials: trials per method and repeat (default 10 when no budget is given).
        budget_seconds: seconds per method and repeat: no trial starts after them.
        repeats: independent repeats per method (seeds ``seed``, ``seed + 1``, ...).
        target: the objective value to reach (``<=`` when minimizing, ``>=`` when maximizing).
        epochs: epochs per trial (default: the space's ``EPOCHS``); KerasTuner's Hyperband
            uses it as ``max_epochs``.
        pruner: the Optuna pruner of the Optuna methods (from ``PRUNER_NAMES``).
        seed: the data seed, and the base of the samplers' and trials' seeds.
        sets: ``--set NAME=VALUE`` pairs, as for ``search run``.
        home, tracking_uri: where the ``compare-SPACE`` MLflow experiment lives.
    """

    space: str
    methods: tuple[str, ...] = DEFAULT_METHODS
    budget_trials: int | None = None
    budget_seconds: float | None = None
    repeats: int = 1
    target: float | None = None
    epochs: int | None = None
    pruner: str = "median"
    seed: int = 0
    sets: dict[str, str] = field(default_factory=dict)
    home: str | None = None
    tracking_uri: str | None = None

    def __post_init__(self) -> None:
        if self.budget_trials is not None and self.budget_seconds is not None:
            raise UsageError("Give one budget: --budget-trials or --budget-seconds, not both.")
        for name in ("budget_trials", "repeats", "epochs"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}.")
        if self.budget_seconds is not None and not self.budget_seconds > 0:
            raise UsageError(f"--budget-seconds must be a positive number, got {self.budget_seconds!r}.")
        for name in self.methods:
            if name not in METHOD_NAMES:
                raise UsageError(f"Unknown sampler {name!r}; accepted: {', '.join(METHOD_NAMES)}.")
        if not self.methods:
            raise UsageError(f"No method to compare; accepted: {', '.join(METHOD_NAMES)}.")
        if self.pruner not in PRUNER_NAMES:
            raise UsageError(f"Unknown pruner {self.pruner!r}; accepted: {', '.join(PRUNER_NAMES)}.")

    @property
    def trials(self) -> int | None:
        """The trial budget (10 when neither budget was given)."""
        if self.budget_trials is None and self.budget_seconds is None:
            return DEFAULT_BUDGET_TRIALS
        return self.budget_trials
