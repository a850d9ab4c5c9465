"""What a study holds after an invocation: its trials counted by state and its best trial."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from search.records import keys
from search.storage import mask_password

if TYPE_CHECKING:
    import optuna

    from search.storage import Location


@dataclass(frozen=True)
class StudyResult:
    """What a ``search run`` (or ``search worker``) left in the study."""

    study: str
    complete: int
    pruned: int
    failed: int
    running: int
    best_value: float | None
    best_trial: int | None
    best_params: dict[str, Any] | None
    parent_run_id: str | None
    storage: str
    tracking_uri: str
    target: float | None = None  # the study's target (``search run --target``)
    direction: str = "minimize"
    trials_link: str | None = None  # the study's trials in the MLflow UI
    findings: dict[str, int] = field(default_factory=dict)  # the doctor's finding -> trials with it

    @property
    def target_reached(self) -> bool:
        """Whether the best completed trial reached the study's target."""
        return reaches(self.best_value, self.target, self.direction)

    def lines(self) -> list[str]:
        """What ``search run`` and ``search worker`` print at the end."""
        best = "-" if self.best_value is None else f"{self.best_value:.6g} (trial {self.best_trial})"
        out = [f"study {self.study}: {self.complete} complete, {self.pruned} pruned, {self.failed} failed; best {best}"]
        if self.target_reached:
            out.append(f"stopped: target {self.target:g} reached")
        total = self.complete + self.pruned + self.failed
        out += [f"doctor  {finding} (in {count} of {total} trials; see `search trials {self.study}`)"
                for finding, count in self.findings.items()]
        out += [f"storage {self.storage}", f"mlflow  {self.tracking_uri} (parent run {self.parent_run_id})"]
        if self.trials_link:
            served = self.tracking_uri.startswith(("http://", "https://"))
            out.append(f"trials  {self.trials_link}" + ("" if served else " (once `search ui` runs)"))
        return out

    def metrics(self, objective: str) -> dict[str, float]:
        """The summary logged on the parent run: counts, and ``best_<objective>`` once a trial completed."""
        out = {"complete": float(self.complete), "pruned": float(self.pruned), "failed": float(self.failed)}
        if self.best_value is not None and math.isfinite(self.best_value):
            out[f"best_{objective}"] = self.best_value
        return out


def summarize(study: optuna.Study, parent_run_id: str | None, loc: Location) -> StudyResult:
    """Counts the study's trials by state and finds its best completed trial."""
    from optuna.trial import TrialState

    counts = {s: 0 for s in TrialState}
    findings: Counter[str] = Counter()
    for t in study.get_trials(deepcopy=False):
        counts[t.state] += 1
        findings.update(filter(None, [keys.findings_of(t.user_attrs)]))
    best = study.best_trial if counts[TrialState.COMPLETE] else None
    return StudyResult(
        study=study.study_name,
        complete=counts[TrialState.COMPLETE],
        pruned=counts[TrialState.PRUNED],
        failed=counts[TrialState.FAIL],
        running=counts[TrialState.RUNNING],
        best_value=None if best is None else best.value,
        best_trial=None if best is None else best.number,
        best_params=None if best is None else keys.values_of(best),
        parent_run_id=parent_run_id,
        storage=mask_password(loc.storage_url),
        tracking_uri=mask_password(loc.tracking_uri),
        target=study.user_attrs.get(keys.STUDY_TARGET),
        direction=study.direction.name.lower(),
        findings=dict(findings),
    )


def reaches(value: float | None, target: float | None, direction: str) -> bool:
    """Whether objective ``value`` meets ``target`` (``<=`` when minimizing, ``>=`` when maximizing;
    ``direction``: "minimize"/"min" or "maximize"/"max")."""
    if value is None or target is None or not math.isfinite(value):
        return False
    return value >= target if direction.startswith("max") else value <= target


def count_used(study: optuna.Study) -> int:
    """The study's trials that count against its budget (retries do not)."""
    return keys.trials_used(study.get_trials(deepcopy=False))
