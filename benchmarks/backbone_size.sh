#!/usr/bin/env bash
# Backbone v3, item 2: which shape to ship, by what users get. Two bidirectional shapes pretrained from scratch for the
# same minutes on the same corpora and recipe as the default backbone, then fine-tuned from each: SST-2 for 10 minutes
# (the stacked head, whose row also gives the RNN head alone) and SQuAD for 20; last, the linear probe of each. Each
# step runs as a pair AT ONCE (benchmarks/lib/pairs.sh: one process per core, one torch thread each), so both shapes see
# the same machine.
#
#   bash benchmarks/backbone_size.sh            # MINUTES=60 of pretraining each; about 1 h 40 min in all
#
# The pretraining pair is resumable: stop it (kill this script first, then SIGTERM both pretraining processes, which
# save), and the next `bash benchmarks/backbone_size.sh` resumes each shape's run where it stopped (its budget counts
# across resumes) and skips a shape whose run ended. SIZE_RUNS (default runs) is where the two runs live: a directory
# outside the work tree (e.g. ~/nlp-apps-runs) survives a new checkout.
#
# Shapes: 2x512/256 (the shipped default's, 6.8M parameters, 13.6 MB in float16) and 2x768/256 (10.5M, 20.9 MB; the
# default limit is 25 MB). Runs go to $SIZE_RUNS/size-2x512 and $SIZE_RUNS/size-2x768 (their metrics.json hold the validation
# perplexity at equal minutes); fine-tuning rows to benchmarks/results/{sst2,squad}.json, marked with the backbone.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
MINUTES=${MINUTES:-60}
export NLP_APPS_THREADS=1
source benchmarks/lib/pairs.sh

# The default backbone's recipe from scratch, for MINUTES (the shape's --hidden-size and --out follow).
PRETRAIN=("$PYTHON" -m nlp_apps.cli pretrain --corpora benchmarks/corpora/backbone-v2.json --overwrite --bidirectional --layers 2 \
  --emb-size 256 --input-dropout 0 --hidden-dropout 0 --output-dropout 0 --batch-size 32 --bptt 70 --valid-tokens 60000 --half \
  --optimizer sgd --lr 20 --clip 0.25 --schedule cosine --time-budget "${MINUTES}m" --eval-every 1000 --patience 20 --seed 0 \
  --no-progress --json)

SIZE_RUNS=${SIZE_RUNS:-runs}

# The command that pretrains shape 2xHIDDEN: a new run, the resumption of a stopped one, or nothing for one that ended.
pretrain_command() {
  local dir=$SIZE_RUNS/size-2x$1
  local status
  status=$("$PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1])).get('status', ''))" "$dir/metrics.json" 2>/dev/null || true)
  if [ -d "$dir/last" ] && { [ -z "$status" ] || [ "$status" = interrupted ]; }; then
    COMMAND=("$PYTHON" -m nlp_apps.cli pretrain --resume "$dir" --no-progress --json)
  elif [ -n "$status" ] && [ "$status" != interrupted ]; then
    echo "2x$1: pretraining ended ($status); not run again"
    COMMAND=(true)
  else
    COMMAND=("${PRETRAIN[@]}" --hidden-size "$1" --out "$dir")
  fi
}
pretrain_command 512; FIRST=("${COMMAND[@]}")
pretrain_command 768; SECOND=("${COMMAND[@]}")
for log in runs/pairs/size-pretrain.2x512.log runs/pairs/size-pretrain.2x768.log; do  # a resumed pair keeps the first logs
  if [ -f "$log" ]; then mv "$log" "$log.$(date -u +%Y%m%d-%H%M%S)"; fi
done
pair size-pretrain 2x512 2x768 "${FIRST[@]}" -- "${SECOND[@]}"
pair size-sst2 2x512 2x768 \
  "$PYTHON" -m benchmarks.sst2 --only no_lm_stacked --minutes 10 --backbone "$SIZE_RUNS/size-2x512" --out runs/bench-sst2-size512 \
  -- "$PYTHON" -m benchmarks.sst2 --only no_lm_stacked --minutes 10 --backbone "$SIZE_RUNS/size-2x768" --out runs/bench-sst2-size768
pair size-squad 2x512 2x768 \
  "$PYTHON" -m benchmarks.squad --checkpoints 20 --no-v2 --backbone "$SIZE_RUNS/size-2x512" --out runs/bench-squad-size512 \
  -- "$PYTHON" -m benchmarks.squad --checkpoints 20 --no-v2 --backbone "$SIZE_RUNS/size-2x768" --out runs/bench-squad-size768
# The frozen-feature linear probe of each (Backbone v3, item 3), one after the other, beside TF-IDF on the same phrases.
"$PYTHON" -m benchmarks.probe --model "$SIZE_RUNS/size-2x512" --model "$SIZE_RUNS/size-2x768"
for shape in 512 768; do
  "$PYTHON" -c "import json,sys; m=json.load(open(sys.argv[1])); print(sys.argv[2], m['steps'], 'steps', {k: v for k, v in m['best'].items() if k.endswith('_ppl')})" \
    "$SIZE_RUNS/size-2x$shape/metrics.json" "2x$shape"
done
