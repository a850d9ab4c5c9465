"""What each space of a ``search compare`` runs with, all checked before anything runs or is written.

``--set NAME=VALUE`` applies to every space that declares ``NAME`` as a setting or a
hyperparameter; ``--set SPACE:NAME=VALUE`` to that space only (and beats ``NAME=VALUE``
there). A ``NAME`` that no compared space declares is refused, as is a bad value for any
space it applies to, a bad ``SUGGESTED`` configuration, or data the space cannot train on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search.compare._config import CompareConfig
from search.compare._methods import Suggested
from search.engine import warm
from search.errors import UsageError
from search.space.data import load_data
from search.records.pareto import describe_objectives
from search.space.loader import load_space
from search.space.sets import agreeing, checking_space, declared_space, resolve_sets

if TYPE_CHECKING:
    from search.space import Data, Space


@dataclass(frozen=True)
class SpacePlan:
    """One space's part of the comparison: its settings, fixed values, epochs, budget, target, data."""

    space: Space
    settings: dict[str, Any]
    fixed: dict[str, Any]
    epochs: int
    trials: int | None
    seconds: float | None
    target: float | None
    data: Data
    suggested: Suggested | None  # the space's SUGGESTED, when a method runs them


def _accepted_names(space: Space, settings: dict[str, Any]) -> list[str]:
    """The names ``--set`` accepts for ``space``: its settings and declared hyperparameters."""
    return sorted({*space.settings, *(hp.name for hp in declared_space(space, settings).space if hp.name not in settings)})


def _sets(space: Space, shared: dict[str, str], own: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    """The ``--set`` pairs that apply to ``space`` and which shared names it accepts."""
    settings, _ = resolve_sets(space, {k: v for k, v in {**shared, **own}.items() if k in space.settings})
    accepted = set(_accepted_names(space, settings))
    applies = {k: v for k, v in shared.items() if k in accepted}
    return {**applies, **own}, set(applies)


def plan_spaces(config: CompareConfig) -> list[SpacePlan]:
    """Every space of ``config`` loaded and checked, with its data; writes nothing.

    Raises:
        UsageError, SpaceError, DataError: one line naming the bad value and what is accepted.
    """
    spaces = [load_space(spec) for spec in config.spaces]
    sets, used = [], set()
    for space in spaces:
        mine, accepted = _sets(space, *config.sets_for(space.name))
        sets.append(mine)
        used |= accepted
    unused = [k for k in config.sets if ":" not in k and k not in used]
    if unused:
        names = sorted({n for s in spaces for n in _accepted_names(s, s.default_settings())})
        which = ", ".join(repr(s.name) for s in spaces)
        raise UsageError(f"Unknown --set name {unused[0]!r} for space{'s' if len(spaces) > 1 else ''} {which}; "
                         f"accepted: {', '.join(names)}.")
    resolved = [(space, *resolve_sets(space, mine)) for space, mine in zip(spaces, sets)]
    wants_suggested = any(m.suggested for m in config.method_specs)
    plans = []
    for space, settings, fixed in resolved:
        space = space.with_settings(settings)
        if space.several:
            raise UsageError(f"Space {space.name!r} has several objectives ({describe_objectives(space.objectives)}); "
                             "search compare times searches to one objective's target.")
        suggested = None
        if wants_suggested:
            hp = checking_space(space, settings, fixed)
            configs = warm.check_configs(hp, agreeing(space.suggested(settings), fixed),
                                         f"SUGGESTED of space {space.name!r}")
            suggested = Suggested(hp, configs)
        plans.append(SpacePlan(
            space=space, settings=settings, fixed=fixed, epochs=config.epochs_of(space.name) or space.epochs,
            trials=config.trials(space.name), seconds=config.seconds(space.name), target=config.target(space.name),
            data=load_data(space, config.seed, settings), suggested=suggested,
        ))
    return plans
