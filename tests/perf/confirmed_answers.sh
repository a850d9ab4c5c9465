#!/bin/bash
# The spaces' answers restated with their uncertainty (spaces/README.md, "Confirmed answers"): every
# figure retrained over fresh seeds (and folds), into one store. Then
# `python tests/perf/confirmed_answers_report.py HOME` prints the tables with 95% intervals.
#   usage: tests/perf/confirmed_answers.sh [HOME] [STAGE ...]   (default ./confirmed; stages: bounded proto iq)
# The design is set by the variables below (the README's figures used the defaults):
#   SEEDS     retrains per trial on the study's fold (bounded_activation, fold 0)             default 5
#   CV_SEEDS  retrains per trial and fold with --cv (bounded_activation; fold 0 reuses the first
#             CV_SEEDS of the SEEDS retrains, same seeds)                                      default 2
#   PROTO_TRIALS  the digits study's trial budget (seed_answers.sh: 30)                        default 30
#   PROTO_SEEDS   retrains per fold of its best trial, --cv                                    default 5
#   IQ_PLAN   OPTIMIZER:N ...: each atan2 loss with adam (lr 0.04) and/or sgd_momentum (lr 0.0039),
#             N trials each (training seeds 0 .. N-1, the data fixed)              default "adam:10 sgd_momentum:5"
set -euo pipefail
H=${1:-confirmed}
shift || true
STAGES=${*:-bounded proto iq}
SEEDS=${SEEDS:-5}
CV_SEEDS=${CV_SEEDS:-2}
PROTO_TRIALS=${PROTO_TRIALS:-30}
PROTO_SEEDS=${PROTO_SEEDS:-5}
IQ_PLAN=${IQ_PLAN:-adam:10 sgd_momentum:5}
S="search"
command -v search >/dev/null || S=".venv/bin/search"
stamp() { echo "== $(date +%T) $*"; }
source "$(dirname "$0")/bounded_variants.sh"

# bounded_activation (seeds 001/002): the six one-trial studies of seed_answers.sh, each trial retrained
# SEEDS times on fold 0, then CV_SEEDS times on every fold.
bounded() {
  for v in "${BOUNDED_VARIANTS[@]}"; do
    study="bounded-${v%%:*}"
    stamp "$study"
    bounded_study "$S" "$H" "$v"
    $S confirm "$study" --trials 0 --seeds "$SEEDS" --home "$H"
    $S confirm "$study" --trials 0 --seeds "$CV_SEEDS" --cv --home "$H"
  done
}

# prototype_rbf on digits (seeds 003/004): the study of seed_answers.sh, its best trial retrained PROTO_SEEDS
# times on every fold, and the baselines on the same folds (deterministic per fold).
proto() {
  stamp proto-digits
  $S run prototype_rbf --study proto-digits --set dataset=digits --trials "$PROTO_TRIALS" --home "$H"
  $S confirm proto-digits --top 1 --seeds "$PROTO_SEEDS" --cv --home "$H"
  $S baseline prototype_rbf --study proto-digits --cv --home "$H"
}

# iq_combiner (seed 000): from Glorot, the best-from-Glorot configuration with only the loss changed. A study
# per loss and optimizer, everything fixed, N trials: trial n trains with seed n on the same data (study
# seed 0); no pruner, so every trial runs its 40 epochs and its success is counted. A study that exists is
# resumed up to N complete trials.
iq() {
  for plan in $IQ_PLAN; do
    opt=${plan%%:*}
    n=${plan#*:}
    case $opt in
      adam) lr=0.04 ;;
      sgd_momentum) lr=0.0039 ;;
      *) echo "unknown optimizer $opt" >&2; exit 2 ;;
    esac
    for loss in mse wrapped_mse anti_wrap_l1 cosine von_mises_nll unit_vector amp_weighted_cosine; do
      stamp "iq-glorot-$loss-$opt"
      $S run iq_combiner --study "iq-glorot-$loss-$opt" --trials "$n" --pruner none --no-suggested \
        --set combiner=atan2 --set loss="$loss" --set init=glorot --set optimizer="$opt" \
        --set learning_rate="$lr" --set batch_size=32 --home "$H"
    done
  done
}

for stage in $STAGES; do
  "$stage"
done
stamp done
