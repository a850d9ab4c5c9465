"""``search trials STUDY --failures``: failed and pruned trials grouped by reason.

Each group is one normalised reason with its count, the trials, the epochs at which
they stopped and the parameter values all of them share (those that are not shared by
the whole study), e.g. ``12 trials FAIL: loss became NaN (all with loss=mse,
optimizer=adam)``.

Normalising: a numerics failure is ``METRIC became NaN|inf[; first non-finite: WHERE]``
without its epoch and replayed batch; a pruned trial is ``pruned by PRUNER`` without
its step; any other reason loses ``(will retry)`` and has its numbers replaced by ``#``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from search.records import keys

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")
_REPLAYED = re.compile(r" at replayed batch \d+")
_PRUNED = re.compile(r"^(?P<pruner>\w+) at step (?P<step>\d+)$")


@dataclass
class FailureGroup:
    """Trials that failed (or were pruned) for one normalised reason."""

    state: str
    reason: str
    count: int = 0
    trials: list[int] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    shared_params: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """``12 trials FAIL: loss became NaN at epochs 2-3 (all with loss=mse, optimizer=adam); trials 3, 5``."""
        noun = "trial" if self.count == 1 else "trials"
        text = f"{self.count} {noun} {self.state}: {self.reason}"
        if self.epochs:
            low, high = min(self.epochs), max(self.epochs)
            text += f" at epoch {low}" if low == high else f" at epochs {low}-{high}"
        if self.shared_params:
            shared = ", ".join(f"{k}={v}" for k, v in sorted(self.shared_params.items()))
            text += f" ({'all with' if self.count > 1 else 'with'} {shared})"
        shown = ", ".join(map(str, self.trials[:20])) + (", ..." if len(self.trials) > 20 else "")
        return f"{text}; trials {shown}"


def normalise(trial: FrozenTrial) -> tuple[str, int | None]:
    """``(reason without numbers, epoch it stopped at or None)`` of a FAIL or PRUNED trial."""
    attrs = trial.user_attrs
    if trial.state.name == "PRUNED":
        found = _PRUNED.match(str(attrs.get(keys.PRUNED_BY, "")))
        if found:
            return f"pruned by {found['pruner']}", int(found["step"]) + 1
        return f"pruned ({attrs.get(keys.PRUNED_BY) or 'by an unknown pruner'})", None
    numerics = attrs.get(keys.NUMERICS)
    if isinstance(numerics, dict) and numerics.get("metric"):
        reason = f"{numerics['metric']} became {numerics.get('value', 'non-finite')}"
        origin = numerics.get("origin")
        if origin:
            reason += f"; first non-finite: {_REPLAYED.sub('', origin)}"
        return reason, numerics.get("epoch")
    reason = str(attrs.get(keys.FAIL_REASON) or "no reason recorded").replace(" (will retry)", "")
    return _NUMBER.sub("#", reason), None


def group_failures(study: optuna.Study) -> list[FailureGroup]:
    """FAIL and PRUNED trials of ``study`` grouped by normalised reason, largest group first."""
    trials = study.get_trials(deepcopy=False)
    everywhere = _common([keys.values_of(t) for t in trials])
    groups: dict[tuple[str, str], FailureGroup] = {}
    members: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for t in trials:
        if t.state.name not in ("FAIL", "PRUNED"):
            continue
        reason, epoch = normalise(t)
        key = (t.state.name, reason)
        group = groups.setdefault(key, FailureGroup(state=t.state.name, reason=reason))
        group.count += 1
        group.trials.append(t.number)
        if epoch is not None:
            group.epochs.append(int(epoch))
        members[key].append(keys.values_of(t))
    for key, group in groups.items():
        shared = _common(members[key])
        group.shared_params = {k: v for k, v in shared.items() if everywhere.get(k, _MISSING) != v}
    return sorted(groups.values(), key=lambda g: (-g.count, g.state, g.reason))


_MISSING = object()


def _common(dicts: list[dict[str, Any]]) -> dict[str, Any]:
    """The key/value pairs present, with the same value, in every dict."""
    if not dicts:
        return {}
    common = dict(dicts[0])
    for d in dicts[1:]:
        common = {k: v for k, v in common.items() if k in d and d[k] == v}
    return common


def render_failures(study: optuna.Study, fmt: str = "table") -> str:
    """The groups as text: ``table`` (one line each), ``csv`` or ``json``; ends with a newline."""
    import json

    groups = group_failures(study)
    records = [asdict(g) for g in groups]
    if fmt == "json":
        return json.dumps(records, indent=2, default=str) + "\n"
    if fmt == "csv":
        import pandas as pd

        frame = pd.DataFrame(records, columns=["state", "reason", "count", "trials", "epochs", "shared_params"])
        for column in ("trials", "epochs", "shared_params"):
            frame[column] = frame[column].map(lambda v: json.dumps(v, default=str))
        return frame.to_csv(index=False)
    if not records:
        return f"study {study.study_name}: no failed or pruned trial\n"
    return "".join(g.line() + "\n" for g in groups)
