"""What ``search confirm`` stored, read back: each finished retrain and each trial's confirmed figures.

Both live in the study's user attributes, because Optuna refuses attributes on a finished trial:

- one attribute per finished retrain, ``confirm:<trial>:<seed>:<fold>`` (fold ``-`` for a space
  without a ``fold`` setting), written as the retrain finishes: the record a resumed
  ``search confirm`` skips, safe with several processes since none rewrites another's;
- ``confirmed``: the latest confirmation's figures per trial number (its string), replaced whole by
  each ``search confirm``, since P(best) holds only among the trials confirmed together.

The trials table, ``search best``, ``search export --confirmed`` and the report read them here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from search.errors import UsageError
from search.records import keys

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

# The figures a confirmed trial shows beside its search value (table columns, report, JSON keys).
CONFIRMED_KEYS = (keys.CONFIRMED_MEAN, keys.CONFIRMED_CI, keys.P_BEST)
NO_FOLD = "-"


def retrain_key(number: int, seed: int, fold: Any) -> str:
    """The study attribute of one finished retrain of trial ``number``."""
    return f"{keys.CONFIRM_PREFIX}{number}:{seed}:{NO_FOLD if fold is None else fold}"


def retrains(attrs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every finished retrain recorded in a study's user attributes, by attribute name."""
    return {k: v for k, v in attrs.items() if k.startswith(keys.CONFIRM_PREFIX) and isinstance(v, dict)}


def confirmed(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """The latest confirmation's full figures per trial number ({} when none ran)."""
    stored = study.user_attrs.get(keys.STUDY_CONFIRMED) or {}
    return {int(number): dict(figures) for number, figures in stored.items()}


def figures(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """Per confirmed trial: its :data:`CONFIRMED_KEYS` (mean, interval, P(best))."""
    return {number: {keys.CONFIRMED_MEAN: f.get("mean"), keys.CONFIRMED_CI: f.get("ci"), keys.P_BEST: f.get("p_best")}
            for number, f in confirmed(study).items()}


def direction(study: optuna.Study) -> str:
    """``min`` or ``max``: the direction of the (first) objective, which confirmation measures."""
    return keys.study_objectives(study)[0][1]


def ranking(study: optuna.Study) -> list[int]:
    """The confirmed trials, best confirmed mean first (a trial without a finite mean last)."""
    sign = -1.0 if direction(study) == "max" else 1.0
    found = confirmed(study)

    def order(number: int) -> tuple[bool, float, int]:
        mean = found[number].get("mean")
        ok = mean is not None and math.isfinite(mean)
        return (not ok, sign * mean if ok else 0.0, number)

    return sorted(found, key=order)


def best_confirmed(study: optuna.Study) -> FrozenTrial:
    """The trial confirmation ranks first, or a clear error when the study has none confirmed."""
    ranked = ranking(study)
    if not ranked:
        raise UsageError(f"Study {study.study_name!r} has no confirmed trial; run `search confirm "
                         f"{study.study_name}` first.")
    return next(t for t in study.get_trials(deepcopy=False) if t.number == ranked[0])
