"""Prints the README's "answers" tables from the store `seed_answers.sh` filled.

usage: python tests/perf/seed_answers_report.py [HOME]   (default ./answers)
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlflow import MlflowClient

BOUNDED = ["tanh", "truncation-exact", "truncation-straight_through", "truncation-trainable", "bump-shared",
           "bump-per_channel"]
DATASETS = ["digits", "iris", "wine", "breast_cancer"]


def runs(client: MlflowClient, study: str, role: str):
    experiment = client.get_experiment_by_name(study)
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`search.role` = '{role}'",
                              max_results=10000)


def iq_table(client: MlflowClient, study: str) -> None:
    print(f"\n{study}\n")
    print("| trial | state | best val_circ_mse | final cos I | final cos Q | epochs to success | combiner | loss "
          "| init | optimizer | lr | batch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for run in runs(client, study, "trial"):
        p, m, t = run.data.params, run.data.metrics, run.data.tags
        init = p["init"] if p["init"] == "glorot" else f"true + {float(p['offset']):.1e} {p['offset_mode']}"
        value = m.get("best_val_circ_mse")
        rows.append((int(t["search.optuna_trial_number"]), t["search.state"],
                     "-" if value is None else f"{value:.3g}", f"{m['kernel_cosine_I']:.6f}",
                     f"{m['kernel_cosine_Q']:.6f}", t.get("iq.epochs_to_success", "-"), p["combiner"], p["loss"],
                     init, p["optimizer"], f"{float(p['learning_rate']):.3g}", p["batch_size"]))
    for row in sorted(rows):
        print("| " + " | ".join(map(str, row)) + " |")


def bounded_table(client: MlflowClient) -> None:
    print("\n| variant | val_accuracy | NaN loss | σ: initial → epochs 1, 10, 20 | T: initial → epochs 1, 10, 20 |")
    print("|---|---|---|---|---|")
    for name in BOUNDED:
        run = runs(client, f"bounded-{name}", "trial")[0]
        t, m = run.data.tags, run.data.metrics

        def path(key: str) -> str:
            history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda h: h.step)
            if not history:
                return "-"
            picked = ", ".join(f"{h.value:.4g}" for h in (history[0], history[9], history[-1]))
            return f"{m[key + '_initial']:.4g} → {picked} (moved: {t[f'bounded.{key}_moved']})"

        print(f"| {name} | {m['best_val_accuracy']:.4f} | {t['bounded.nan_loss']} | {path('sigma')} | "
              f"{path('threshold')} |")


def prototype_table(client: MlflowClient) -> None:
    names = ["trial", "svc_rbf", "logistic_regression", "knn"]
    print("\n| dataset | protocol | best trial | SVC (RBF) | logistic regression | kNN |")
    print("|---|---|---|---|---|---|")
    for dataset in DATASETS:
        study = f"proto-{dataset}"
        holdout, cv = {}, {}
        for run in runs(client, study, "baseline"):
            name = run.data.tags["search.baseline"]
            name = "trial" if name.startswith("trial-") else name
            m = run.data.metrics
            if run.info.run_name.endswith("-cv5"):
                cv[name] = f"{m['val_accuracy']:.4f} ± {m['val_accuracy_std']:.4f}"
            else:
                holdout[name] = f"{m['val_accuracy']:.4f}"
        best = max((r for r in runs(client, study, "trial") if "best_val_accuracy" in r.data.metrics
                    and r.data.tags.get("search.state") == "COMPLETE"),
                   key=lambda r: (r.data.metrics["best_val_accuracy"], -int(r.data.tags["search.optuna_trial_number"])))
        holdout["trial"] = f"{best.data.metrics['best_val_accuracy']:.4f} (trial {best.data.tags['search.optuna_trial_number']})"
        print(f"| {dataset} | holdout (fold 0) | " + " | ".join(holdout.get(n, "-") for n in names) + " |")
        print(f"| {dataset} | 5-fold CV | " + " | ".join(cv.get(n, "-") for n in names) + " |")


def main() -> None:
    home = Path(sys.argv[1] if len(sys.argv) > 1 else "answers").resolve()
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    for study in ("iq-atan2", "iq-atan2-glorot", "seed-config"):
        iq_table(client, study)
    bounded_table(client)
    prototype_table(client)


if __name__ == "__main__":
    main()
