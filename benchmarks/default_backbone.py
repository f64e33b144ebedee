"""A shipped backbone on the held-out Gutenberg test books: perplexity in both directions.

    python -m benchmarks.default_backbone [--model default|gutenberg-v1|DIR]

Rows of other models are kept, so the current default and the earlier one sit side by side.
"""

from __future__ import annotations

import argparse
import json

from benchmarks.lib.results import shared_data, store_row
from nlp_apps.data.token_files import encode_corpus_in_memory
from nlp_apps.io.checkpoint import load_language_model, resolve_model_dir
from nlp_apps.models.lm import score_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="a shipped backbone's name or a model directory [default]")
    args = parser.parse_args()
    test = shared_data("gutenberg-260", "test.txt")
    model_dir = resolve_model_dir(args.model)
    model, tokenizer, _ = load_language_model(model_dir)
    tokens, words = encode_corpus_in_memory(test, tokenizer)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    rows = []
    for direction in model.config.directions:
        result = score_tokens(model, tokens, words, batch_size=16, direction=direction)
        rows.append({
            "model": args.model,
            "direction": direction,
            "test_token_ppl": result.token_perplexity,
            "test_word_ppl": result.word_perplexity,
            "test_tokens": result.tokens,
            "params_millions": round(manifest["parameters"] / 1e6, 2),
            "train_minutes": round(manifest["wall_time_s"] / 60, 1),
            "train_peak_rss_mb": manifest["peak_rss_mb"],
        })
    notes = ("gutenberg-260 test.txt (5 held-out books). Word-level perplexity = "
             "exp(total NLL / (whitespace words + lines)). Peak RSS is that of the model's pretraining run.")
    # This model's rows replace its stored ones and go last; other models' rows are kept.
    store_row("default_backbone", rows, notes=notes, key=lambda r: r.get("model"), last=True)


if __name__ == "__main__":
    main()
