"""Backbones side by side on a pretraining run's validation text, in one run: token perplexity per corpus, both directions.

The validation token files a pretraining run wrote (RUN/data/valid.<corpus>.tokens) are scored by every model as
the run's own evaluation scores them (nlp_apps.models.lm.score_tokens, batch 16, BPTT 70), so models that share the
run's tokenizer compare token for token (Backbone v3's target: at least 30% below v2 on IMDB, blogs and Wikipedia).

    python -m benchmarks.backbone_valid --data ~/nlp-apps-runs/backbone-v3/data --model v2=backbone-v2 --model v3=default
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.lib.results import store_row
from nlp_apps.data.token_files import open_token_file
from nlp_apps.io.checkpoint import load_language_model, resolve_model_dir
from nlp_apps.models.lm import score_tokens

NOTES = ("Token perplexity on a pretraining run's validation token files (the run's own evaluation), every model in one run; "
         "models must share the run's tokenizer. Target (Backbone v3): at least 30% below v2 on IMDB, blogs and Wikipedia, "
         "forward and backward.")
BATCH, BPTT = 16, 70  # as the pretraining run evaluated (eval batch 16, BPTT max(70, 64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a pretraining run's data directory (valid.<corpus>.tokens, tokenizer.model)")
    parser.add_argument("--model", action="append", required=True, metavar="LABEL=MODEL", help="a shipped name or model directory (repeatable)")
    args = parser.parse_args()
    data = Path(args.data).expanduser()
    sets = sorted(data.glob("valid.*.tokens"))
    if not sets:
        parser.error(f"--data {data}: no valid.<corpus>.tokens files")
    run_tokenizer = (data / "tokenizer.model").read_bytes()
    rows = []
    for label, _, name in (m.partition("=") for m in args.model):
        directory = resolve_model_dir(name)
        if not (directory / "tokenizer.model").is_file() or (directory / "tokenizer.model").read_bytes() != run_tokenizer:
            raise SystemExit(f"error: {name}: not the run's tokenizer ({data / 'tokenizer.model'}): token perplexities would not compare")
        model, _, _ = load_language_model(directory)
        started = time.perf_counter()
        row = {"model": label, "source": name, "data": str(data)}
        for path in sets:
            corpus = path.name.split(".")[1]
            tokens, stats = open_token_file(path)
            for direction in model.config.directions:
                scored = score_tokens(model, np.asarray(tokens), stats.words, batch_size=BATCH, bptt=BPTT, direction=direction)
                row[f"{corpus}_{'fwd' if direction == 'forward' else 'bwd'}_ppl"] = round(scored.token_perplexity, 2)
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(row, flush=True)
    base = rows[0]
    for row in rows[1:]:
        row["change_vs_first"] = {key: f"{100 * (row[key] / base[key] - 1):+.1f}%" for key in row if key.endswith("_ppl") and key in base}
    store_row("backbone_valid", rows, notes=NOTES, key=lambda r: (r["model"], r["data"]))


if __name__ == "__main__":
    main()
