#!/usr/bin/env bash
# Sentiment v3's grid: the stacked head (`no_lm_stacked`, whose rows also give the RNN head alone and the n-gram
# path alone, from the same model) against TF-IDF + LR and NBSVM, three seeds per budget. Runs go in pairs AT ONCE
# (benchmarks/lib/pairs.sh: one process per core, one torch thread each), so both halves see the same machine.
#
#   bash benchmarks/sentiment_v3.sh [sst2] [imdb_chunks] [imdb] [baselines]    (default: sst2, imdb, baselines)
#
# sst2       budgets 2, 5, 6, 10 and 30 minutes x seeds 0, 1, 2: each pair is SST-2 full (left) beside SST-2 on 8,000
#            training sentences (right), same budget and seed (15 pairs, about 3 h; 6 minutes for the seed-range target)
# imdb_chunks  IMDB, 20 minutes, seed 0: gradients through the last 4 chunks of 128 tokens (the default) beside the last 2
#            (2.2x the training reviews/s in a one-thread probe); GRAD_CHUNKS then sets the imdb group's choice
# imdb       60 minutes, seeds 0 and 1 as a pair, then seed 2 on core 0 alone (one thread, as in the pair; about 3 h)
# baselines  TF-IDF + LR and NBSVM on the same splits (SST-2 full, SST-2 8k, IMDB; a few minutes)
# Rows: benchmarks/results/{sst2,imdb}.json (python -m benchmarks.tables renders docs/benchmarks.md's tables).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export NLP_APPS_THREADS=1
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(sst2 imdb baselines)
GRAD_CHUNKS=${GRAD_CHUNKS:-4}
BUDGETS=${BUDGETS:-2 5 6 10 30}  # the sst2 group's budgets, in minutes (a subset splits the grid across sessions)

source benchmarks/lib/pairs.sh

for group in "${groups[@]}"; do
  case $group in
    sst2)
      for minutes in $BUDGETS; do
        for seed in 0 1 2; do
          pair "sst2-stacked-${minutes}min-seed$seed" full 8k \
            "$PYTHON" -m benchmarks.sst2 --only no_lm_stacked --minutes $minutes --seed $seed --out runs/bench-sst2-stacked \
            -- "$PYTHON" -m benchmarks.sst2 --only no_lm_stacked --minutes $minutes --seed $seed --subset 8000 --out runs/bench-sst2-stacked-8k
        done
      done ;;
    imdb_chunks)
      pair imdb-chunks20 grad4 grad2 \
        "$PYTHON" -m benchmarks.imdb --only no_lm_stacked --minutes 20 --out runs/bench-imdb-grad4 \
        -- "$PYTHON" -m benchmarks.imdb --only no_lm_stacked --minutes 20 --grad-chunks 2 --out runs/bench-imdb-grad2 ;;
    imdb)
      pair imdb-stacked-seeds01 seed0 seed1 \
        "$PYTHON" -m benchmarks.imdb --only no_lm_stacked --minutes 60 --seed 0 --grad-chunks "$GRAD_CHUNKS" --out runs/bench-imdb-seed0 \
        -- "$PYTHON" -m benchmarks.imdb --only no_lm_stacked --minutes 60 --seed 1 --grad-chunks "$GRAD_CHUNKS" --out runs/bench-imdb-seed1
      mkdir -p runs/pairs
      taskset -c 0 "$PYTHON" -m benchmarks.imdb --only no_lm_stacked --minutes 60 --seed 2 --grad-chunks "$GRAD_CHUNKS" \
        --out runs/bench-imdb-seed2 > runs/pairs/imdb-stacked-seed2.log 2>&1
      tail -n 2 runs/pairs/imdb-stacked-seed2.log ;;
    baselines)
      "$PYTHON" -m benchmarks.sst2 --baselines-only
      "$PYTHON" -m benchmarks.sst2 --baselines-only --subset 8000
      "$PYTHON" -m benchmarks.imdb --only tfidf ;;
    *) echo "unknown group $group (sst2, imdb_chunks, imdb, baselines)" >&2; exit 2 ;;
  esac
done
