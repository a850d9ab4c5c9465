"""``search export --pick``: a trial chosen by a rule, such as ``max val_accuracy where latency_ms<=2``.

The rule is ``max|min METRIC [where CONSTRAINT [and CONSTRAINT ...]]``; a constraint is
``METRIC<=BOUND`` (or ``<``, ``>=``, ``>``). Among the study's COMPLETE, feasible trials that meet
every condition, the one with the largest (``max``) or smallest (``min``) value of the metric is
picked; ties go to the earlier trial. A metric is one of the study's objectives or a cost metric
the harness measured (``params``, ``model_bytes``, ``latency_ms``).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from search.errors import UsageError
from search.records import keys
from search.records.constraints import parse_constraint

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

_RULE = re.compile(r"^\s*(max|min)\s+([A-Za-z_][A-Za-z0-9_./-]*)\s*(?:\s+where\s+(.+))?$", re.IGNORECASE)
FORMAT = "'max|min METRIC [where METRIC<=BOUND [and ...]]', e.g. 'max val_accuracy where latency_ms<=2'"


def metric_of(trial: FrozenTrial, objectives: list[tuple[str, str]], name: str) -> float | None:
    """The trial's value of an objective, or of a cost metric it recorded; None when it has none."""
    names = [n for n, _ in objectives]
    if name in names and trial.values is not None:
        return float(trial.values[names.index(name)])
    value = trial.user_attrs.get(name) if name in keys.COST_METRICS else None
    return None if value is None else float(value)


def pick_trial(study: optuna.Study, rule: str) -> int:
    """The number of the trial ``rule`` picks (see the module doc); one clear line when none meets it."""
    match = _RULE.match(rule or "")
    if not match:
        raise UsageError(f"Invalid --pick {rule!r}; expected {FORMAT}.")
    word, metric, where = match.group(1).lower(), match.group(2), match.group(3)
    conditions = []
    for text in re.split(r"\s+and\s+", where, flags=re.IGNORECASE) if where else []:
        try:
            conditions.append(parse_constraint(text))
        except UsageError:
            raise UsageError(f"Invalid condition {text.strip()!r} in --pick {rule!r}; expected {FORMAT}.") from None
    objectives = keys.study_objectives(study)
    known = [n for n, _ in objectives] + [c for c in keys.COST_METRICS]
    for name in [metric, *(c.metric for c in conditions)]:
        if name not in known:
            raise UsageError(f"--pick names {name!r}, which study {study.study_name!r} does not record; "
                             f"it records: {', '.join(dict.fromkeys(known))}.")
    candidates = []
    for t in study.get_trials(deepcopy=False):
        if t.state.name != "COMPLETE" or not keys.is_feasible(t):
            continue
        value = metric_of(t, objectives, metric)
        if value is None or not math.isfinite(value):
            continue
        if all(c.violation(metric_of(t, objectives, c.metric)) <= 0 for c in conditions):
            candidates.append((value, t.number))
    if not candidates:
        raise UsageError(f"No COMPLETE, feasible trial of study {study.study_name!r} meets --pick {rule!r}.")
    best = max(candidates, key=lambda c: (c[0], -c[1])) if word == "max" else min(candidates, key=lambda c: (c[0], c[1]))
    return best[1]
