#!/usr/bin/env bash
# Ship Backbone v3 as the default backbone, once its run (benchmarks/backbone_v3.sh) has finished:
#   - the shipped v2 moves to nlp_apps/pretrained/backbone-v2 (a rename: git keeps one copy of its weights), loadable
#     by that name as gutenberg-v1 is;
#   - the run's best model and its records become nlp_apps/pretrained/default;
#   - the intermediate weights (benchmarks/weights: backbone-v3-partial and its README) are removed.
# It stages the changes with git and commits nothing: check `git status`, the tests and the docs, then commit.
#
#   bash benchmarks/ship_backbone_v3.sh [RUN_DIR]      (default: ~/nlp-apps-runs/backbone-v3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-$HOME/nlp-apps-runs/backbone-v3}
status=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('status', ''))" "$RUN/metrics.json")
case "$status" in
  time_budget|finished|early_stopped|max_steps) ;;
  *) echo "error: $RUN/metrics.json: status '$status'; the run has not finished (resume it: bash benchmarks/backbone_v3.sh)" >&2; exit 1 ;;
esac
[ -d nlp_apps/pretrained/backbone-v2 ] && { echo "error: nlp_apps/pretrained/backbone-v2 exists: already shipped?" >&2; exit 1; }
git mv nlp_apps/pretrained/default nlp_apps/pretrained/backbone-v2
mkdir nlp_apps/pretrained/default
cp "$RUN"/{config.json,model.safetensors,tokenizer.model,metrics.json,manifest.json,log.csv,curves.png,run_config.json} \
   "$RUN"/data/corpora.json nlp_apps/pretrained/default/
git add nlp_apps/pretrained/default
git rm -r -q benchmarks/weights
python3 - <<'EOF'
from pathlib import Path
path = Path("pyproject.toml")
text = path.read_text()
old = '"pretrained/default/*", "pretrained/gutenberg-v1/*"'
if old in text:
    path.write_text(text.replace(old, '"pretrained/default/*", "pretrained/backbone-v2/*", "pretrained/gutenberg-v1/*"'))
EOF
git add pyproject.toml
echo "shipped $RUN as the default ($(du -sh nlp_apps/pretrained/default | cut -f1)); v2 is now 'backbone-v2'. Staged, not committed."
