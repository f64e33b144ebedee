#!/usr/bin/env bash
# Sentiment v3's side-by-sides on SST-2, each pair run AT ONCE (benchmarks/lib/pairs.sh: one process per
# core, one torch thread each), so both halves see the same machine. Compare the rows of one pair only.
#
#   bash benchmarks/sentiment_pairs.sh [ngrams5] [ngrams30] [caps30]    (default: all three)
#
# ngrams5   the RNN head alone against the RNN head + n-gram path, 5 minutes, seeds 0, 1 and 2
# ngrams30  the same at 30 minutes, seed 0 (the budget where the RNN head alone learns phrases by heart)
# caps30    the RNN head at 30 minutes, seed 1, with and without warm-up and unfreezing capped in steps (200 / 300)
# Rows: benchmarks/results/sst2.json (python -m benchmarks.tables renders docs/benchmarks.md's tables).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export NLP_APPS_THREADS=1
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(ngrams5 ngrams30 caps30)

source benchmarks/lib/pairs.sh

for group in "${groups[@]}"; do
  case $group in
    ngrams5)
      for seed in 0 1 2; do
        pair "sst2-ngrams5-seed$seed" rnn ngrams "$PYTHON" -m benchmarks.sst2 --only no_lm --minutes 5 --seed $seed --out runs/bench-sst2-rnn \
          -- "$PYTHON" -m benchmarks.sst2 --only no_lm_ngrams --minutes 5 --seed $seed --out runs/bench-sst2-ngrams
      done ;;
    ngrams30)
      pair sst2-ngrams30 rnn ngrams "$PYTHON" -m benchmarks.sst2 --only no_lm --minutes 30 --out runs/bench-sst2-rnn \
        -- "$PYTHON" -m benchmarks.sst2 --only no_lm_ngrams --minutes 30 --out runs/bench-sst2-ngrams ;;
    caps30)
      pair sst2-caps30 uncapped capped "$PYTHON" -m benchmarks.sst2 --only no_lm --minutes 30 --seed 1 --out runs/bench-sst2-rnn \
        -- "$PYTHON" -m benchmarks.sst2 --only no_lm --minutes 30 --seed 1 --warmup-steps 200 --recipe unfreeze_steps=300 --out runs/bench-sst2-caps ;;
    *) echo "unknown group $group (ngrams5, ngrams30, caps30)" >&2; exit 2 ;;
  esac
done
