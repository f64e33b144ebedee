#!/usr/bin/env bash
# Seq2seq v2's 60-minute rows.
#
#   bash benchmarks/seq2seq_v2.sh [m30k] [aeslc]    (default: both)
#
# m30k   Multi30k de->en, one after another, each alone on 2 threads: our random decoder (`no_lm_init`), JoeyNMT
#        (the peer forces 2 threads itself, so it cannot share a pair), our LM-initialised defaults (`ours`);
#        about 3 h 15 min
# aeslc  AESLC with the e-mail cut at 150 pieces, in pairs AT ONCE (benchmarks/lib/pairs.sh, one thread each):
#        coverage always beside never; then coverage for the last 20% only beside the random-start row at
#        20 minutes (the row predating the random decoder's init); about 2 h 10 min
# Rows: benchmarks/results/{multi30k,aeslc}.json (python -m benchmarks.tables renders docs/benchmarks.md's tables).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(m30k aeslc)

source benchmarks/lib/pairs.sh

for group in "${groups[@]}"; do
  case $group in
    m30k)
      for row in no_lm_init joeynmt ours; do
        echo "== multi30k $row 60 min: $(date -u +%H:%M), load $(cut -d' ' -f1 /proc/loadavg)"
        "$PYTHON" -m benchmarks.multi30k --row $row --minutes 60
      done ;;
    aeslc)
      export NLP_APPS_THREADS=1
      pair aeslc-coverage60 always never \
        "$PYTHON" -m benchmarks.aeslc --row ours --minutes 60 --out runs/bench-aeslc-always --extra --max-source-len 150 \
        -- "$PYTHON" -m benchmarks.aeslc --row no_coverage --minutes 60 --out runs/bench-aeslc-never --extra --max-source-len 150
      pair aeslc-last60 last random20 \
        "$PYTHON" -m benchmarks.aeslc --row last_coverage --minutes 60 --out runs/bench-aeslc-last --extra --max-source-len 150 \
        -- "$PYTHON" -m benchmarks.aeslc --row no_lm_init --minutes 20 --out runs/bench-aeslc-random
      unset NLP_APPS_THREADS ;;
    *) echo "unknown group $group (m30k, aeslc)" >&2; exit 2 ;;
  esac
done
