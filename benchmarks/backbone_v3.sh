#!/usr/bin/env bash
# Backbone v3: the long pretraining that continued backbone v2 on the same four corpora. It finished and
# shipped as the default on 2026-12-06 (benchmarks/ship_backbone_v3.sh); this script stays as the record of
# how. To reproduce it now that `default` is v3: INIT_FROM=backbone-v2 bash benchmarks/backbone_v3.sh, then the
# resumes with the budgets the default model's manifest.json lists. It outlived a session, so its run
# directory lived outside the checkout and every session called this script again:
#   - the run directory still exists      -> --resume it (exact continuation, same precision);
#   - it is gone but weights were saved   -> start again with --init-from those weights: the committed
#     intermediate benchmarks/weights/backbone-v3-partial when present (set BUDGET to what is left of the
#     8 hours: its metrics.json says how long it trained), else INIT_FROM;
#   - nothing yet                         -> start from the shipped default (backbone v2).
# Stop it with SIGTERM (it saves OUT/last and exits); the next call resumes it. BUDGET given with a run that
# is resumed changes its schedule's length from then on (it is stored in the run's run_config.json).
#
#   bash benchmarks/backbone_v3.sh            # in the background: nohup bash benchmarks/backbone_v3.sh > ~/nlp-apps-runs/backbone-v3.log 2>&1 &
#
# Environment: RUNS (default ~/nlp-apps-runs), INIT_FROM (weights to restart from when the run is gone;
# default: the committed intermediate weights, else the shipped default), BUDGET (the cosine schedule's
# whole length across sessions, 8h; the first run, lost with its machine at step 10,761, had 12h).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-$HOME/nlp-apps-runs}
OUT=$RUNS/backbone-v3
NLP_APPS=${NLP_APPS:-nlp-apps}
mkdir -p "$RUNS"
if [ -f "$OUT/last/trainer_state.pt" ] || [ -f "$OUT/last.old/trainer_state.pt" ]; then
  exec $NLP_APPS pretrain --resume "$OUT" --no-progress ${BUDGET:+--time-budget "$BUDGET"}
fi
PARTIAL=benchmarks/weights/backbone-v3-partial
if [ -z "${INIT_FROM:-}" ] && [ -f "$PARTIAL/config.json" ]; then INIT_FROM=$PARTIAL; fi
exec $NLP_APPS pretrain --corpora benchmarks/corpora/backbone-v2.json --init-from "${INIT_FROM:-default}" --out "$OUT" --overwrite \
  --input-dropout 0 --hidden-dropout 0 --output-dropout 0 --batch-size 32 --bptt 70 --valid-tokens 60000 --half \
  --optimizer sgd --lr 20 --clip 0.25 --schedule cosine --time-budget "${BUDGET:-8h}" --eval-every 2000 --patience 20 \
  --checkpoint-every 10m --seed 1 --no-progress
