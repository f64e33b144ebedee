#!/usr/bin/env bash
# Sentiment v3's grid: the stacked head (`no_lm_stacked`, whose rows also give the RNN head alone and the n-gram
# path alone, from the same model) against TF-IDF + LR and NBSVM, three seeds per budget. Runs go in pairs AT ONCE
# (benchmarks/lib/pairs.sh: one process per core, one torch thread each), so both halves see the same machine.
#
#   bash benchmarks/sentiment_v3.sh [sst2] [sst2_long] [sst2_recipe] [sst2_ensemble] [sst2_ensemble6] [sst2_average6] [imdb_chunks] [imdb] [baselines]
#   (default: sst2 imdb_chunks imdb baselines)
#
# sst2       budgets 2, 5, 6, 10 and 30 minutes x seeds 0, 1, 2: each pair is SST-2 full (left) beside SST-2 on 8,000
#            training sentences (right), same budget and seed (15 pairs, about 3 h; 6 minutes for the seed-range target)
# sst2_long  the sst2 group with checkpoints and the mix chosen on 2,000 held-out phrases of 10 words or more (`--heldout
#            long`: sentence-like, as dev is), LONG_BUDGETS (default 30) x seeds 0, 1, 2,
#            and the baselines on its training sets (about 1 h 50 at 30 minutes)
# sst2_recipe  the 30-minute budget with the schedule ended after EPOCHS (default 3; the 10-minute runs, 2.6-2.8 epochs,
#            scored higher than the 30-minute ones, 8 epochs) and the long held-out slice, seeds 0, 1, 2: each pair is
#            that recipe (left) beside the same with the weights averaged (`--average-decay 0.999`, right); about 40 min
# sst2_ensemble  `--ensemble 3` (three members of 10 minutes, probabilities averaged) at 30 minutes, the disjoint held-out slice:
#            seeds 0 and 1 as a pair, then seed 2 beside the same on 8,000 training sentences (seed 0); about 1 h 5 min
# sst2_ensemble6  the 6-minute seed range with `--ensemble 2` (two members of 3 minutes): seeds 0 and 1 as a pair, then
#            seed 2 beside the same on 8,000 training sentences (seed 0); about 16 min
# sst2_average6  the 6-minute seed range with the weights averaged (`--average-decay 0.999`), the same pairs; about 16 min
# imdb_chunks  IMDB, 60 minutes, seed 0: gradients through the last 4 chunks of 128 tokens (the default) beside the last 2
#            (2.2x the training reviews/s in a one-thread probe); the better on the validation slice is GRAD_CHUNKS (about 1.5 h)
# imdb       60 minutes, seeds 1 and 2 as a pair with GRAD_CHUNKS (seed 0 is imdb_chunks' row of that choice; about 1.5 h)
# baselines  TF-IDF + LR and NBSVM on the same splits (SST-2 full, SST-2 8k, IMDB with each seed's held-out slice; minutes)
# Rows: benchmarks/results/{sst2,imdb}.json (python -m benchmarks.tables renders docs/benchmarks.md's tables).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export NLP_APPS_THREADS=1
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(sst2 imdb_chunks imdb baselines)
GRAD_CHUNKS=${GRAD_CHUNKS:-4}
BUDGETS=${BUDGETS:-2 5 6 10 30}  # the sst2 group's budgets, in minutes (a subset splits the grid across sessions)
LONG_BUDGETS=${LONG_BUDGETS:-30}
EPOCHS=${EPOCHS:-3}  # the sst2_recipe group's cap

source benchmarks/lib/pairs.sh

# Three seeds of one SST-2 recipe (the stacked head with OPTIONS) and its 8k row in two pairs: seeds 0 and 1, then seed
# 2 beside seed 0 on 8,000 training sentences.   three_seeds_and_8k NAME OUT OPTIONS...
three_seeds_and_8k() {
  local name=$1 out=$2; shift 2
  local run=("$PYTHON" -m benchmarks.sst2 --only no_lm_stacked "$@")
  pair "$name-seeds01" seed0 seed1 "${run[@]}" --seed 0 --out "$out" -- "${run[@]}" --seed 1 --out "$out"
  pair "$name-seed2-8k" seed2 8k "${run[@]}" --seed 2 --out "$out" -- "${run[@]}" --seed 0 --subset 8000 --out "$out-8k"
}

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
    sst2_long)
      for minutes in $LONG_BUDGETS; do
        for seed in 0 1 2; do
          pair "sst2-long-${minutes}min-seed$seed" full 8k \
            "$PYTHON" -m benchmarks.sst2 --only no_lm_stacked --heldout long --minutes $minutes --seed $seed --out runs/bench-sst2-long \
            -- "$PYTHON" -m benchmarks.sst2 --only no_lm_stacked --heldout long --minutes $minutes --seed $seed --subset 8000 --out runs/bench-sst2-long-8k
        done
      done
      "$PYTHON" -m benchmarks.sst2 --baselines-only --heldout long  # the baselines on the same training sets
      "$PYTHON" -m benchmarks.sst2 --baselines-only --heldout long --subset 8000 ;;
    sst2_recipe)
      for seed in 0 1 2; do
        pair "sst2-recipe-epochs$EPOCHS-seed$seed" plain averaged \
          "$PYTHON" -m benchmarks.sst2 --only no_lm_stacked --heldout long --epochs "$EPOCHS" --seed $seed --out runs/bench-sst2-recipe \
          -- "$PYTHON" -m benchmarks.sst2 --only no_lm_stacked --heldout long --epochs "$EPOCHS" --average-decay 0.999 --seed $seed --out runs/bench-sst2-recipe-avg
      done ;;
    sst2_ensemble)
      three_seeds_and_8k sst2-ensemble3 runs/bench-sst2-ensemble --ensemble 3 ;;
    sst2_ensemble6)
      three_seeds_and_8k sst2-ensemble2-6min runs/bench-sst2-ensemble6 --ensemble 2 --minutes 6 ;;
    sst2_average6)
      three_seeds_and_8k sst2-average-6min runs/bench-sst2-average6 --average-decay 0.999 --minutes 6 ;;
    imdb_chunks)
      pair imdb-chunks60 grad4 grad2 \
        "$PYTHON" -m benchmarks.imdb --only no_lm_stacked --minutes 60 --seed 0 --out runs/bench-imdb-grad4 \
        -- "$PYTHON" -m benchmarks.imdb --only no_lm_stacked --minutes 60 --seed 0 --grad-chunks 2 --out runs/bench-imdb-grad2 ;;
    imdb)
      pair "imdb-stacked-grad$GRAD_CHUNKS-seeds12" seed1 seed2 \
        "$PYTHON" -m benchmarks.imdb --only no_lm_stacked --minutes 60 --seed 1 --grad-chunks "$GRAD_CHUNKS" --out runs/bench-imdb-seed1 \
        -- "$PYTHON" -m benchmarks.imdb --only no_lm_stacked --minutes 60 --seed 2 --grad-chunks "$GRAD_CHUNKS" --out runs/bench-imdb-seed2 ;;
    baselines)
      "$PYTHON" -m benchmarks.sst2 --baselines-only
      "$PYTHON" -m benchmarks.sst2 --baselines-only --subset 8000
      for seed in 0 1 2; do "$PYTHON" -m benchmarks.imdb --only tfidf --seed $seed; done ;;
    *) echo "unknown group $group (sst2, sst2_long, sst2_recipe, sst2_ensemble, imdb_chunks, imdb, baselines)" >&2; exit 2 ;;
  esac
done
