"""The shipped default backbone on the held-out Gutenberg test books: perplexity in both directions.

    python -m benchmarks.default_backbone
"""

from __future__ import annotations

import json

from benchmarks.results import report, shared_data
from nlp_apps.data.token_files import encode_corpus_in_memory
from nlp_apps.io.checkpoint import DEFAULT_MODEL_DIR, load_language_model
from nlp_apps.models.lm import score_tokens


def main() -> None:
    test = shared_data("gutenberg-260", "test.txt")
    model, tokenizer, _ = load_language_model(DEFAULT_MODEL_DIR)
    tokens, words = encode_corpus_in_memory(test, tokenizer)
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    rows = []
    for direction in model.config.directions:
        result = score_tokens(model, tokens, words, batch_size=16, direction=direction)
        rows.append({
            "direction": direction,
            "test_token_ppl": result.token_perplexity,
            "test_word_ppl": result.word_perplexity,
            "test_tokens": result.tokens,
            "params_millions": round(manifest["parameters"] / 1e6, 2),
            "train_minutes": round(manifest["wall_time_s"] / 60, 1),
            "train_peak_rss_mb": manifest["peak_rss_mb"],
        })
    rows[-1]["notes"] = ("Default backbone: gutenberg-260 test.txt (5 held-out books). Word-level perplexity = "
                         "exp(total NLL / (whitespace words + lines)). Peak RSS is that of the pretraining run on the 100 MB corpus.")
    report("default_backbone", rows)


if __name__ == "__main__":
    main()
