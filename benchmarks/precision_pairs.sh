#!/usr/bin/env bash
# fp32 against --precision auto at equal wall-clock time, each pair run AT ONCE: one process per core
# (taskset), one torch thread each, so both halves of a pair see the same machine and the same noise.
# Compare the rows of one pair only; record what else ran (nothing, for the stored rows).
#
#   bash benchmarks/precision_pairs.sh [pretrain] [sst2] [multi30k] [same_steps]    (default: all four)
#
# pretrain    PTB pretraining, the shipped backbone's shape, 20 minutes    -> benchmarks/results/precision.json
# sst2        SST-2 fine-tuning (the default recipe), 5 minutes, seeds 0 and 1 -> sst2.json
# multi30k    Multi30k de->en translation train, 20 minutes, test BLEU    -> multi30k.json
# same_steps  forced bf16 for exactly the fp32 pretraining row's steps (quality at equal steps; speed not compared)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export NLP_APPS_THREADS=1
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(pretrain sst2 multi30k same_steps)

source benchmarks/lib/pairs.sh

mkdir -p runs/pairs
for group in "${groups[@]}"; do
  case $group in
    pretrain)
      pair pretrain fp32 auto "$PYTHON" -m benchmarks.precision --minutes 20 --only pretrain_fp32 --beside "pretrain_auto on the other core" \
        -- "$PYTHON" -m benchmarks.precision --minutes 20 --only pretrain_auto --beside "pretrain_fp32 on the other core" ;;
    sst2)
      for seed in 0 1; do
        pair "sst2-seed$seed" fp32 auto "$PYTHON" -m benchmarks.sst2 --only no_lm --minutes 5 --seed $seed --precision fp32 --out runs/bench-sst2-fp32 \
          -- "$PYTHON" -m benchmarks.sst2 --only no_lm --minutes 5 --seed $seed --precision auto --out runs/bench-sst2-auto
      done ;;
    multi30k)
      pair multi30k fp32 auto "$PYTHON" -m benchmarks.multi30k --row ours --minutes 20 --precision fp32 \
        -- "$PYTHON" -m benchmarks.multi30k --row ours --minutes 20 --precision auto ;;
    same_steps)
      taskset -c 0 "$PYTHON" -m benchmarks.precision --minutes 20 --only pretrain_bf16_same_steps > runs/pairs/same_steps.log 2>&1
      tail -n 1 runs/pairs/same_steps.log ;;
    *) echo "unknown group $group (pretrain, sst2, multi30k, same_steps)" >&2; exit 2 ;;
  esac
done
