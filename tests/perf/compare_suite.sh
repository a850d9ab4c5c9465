#!/bin/bash
# The README's comparison table: `search run`'s default, TPE with the median pruner and KerasTuner's three
# tuners on the three shipped spaces, five interleaved repeats each (about an hour on 2 shared CPU cores:
# 5 methods x 5 repeats x the budgets below). Each space's table, then the summary (each method's median
# seconds to target over the fastest KerasTuner tuner's, geometric mean over the spaces).
#   usage: tests/perf/compare_suite.sh [HOME]   (default ./compare-suite; more options after HOME, e.g. --format json)
set -euo pipefail
S="search"
command -v search >/dev/null || S=".venv/bin/search"

SPACES=iq_combiner,prototype_rbf,bounded_activation
METHODS=default,tpe+median,kt-random,kt-bayesian,kt-hyperband
REPEATS=5
# Per space: target (val_circ_mse <= for iq_combiner, val_accuracy >= for the others) and seconds per
# method and repeat (no trial starts after them). The accuracy targets are the highest that the best
# KerasTuner tuner reaches in at least 3 of 5 repeats (tests/perf/compare_targets.py reads them off a run's
# traces); at 0.97 every method's first bounded_activation trial is there.
IQ_TARGET=1e-3;     IQ_BUDGET=45
PROTO_TARGET=0.98;  PROTO_BUDGET=60
BOUNDED_TARGET=0.99; BOUNDED_BUDGET=45
# iq_combiner as in the command: 256 training rows, 20 epochs; the others train their own EPOCHS.
IQ_EPOCHS=20

$S compare "$SPACES" --samplers "$METHODS" --repeats "$REPEATS" \
  --target iq_combiner="$IQ_TARGET" --target prototype_rbf="$PROTO_TARGET" \
  --target bounded_activation="$BOUNDED_TARGET" \
  --budget-seconds iq_combiner="$IQ_BUDGET" --budget-seconds prototype_rbf="$PROTO_BUDGET" \
  --budget-seconds bounded_activation="$BOUNDED_BUDGET" \
  --epochs iq_combiner="$IQ_EPOCHS" --set iq_combiner:n_train=256 \
  --home "${1:-./compare-suite}" "${@:2}"
