"""What a study runs first: ``--enqueue FILE``, ``--warm-start STUDY[:K]`` and the space's ``SUGGESTED``.

:func:`gather` and :func:`with_warm_start` read and check every configuration before
anything is written (a bad key or value, an unknown study, a study of another space: one
line, exit 2); :func:`enqueue` puts them in the study, in that order, once it exists. The warm start is stored on the
study (:data:`search.records.keys.STUDY_WARM_START`), so every process that opens it (a
resumed ``search run``, each ``search worker``) gives TPE the other study's remaining
finished trials as priors (:func:`study_sampler`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.engine import warm
from search.errors import UsageError
from search.records import keys
from search.records.studies import study_names
from search.space import sets

if TYPE_CHECKING:
    import keras_tuner
    import optuna

    from search.study.config import StudyConfig
    from search.study.plan import Setup

SUGGESTED = "SUGGESTED"  # the `enqueued` attribute of a space's suggested configurations


@dataclass(frozen=True)
class FirstTrials:
    """The checked configurations to enqueue, by source, and the warm start to store."""

    batches: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # (source, configs), in order
    warm_start: dict[str, Any] | None = None  # {"study": name, "best": [its trial numbers enqueued here]}


def checking_space(setup: Setup) -> keras_tuner.HyperParameters:
    """The space's declared hyperparameters with the settings and ``--set`` values Fixed."""
    return sets.checking_space(setup.space, setup.settings, setup.fixed)


def gather(config: StudyConfig, setup: Setup) -> FirstTrials:
    """Reads and checks the ``--enqueue`` file and the space's ``SUGGESTED``; writes nothing."""
    hp = checking_space(setup)
    batches: list[tuple[str, list[dict[str, Any]]]] = []
    if config.enqueue:
        path = Path(config.enqueue)
        batches.append((f"file {path.name}", warm.check_configs(hp, _read_json(path), f"--enqueue {path}")))
    if config.suggested:
        where = f"SUGGESTED of space {setup.space.name!r}"
        configs = warm.check_configs(hp, sets.agreeing(setup.space.suggested(setup.settings), setup.fixed), where)
        batches.append((SUGGESTED, configs))
    return FirstTrials([b for b in batches if b[1]])


def with_warm_start(first: FirstTrials, config: StudyConfig, setup: Setup, ostorage: optuna.storages.BaseStorage,
                    study: str) -> FirstTrials:
    """``first`` with ``--warm-start``'s best configurations after the file's (before ``SUGGESTED``),
    once the other study is checked; writes nothing."""
    from search.study.config import parse_warm_start

    if not config.warm_start:
        return first
    other, k = parse_warm_start(config.warm_start)
    hp = checking_space(setup)
    best = _best_of_other_study(ostorage, other, study, setup, k)
    batch = [(f"study {other} trial {t.number}",
              warm.check_configs(hp, warm.as_config(hp, t), f"--warm-start {other}, trial {t.number}")) for t in best]
    at = 1 if first.batches and first.batches[0][0] != SUGGESTED else 0
    return FirstTrials([*first.batches[:at], *batch, *first.batches[at:]],
                       {"study": other, "best": [t.number for t in best]})


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--enqueue {path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--enqueue {path}: cannot be read ({e}).") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"--enqueue {path}: not JSON ({e.msg} at line {e.lineno}, column {e.colno}).") from None


def _best_of_other_study(ostorage: optuna.storages.BaseStorage, other: str, study: str, setup: Setup,
                         k: int) -> list[optuna.trial.FrozenTrial]:
    """The best ``k`` completed trials of study ``other``, once it is checked to be another study
    of the same space."""
    import optuna

    if other == study:
        raise UsageError(f"--warm-start {other!r} names the study being run; name another study of the space.")
    names = study_names(ostorage)
    if other not in names:
        raise UsageError(f"Unknown study {other!r} in --warm-start; studies there: {', '.join(names) or 'none'}.")
    loaded = optuna.load_study(study_name=other, storage=ostorage)
    space = loaded.user_attrs.get(keys.STUDY_SPACE)
    if space != setup.space.name:
        raise UsageError(f"--warm-start {other!r} is a study of space {space!r}, not {setup.space.name!r}.")
    best = warm.best_trials(loaded.get_trials(deepcopy=False), setup.space.direction, k)
    if not best:
        raise UsageError(f"--warm-start {other!r} has no completed trial to start from.")
    return best


def enqueue(study: optuna.Study, setup: Setup, first: FirstTrials) -> int:
    """Enqueues ``first``'s configurations not yet in ``study`` and stores its warm start; returns how many."""
    hp = checking_space(setup)
    if first.warm_start is not None:
        study.set_user_attr(keys.STUDY_WARM_START, first.warm_start)
    return sum(warm.enqueue(study, hp, configs, source) for source, configs in first.batches)


def study_sampler(name: str, seed: int, study_attrs: dict[str, Any], ostorage: optuna.storages.BaseStorage,
                  setup: Setup) -> optuna.samplers.BaseSampler:
    """Sampler ``name`` for a study: with TPE, the other study's finished trials of its stored warm
    start (but the best ones it enqueued, which run here) as priors."""
    import optuna

    from search.engine.samplers import make_sampler

    ws = study_attrs.get(keys.STUDY_WARM_START)
    priors: list[optuna.trial.FrozenTrial] = []
    if name == "tpe" and ws and ws.get("study") in study_names(ostorage):
        other = optuna.load_study(study_name=ws["study"], storage=ostorage)
        priors = warm.priors(checking_space(setup), other.get_trials(deepcopy=False), set(ws.get("best", ())))
    return make_sampler("random" if name == "grid" else name, seed, priors=priors)
