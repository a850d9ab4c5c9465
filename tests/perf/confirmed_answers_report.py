"""Prints the spaces' answers with their uncertainty from the store(s) `confirmed_answers.sh` filled.

usage: python tests/perf/confirmed_answers_report.py [HOME ...]   (default ./confirmed)

Several HOMEs (stages run into different stores) are read as one. What is computed:

- a mean over retrains with Student's t 95% interval (``search.study.confirm_stats.summarize``);
- differences between two studies (bounded_activation variants): Welch's t interval and p-value,
  Holm's correction over the 15 pairs of a column; with folds, also the fold-paired difference
  (per fold the difference of the two means, then a t interval over the 5 folds, df 4);
- prototype_rbf against the baselines: the baselines are deterministic per fold, so the comparison is
  fold-paired (per fold the RBF trial's mean over seeds minus the baseline, t interval over the folds);
- iq_combiner success rates: Wilson's 95% score interval of the proportion.

The per-retrain values are the study attributes ``confirm:<trial>:<seed>:<fold>`` that ``search confirm``
writes (``search.records.confirmed``): ``best`` (the objective at the retrain's best epoch, what a search
records) and ``final`` (at its last epoch).
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import optuna
from mlflow import MlflowClient
from scipy import stats as sps

from search.records.confirmed import retrains
from search.study.confirm_stats import summarize, t_quantile

BOUNDED = ["tanh", "truncation-exact", "truncation-straight_through", "truncation-trainable", "bump-shared",
           "bump-per_channel"]
LOSSES = ["mse", "wrapped_mse", "anti_wrap_l1", "cosine", "von_mises_nll", "unit_vector", "amp_weighted_cosine"]
OPTIMIZERS = {"adam": "Adam, lr 0.04", "sgd_momentum": "SGD+momentum, lr 0.0039"}
BASELINES = {"svc_rbf": "SVC (RBF)", "logistic_regression": "logistic regression", "knn": "kNN"}


class Stores:
    """The studies of one or more HOMEs, by name."""

    def __init__(self, homes: list[Path]) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.studies: dict[str, tuple[optuna.Study, Path]] = {}
        for home in homes:
            url = f"sqlite:///{home / 'optuna.db'}"
            for summary in optuna.get_all_study_summaries(url):
                self.studies[summary.study_name] = (optuna.load_study(study_name=summary.study_name, storage=url), home)

    def study(self, name: str) -> optuna.Study | None:
        return self.studies.get(name, (None, None))[0]

    def client(self, name: str) -> MlflowClient:
        return MlflowClient(f"sqlite:///{self.studies[name][1] / 'mlflow.db'}")


# -- statistics -------------------------------------------------------------------------------------

def ci_text(values: list[float], digits: int = 4) -> str:
    """``mean ± half-width [low, high] (n)``: the t interval of the mean."""
    s = summarize(values)
    if s.n == 0:
        return "-"
    if s.ci is None:
        return f"{s.mean:.{digits}f} (n=1)"
    return f"{s.mean:.{digits}f} ± {(s.ci[1] - s.ci[0]) / 2:.{digits}f} [{s.ci[0]:.{digits}f}, {s.ci[1]:.{digits}f}] (n={s.n})"


def welch(a: list[float], b: list[float]) -> tuple[float, float, float, float]:
    """Mean of a − mean of b, its Welch 95% interval and the two-sided p-value."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    diff = float(x.mean() - y.mean())
    if vx + vy == 0:
        return diff, diff, diff, 1.0 if diff == 0 else 0.0
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = t_quantile(0.975, df) * math.sqrt(vx + vy)
    p = float(2 * sps.t.sf(abs(diff) / math.sqrt(vx + vy), df))
    return diff, diff - half, diff + half, p


def paired(diffs: list[float]) -> tuple[float, float, float, float]:
    """Mean of per-fold differences, its t 95% interval over the folds and the p-value."""
    d = np.asarray(diffs, float)
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))
    if se == 0:
        return mean, mean, mean, 1.0 if mean == 0 else 0.0
    half = t_quantile(0.975, len(d) - 1) * se
    return mean, mean - half, mean + half, float(2 * sps.t.sf(abs(mean) / se, len(d) - 1))


def holm(pvalues: list[float]) -> list[bool]:
    """Which hypotheses Holm's step-down procedure rejects at 5% (family-wise)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] > 0.05 / (len(pvalues) - rank):
            break
        rejected[i] = True
    return rejected


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson's score interval of a proportion k/n."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def diff_text(d: tuple[float, float, float, float], holm_ok: bool | None = None) -> str:
    mark = "" if holm_ok is None else (" ✓" if holm_ok else "")
    return f"{d[0]:+.4f} [{d[1]:+.4f}, {d[2]:+.4f}] p={d[3]:.3g}{mark}"


# -- the recorded retrains ----------------------------------------------------------------------------

def records(study: optuna.Study, trial: int) -> list[dict]:
    """Every finished retrain of ``trial``: ``best``, ``final``, ``seed``, ``fold`` (None: no fold)."""
    out = []
    for key, record in retrains(study.user_attrs).items():
        _, number, _seed, _fold = key.split(":")
        if int(number) == trial:
            out.append(record)
    return sorted(out, key=lambda r: (r["seed"], -1 if r["fold"] is None else r["fold"]))


def fold0(recs: list[dict], which: str) -> list[float]:
    return [r[which] for r in recs if r["fold"] in (0, None)]


def cv_design(recs: list[dict]) -> tuple[list[int], list[int]]:
    """The seeds retrained on every fold, and the folds (the --cv design inside the records)."""
    folds = sorted({r["fold"] for r in recs if r["fold"] is not None})
    seeds = sorted({r["seed"] for r in recs})
    return [s for s in seeds if all(any(r["seed"] == s and r["fold"] == f for r in recs) for f in folds)], folds


def cv_values(recs: list[dict], which: str) -> dict[int, list[float]]:
    """Per fold, the values of the seeds retrained on every fold (the balanced --cv design)."""
    seeds, folds = cv_design(recs)
    return {f: [r[which] for r in recs if r["fold"] == f and r["seed"] in seeds] for f in folds}


def flat(per_fold: dict[int, list[float]]) -> list[float]:
    return [v for vs in per_fold.values() for v in vs]


# -- bounded_activation -------------------------------------------------------------------------------

def bounded(stores: Stores) -> None:
    found = {name: stores.study(f"bounded-{name}") for name in BOUNDED}
    found = {n: s for n, s in found.items() if s is not None}
    if not found:
        return
    recs = {n: records(s, 0) for n, s in found.items()}
    some = max(recs.values(), key=len)
    seeds, folds = cv_design(some)
    unfinished = [n for n, r in recs.items() if (cv_design(r)[0], cv_design(r)[1]) != (seeds, folds)]
    for n in unfinished:
        print(f"\n(bounded-{n}: {len(recs.pop(n))} retrains recorded, not the full design yet: left out)")
    if not recs:
        return
    print("\n## bounded_activation: val_accuracy, 20 epochs, mean ± 95% t half-width [interval] (n retrains)\n")
    print(f"fold 0: {len(fold0(some, 'best'))} seeds; 5 folds: {len(seeds)} seeds × {len(folds)} folds "
          f"(fold 0's the first {len(seeds)} of fold 0's)\n")
    print("| variant | search (seed 0, fold 0) | fold 0, best epoch | fold 0, final epoch | 5 folds, best epoch "
          "| 5 folds, final epoch |")
    print("|---|---|---|---|---|---|")
    order = sorted(recs, key=lambda n: -np.mean(flat(cv_values(recs[n], "best"))))
    for n in order:
        r = recs[n]
        print(f"| {n} | {found[n].trials[0].value:.4f} | {ci_text(fold0(r, 'best'))} | {ci_text(fold0(r, 'final'))} "
              f"| {ci_text(flat(cv_values(r, 'best')))} | {ci_text(flat(cv_values(r, 'final')))} |")
    print("\nPer fold, mean over seeds (best epoch / final epoch):\n")
    print("| variant | " + " | ".join(f"fold {f}" for f in folds) + " |")
    print("|---|" + "---|" * len(folds))
    for n in order:
        b, f_ = cv_values(recs[n], "best"), cv_values(recs[n], "final")
        print(f"| {n} | " + " | ".join(f"{np.mean(b[f]):.4f} / {np.mean(f_[f]):.4f}" for f in folds) + " |")

    pairs = list(itertools.combinations(order, 2))
    columns = {
        "fold 0, best epoch (Welch)": lambda a, b: welch(fold0(recs[a], "best"), fold0(recs[b], "best")),
        "5 folds, best epoch (fold-paired)": lambda a, b: paired(
            [np.mean(x) - np.mean(y) for x, y in zip(cv_values(recs[a], "best").values(),
                                                      cv_values(recs[b], "best").values())]),
        "5 folds, final epoch (fold-paired)": lambda a, b: paired(
            [np.mean(x) - np.mean(y) for x, y in zip(cv_values(recs[a], "final").values(),
                                                      cv_values(recs[b], "final").values())]),
        "5 folds, best epoch (Welch, pooled)": lambda a, b: welch(flat(cv_values(recs[a], "best")),
                                                                  flat(cv_values(recs[b], "best"))),
    }
    results = {c: [fn(a, b) for a, b in pairs] for c, fn in columns.items()}
    rejected = {c: holm([d[3] for d in ds]) for c, ds in results.items()}
    print("\nDifferences (row's first − second), 95% interval, two-sided p; ✓: distinguishable after Holm's "
          "correction over the 15 pairs of the column:\n")
    print("| pair | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for i, (a, b) in enumerate(pairs):
        print(f"| {a} − {b} | " + " | ".join(diff_text(results[c][i], rejected[c][i]) for c in columns) + " |")


# -- prototype_rbf ------------------------------------------------------------------------------------

def proto(stores: Stores) -> None:
    study = stores.study("proto-digits")
    if study is None:
        return
    confirmed = study.user_attrs.get("confirmed") or {}
    numbers = [int(n) for n in confirmed] or sorted({int(k.split(":")[1]) for k in retrains(study.user_attrs)})
    number = numbers[0]
    trial = study.trials[number]
    recs = records(study, number)
    seeds, folds = cv_design(recs)
    best, final = cv_values(recs, "best"), cv_values(recs, "final")
    base = baseline_folds(stores, "proto-digits")
    print(f"\n## prototype_rbf on digits: val_accuracy, 5 folds\n\nbest trial {number} of {len(study.trials)} "
          f"(search value {trial.value:.4f} on fold 0): {trial.params or trial.user_attrs.get('params')}\n")
    print(f"{len(seeds)} seeds × {len(folds)} folds; the interval of a row's mean is the t interval over the "
          "5 fold means (df 4); the trial's also over all its retrains\n")
    print("| model | " + " | ".join(f"fold {f}" for f in folds) + " | mean over folds [95% CI] |")
    print("|---|" + "---|" * (len(folds) + 1))
    for label, per_fold in (("RBF trial, best epoch", best), ("RBF trial, final epoch", final)):
        means = [float(np.mean(per_fold[f])) for f in folds]
        print(f"| {label} | " + " | ".join(f"{m:.4f}" for m in means) + f" | {ci_text(means)}; over retrains "
              f"{ci_text(flat(per_fold))} |")
    for name, label in BASELINES.items():
        if name in base:
            print(f"| {label} | " + " | ".join(f"{v:.4f}" for v in base[name]) + f" | {ci_text(base[name])} |")
    print("\nFold-paired differences (per fold: the trial's mean over seeds − the baseline), mean [95% CI], p:\n")
    print("| baseline | trial best epoch − baseline | trial final epoch − baseline |")
    print("|---|---|---|")
    for name, label in BASELINES.items():
        if name in base:
            cells = [diff_text(paired([np.mean(pf[f]) - base[name][i] for i, f in enumerate(folds)]))
                     for pf in (best, final)]
            print(f"| {label} | " + " | ".join(cells) + " |")
    if "svc_rbf" in base:
        print(f"\nFold 0 alone (the study's fold): the trial's {len(best[folds[0]])} retrains, best epoch "
              f"{ci_text(best[folds[0]])}, final epoch {ci_text(final[folds[0]])}; SVC {base['svc_rbf'][0]:.4f}")


def baseline_folds(stores: Stores, study: str) -> dict[str, list[float]]:
    """Per baseline, its val_accuracy per fold (metric ``val_accuracy_fold``, the fold as the step), from the
    latest ``search baseline --cv`` child run of each."""
    client = stores.client(study)
    experiment = client.get_experiment_by_name(study)
    out: dict[str, list[float]] = {}
    for run in client.search_runs([experiment.experiment_id], "tags.`search.role` = 'baseline'",
                                  order_by=["attributes.start_time ASC"]):
        if not run.info.run_name.endswith("-cv5"):
            continue
        history = sorted(client.get_metric_history(run.info.run_id, "val_accuracy_fold"), key=lambda m: m.step)
        out[run.data.tags["search.baseline"]] = [m.value for m in history]
    return out


# -- iq_combiner --------------------------------------------------------------------------------------

def iq(stores: Stores) -> None:
    rows = []
    for opt, loss in itertools.product(OPTIMIZERS, LOSSES):
        name = f"iq-glorot-{loss}-{opt}"
        if stores.study(name) is None:
            continue
        client = stores.client(name)
        experiment = client.get_experiment_by_name(name)
        runs = [r for r in client.search_runs([experiment.experiment_id], "tags.`search.role` = 'trial'",
                                               max_results=10000) if r.data.tags.get("search.state") == "COMPLETE"]
        ever = [r.data.tags.get("iq.epochs_to_success", "never") for r in runs]
        reached = [int(e) for e in ever if e != "never"]
        at_end = sum(float(r.data.tags.get("iq.final_success", "0")) == 1.0 for r in runs)
        values = sorted(r.data.metrics.get("best_val_circ_mse", math.nan) for r in runs)
        rows.append((opt, loss, len(runs), len(reached), at_end, reached, values))
    if not rows:
        return
    print("\n## iq_combiner: success from Glorot (atan2 combiner, batch 32, 40 epochs, the loss changed), "
          "Wilson 95% intervals\n")
    print("| optimizer | loss | seeds | succeeded (any epoch) | rate [95% CI] | successful at the last epoch "
          "| epochs to success, median (range) | best val_circ_mse, median |")
    print("|---|---|---|---|---|---|---|---|")
    for opt, loss, n, k, at_end, reached, values in rows:
        low, high = wilson(k, n)
        low_e, high_e = wilson(at_end, n)
        epochs = f"{int(np.median(reached))} ({min(reached)}–{max(reached)})" if reached else "-"
        print(f"| {OPTIMIZERS[opt]} | {loss} | {n} | {k}/{n} | {k / n:.2f} [{low:.2f}, {high:.2f}] | "
              f"{at_end}/{n} [{low_e:.2f}, {high_e:.2f}] | {epochs} | {np.median(values):.3g} |")


def main() -> None:
    homes = [Path(h).resolve() for h in (sys.argv[1:] or ["confirmed"])]
    stores = Stores(homes)
    bounded(stores)
    proto(stores)
    iq(stores)


if __name__ == "__main__":
    main()
