"""The ``Plan`` of one process working on a study, built one way for ``search run`` and ``search worker``.

Both prepare a :class:`Setup` (the space resolved for the study's settings, its data loaded
and checked) and then, with the study open, :func:`make_plan`: what the study stores
(budget, sampler, pruner) comes from the study itself, what is this process's own (time
limit, display, parent run) from the caller.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.engine.samplers import DEFAULT_PRUNER, DEFAULT_SAMPLER
from search.errors import SpaceError
from search.records import keys
from search.space.data import load_data
from search.space.loader import load_space
from search.study.config import DEFAULT_TRIALS

if TYPE_CHECKING:
    import optuna

    from search.engine.heartbeat import StaleTrials
    from search.space import Data, Space
    from search.storage import Location


@dataclass(frozen=True)
class Setup:
    """What every process of a study trains the same way."""

    space: Space  # resolved for the settings (an OBJECTIVE(settings) function is called)
    settings: dict[str, Any]
    fixed: dict[str, Any]  # the hyperparameters --set fixed
    epochs: int
    seed: int
    data: Data


def make_setup(space: Space, settings: dict[str, Any], fixed: dict[str, Any], epochs: int | None,
               seed: int) -> Setup:
    """Resolves ``space`` for ``settings`` and loads and checks its data (``epochs``: the space's by default)."""
    space = space.with_settings(settings)
    return Setup(space, settings, fixed, epochs or space.epochs, seed, load_data(space, seed, settings))


def with_objectives(setup: Setup, objectives: list[tuple[str, str]] | None,
                    constraints: list[str] | tuple[str, ...] = ()) -> Setup:
    """``setup`` searching ``objectives`` (``--objective``, or a study's stored ones; None: the space's own)
    under the space's ``CONSTRAINTS`` and ``constraints`` (``--constraint``; each kept once)."""
    from dataclasses import replace

    from search.engine.objectives import parse_constraint

    space = setup.space.with_objectives(objectives) if objectives else setup.space
    given = [str(parse_constraint(c)) for c in (*space.constraints, *constraints)]
    return replace(setup, space=replace(space, constraints=tuple(dict.fromkeys(given))))


@dataclass
class Plan:
    """Everything one process needs to run trials of a study."""

    study: optuna.Study  # opened with heartbeats
    stale: StaleTrials  # fed by the storage
    loc: Location
    setup: Setup
    budget: int
    sampler: str = DEFAULT_SAMPLER
    pruner: str = DEFAULT_PRUNER
    target: float | None = None  # the study's: no trial starts once one reached it
    timeout: float | None = None
    max_local_trials: int | None = None
    join_parent_run: str | None = None  # workers nest their trials under the study's parent run
    parent_params: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    max_consecutive_failures: int = 10
    worker: bool = False
    # "all": redrawn while the study runs and after its last trial; "periodic": not after
    # the last (the caller draws them); "none": never (local workers of `run --workers`)
    study_plots: str = "all"

    @property
    def space(self) -> Space:
        return self.setup.space


def make_plan(study: optuna.Study, stale: StaleTrials, loc: Location, setup: Setup, **options: Any) -> Plan:
    """The plan of this process on ``study``: its budget, sampler, pruner and target as the study stores
    them, and ``options`` (:class:`Plan`'s other fields) of this process."""
    attrs = study.user_attrs
    return Plan(
        study=study, stale=stale, loc=loc, setup=setup,
        budget=int(attrs.get(keys.STUDY_MAX_TRIALS) or DEFAULT_TRIALS),
        sampler=attrs.get(keys.STUDY_SAMPLER, DEFAULT_SAMPLER), pruner=attrs.get(keys.STUDY_PRUNER, DEFAULT_PRUNER),
        target=attrs.get(keys.STUDY_TARGET), **options,
    )


def space_for_study(attrs: dict[str, Any]) -> Space:
    """The space a study was created with: its file, else the shipped space of that name."""
    path = attrs.get(keys.STUDY_SPACE_PATH)
    if path and Path(path).is_file():
        return load_space(path)
    if attrs.get(keys.STUDY_SPACE):
        return load_space(attrs[keys.STUDY_SPACE])
    raise SpaceError("The study records no space; it was not created by `search run`.")


def worker_id() -> str:
    """``host-pid``: names a worker's KerasTuner folder and tags its trials."""
    return f"{socket.gethostname()}-{os.getpid()}"
