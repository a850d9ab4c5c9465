#!/bin/bash
# The measurement behind the default pruner: TPE (no SUGGESTED) with each candidate pruner on the three shipped
# spaces, three interleaved repeats each, the targets of compare_suite.sh and shorter budgets (about 25 minutes
# on 2 shared CPU cores). Each space's table; the summary row needs a kt-* method and is left out.
#   usage: tests/perf/pruner_choice.sh [HOME] [more search compare options, e.g. --format json]
set -euo pipefail
S="search"
command -v search >/dev/null || S=".venv/bin/search"

$S compare iq_combiner,prototype_rbf,bounded_activation --samplers tpe+asha,tpe+sha,tpe+hyperband,tpe+median \
  --repeats 3 --target iq_combiner=1e-3 --target prototype_rbf=0.97 --target bounded_activation=0.97 \
  --budget-seconds iq_combiner=30 --budget-seconds prototype_rbf=45 --budget-seconds bounded_activation=30 \
  --epochs iq_combiner=20 --set iq_combiner:n_train=256 \
  --home "${1:-./pruner-choice}" "${@:2}"
