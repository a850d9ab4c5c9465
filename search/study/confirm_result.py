"""What ``search confirm`` found: each confirmed trial's figures, the verdict, the lines it prints.

The figures come from the recorded retrains (:mod:`search.records.confirmed`), whichever
invocation or process trained them; the statistics are :mod:`search.study.confirm_stats`'.
The best confirmed trial is the one with the best mean; the verdict names it with its P(best)
and the trials Welch's t-test cannot tell from it at 95%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search.records import keys
from search.records.confirmed import retrain_key, retrains
from search.study import confirm_stats

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from search.study.confirm_train import Task


@dataclass(frozen=True)
class TrialFigures:
    """One confirmed trial: its retrains' values and the search's own."""

    number: int
    search_value: float | None
    best: list[float]  # the objective at each retrain's best epoch
    final: list[float]  # ... at its last epoch
    p_best: float = 0.0

    @property
    def summary(self) -> confirm_stats.Summary:
        return confirm_stats.summarize(self.best)

    @property
    def final_summary(self) -> confirm_stats.Summary:
        return confirm_stats.summarize(self.final)

    def stored(self) -> dict[str, Any]:
        """The figures as the study attribute ``confirmed`` keeps them."""
        s, f = self.summary, self.final_summary
        return {"mean": s.mean, "std": s.std, "ci": list(s.ci) if s.ci else None, "n": s.n,
                "nonfinite": s.nonfinite, "p_best": self.p_best, "search_value": self.search_value,
                "final_mean": f.mean, "final_std": f.std, "final_ci": list(f.ci) if f.ci else None}

    def line(self, direction: str) -> str:
        """``trial 12  confirmed 0.98 ± 0.003  95% CI ...  n=5  search 0.99 (optimism +0.01)  final ...  P(best)=0.81``."""
        s, f = self.summary, self.final_summary
        interval = f"95% CI {s.ci[0]:.4g} to {s.ci[1]:.4g}" if s.ci else "no interval"
        optimism = ""
        if s.mean is not None and self.search_value is not None and math.isfinite(self.search_value):
            gap = self.search_value - s.mean if direction == "max" else s.mean - self.search_value
            optimism = f" (optimism {gap:+.2g})"
        lost = f" ({s.nonfinite} non-finite left out)" if s.nonfinite else ""
        return (f"trial {self.number:>4}  confirmed {_spread(s)}  {interval}  n={s.n}{lost}  "
                f"search {_figure(self.search_value)}{optimism}  final epoch {_spread(f)}  P(best)={self.p_best:.2f}")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _spread(s: confirm_stats.Summary) -> str:
    return _figure(s.mean) + (f" ± {s.std:.2g}" if s.std is not None else "")


@dataclass
class ConfirmResult:
    """What ``search confirm`` found, best confirmed trial first."""

    study: str
    objective: str
    direction: str
    seeds: int
    folds: list[Any] | None  # --cv: the folds; None: the study's split
    epochs: int
    trials: list[TrialFigures]
    total: int  # retrains of this confirmation
    trained: int = 0  # ... trained by this invocation
    parent_run_id: str | None = None
    tracking_uri: str = ""

    @property
    def verdict(self) -> str:
        return verdict(self.trials)

    def lines(self) -> list[str]:
        """What ``search confirm`` prints: a head, a line per trial, the verdict, the MLflow run."""
        split = f" x {len(self.folds)} folds" if self.folds else ""
        return [
            f"confirm {self.study}: {len(self.trials)} trials x {self.seeds} seeds{split}, {self.epochs} epochs each; "
            f"{self.objective} ({self.direction}) at each retrain's best epoch",
            f"retrains: {self.trained} trained now, {self.total - self.trained} of {self.total} already recorded",
            *(t.line(self.direction) for t in self.trials),
            self.verdict,
            f"mlflow  {self.tracking_uri} (confirm run {self.parent_run_id})",
        ]

    def stored(self) -> dict[str, dict[str, Any]]:
        """The study attribute ``confirmed``: the figures per trial number."""
        return {str(t.number): t.stored() for t in self.trials}

    def metrics(self) -> dict[str, float]:
        """The summary logged on the parent run: per trial ``trial_N.confirmed_mean`` and its kin."""
        out: dict[str, float] = {"retrains": float(self.total)}
        for t in self.trials:
            s, f = t.summary, t.final_summary
            figures = {keys.CONFIRMED_MEAN: s.mean, f"{keys.CONFIRMED_CI}_low": s.ci[0] if s.ci else None,
                       f"{keys.CONFIRMED_CI}_high": s.ci[1] if s.ci else None, keys.P_BEST: t.p_best,
                       "final_mean": f.mean, "search_value": t.search_value}
            out.update({f"trial_{t.number}.{k}": float(v) for k, v in figures.items() if v is not None})
        return out


def verdict(trials: list[TrialFigures]) -> str:
    """One line: the best confirmed trial with its P(best), and those Welch's t-test cannot tell from it."""
    best = trials[0]
    head = f"trial {best.number} is best with P={best.p_best:.2f}"
    if len(trials) == 1:
        return f"{head}; it is the only trial confirmed"
    close = confirm_stats.indistinguishable(best.best, {t.number: t.best for t in trials[1:]})
    if not close:
        return f"{head}; it is better than every other confirmed trial at 95% (Welch's t-test)"
    names = [str(best.number), *map(str, close)]
    untested = any(t.summary.n < 2 for t in trials if t is best or t.number in close)
    return (f"{head}; trials {', '.join(names[:-1])} and {names[-1]} are not distinguishable at 95% (Welch's t-test"
            + ("; fewer than 2 finite retrains leave no test)" if untested else ")"))


def summarize(study: optuna.Study, chosen: list[FrozenTrial], tasks: list[Task], objective: str, direction: str,
              seeds: int, folds: list[Any] | None, epochs: int) -> ConfirmResult:
    """The figures of the chosen trials from their recorded retrains, best confirmed mean first."""
    done = retrains(study.user_attrs)
    records: dict[int, list[dict]] = {t.number: [] for t in chosen}
    for task in tasks:
        record = done.get(retrain_key(task.number, task.seed, task.fold))
        if record is not None:
            records[task.number].append(record)
    best = {n: [float(r["best"]) for r in rs] for n, rs in records.items()}
    p = confirm_stats.p_best(best, direction)
    figures = [TrialFigures(t.number, t.values[0] if t.values else None, best[t.number],
                            [float(r["final"]) for r in records[t.number]], p[t.number]) for t in chosen]
    sign = -1.0 if direction == "max" else 1.0
    figures.sort(key=lambda f: (f.summary.mean is None, sign * (f.summary.mean or 0.0), f.number))
    return ConfirmResult(study.study_name, objective, direction, seeds, folds, epochs, figures, total=len(tasks))
