#!/bin/bash
# Every study and baseline behind the README's "answers" figures, in one store (about 10 min
# on 2 shared CPU cores). Then `python tests/perf/seed_answers_report.py HOME` prints the tables.
#   usage: tests/perf/seed_answers.sh [HOME]   (default ./answers)
set -euo pipefail
H=${1:-answers}
S="search"
command -v search >/dev/null || S=".venv/bin/search"

# iq_combiner (seed 000): the search, the same from Glorot only, the seed's configuration, baselines.
$S run iq_combiner --study iq-atan2 --trials 30 --home "$H"
$S run iq_combiner --study iq-atan2-glorot --set init=glorot --trials 30 --home "$H"
$S run iq_combiner --study seed-config --trials 1 --set combiner=atan2 --set loss=mse --set optimizer=sgd \
  --set init=glorot --set learning_rate=0.01 --set batch_size=32 --home "$H"
$S baseline iq_combiner --study iq-atan2 --home "$H"

# bounded_activation (seeds 001/002): every activation variant, the rest fixed.
source "$(dirname "$0")/bounded_variants.sh"
for v in "${BOUNDED_VARIANTS[@]}"; do bounded_study "$S" "$H" "$v"; done

# prototype_rbf (seeds 003/004): a study per dataset, its best trial against the baselines, holdout and 5-fold CV.
for d in digits iris wine breast_cancer; do
  $S run prototype_rbf --study "proto-$d" --set dataset="$d" --trials 30 --home "$H"
  $S baseline prototype_rbf --study "proto-$d" --trial best --home "$H"
  $S baseline prototype_rbf --study "proto-$d" --cv --trial best --home "$H"
done
