"""What a study holds after an invocation: its trials counted by state and its best trial."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from search.records import keys
from search.storage import mask_password

FRONT_SHOWN = 5  # front trials printed at the end of `search run`; `search best` lists them all

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
    objectives: tuple[tuple[str, str], ...] = ()  # several: (metric, direction) each; () for one
    front: tuple[tuple[int, tuple[float, ...]], ...] = ()  # several: (trial, values) on the Pareto front
    infeasible: int = 0  # complete trials that break a constraint

    @property
    def several(self) -> bool:
        return len(self.objectives) > 1

    @property
    def target_reached(self) -> bool:
        """Whether the best completed trial reached the study's target."""
        return reaches(self.best_value, self.target, self.direction)

    def lines(self) -> list[str]:
        """What ``search run`` and ``search worker`` print at the end."""
        from search.records.pareto import values_text

        best = "-" if self.best_value is None else f"{self.best_value:.6g} (trial {self.best_trial})"
        if self.several:
            best = f"Pareto front of {len(self.front)} trial{'s' * (len(self.front) != 1)}"
        counts = f"{self.complete} complete" + (f" ({self.infeasible} infeasible)" if self.infeasible else "")
        out = [f"study {self.study}: {counts}, {self.pruned} pruned, {self.failed} failed; best {best}"]
        shown = self.front[:FRONT_SHOWN]
        out += [f"front   trial {number}: {values_text(self.objectives, values)}" for number, values in shown]
        if len(self.front) > len(shown):
            out.append(f"front   ... {len(self.front) - len(shown)} more: `search best {self.study}`")
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
        if self.best_value is not None and math.isfinite(self.best_value) and not self.several:
            out[f"best_{objective}"] = self.best_value
        if self.several:
            out["pareto_size"] = float(len(self.front))
        if self.infeasible:
            out["infeasible"] = float(self.infeasible)
        return out


def summarize(study: optuna.Study, parent_run_id: str | None, loc: Location) -> StudyResult:
    """Counts the study's trials by state and finds its best completed trial."""
    from optuna.trial import TrialState

    from search.records.pareto import front

    counts = {s: 0 for s in TrialState}
    findings: Counter[str] = Counter()
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        counts[t.state] += 1
        findings.update(filter(None, [keys.findings_of(t.user_attrs)]))
    objectives = keys.study_objectives(study)
    several = len(objectives) > 1
    best = None
    if not several:
        feasible = [t for t in trials if t.state == TrialState.COMPLETE and keys.is_feasible(t) and t.value is not None]
        if feasible:
            best = (max if objectives[0][1] == "max" else min)(feasible, key=lambda t: t.value)
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
        direction=study.directions[0].name.lower(),
        findings=dict(findings),
        objectives=tuple(objectives) if several else (),
        front=tuple((t.number, tuple(t.values)) for t in front(trials, objectives)) if several else (),
        infeasible=sum(t.state == TrialState.COMPLETE and not keys.is_feasible(t) for t in trials),
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
