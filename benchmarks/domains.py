"""Per-domain perplexity of language models, word level (so different tokenizers compare), in one run.

Test sets (evaluation only; never trained on): blogs, Wikipedia, IMDB reviews (one long line each),
Gutenberg as the books wrap their lines and Gutenberg reflowed into paragraphs. Each set is cut to
about --words words (whole lines). Word perplexity = exp(total NLL / (words + lines)), forward LM
(and backward where the model has one).

    python -m benchmarks.domains --model earlier=nlp_apps/pretrained/gutenberg-v1 --model new=default
Data: $NLP_APPS_DATA (default ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from benchmarks.lib.results import shared_data, store_row
from nlp_apps.data.corpora import iter_documents
from nlp_apps.data.token_files import encode_text
from nlp_apps.io.checkpoint import load_language_model, resolve_model_dir
from nlp_apps.models.lm import score_tokens

NOTES = ("Word-level perplexity (exp of total NLL over whitespace words + line ends) on each domain's test text, one run; "
         "forward LM (backward in the _bwd columns). imdb_long_lines: IMDB test reviews, one review per line.")


def domain_texts(words: int) -> dict[str, str]:
    """{domain: text with one document per line}, each about `words` words."""
    imdb = shared_data("imdb", "test.jsonl")
    reviews = (" ".join(json.loads(line)["text"].split()) for line in imdb.read_text(encoding="utf-8").splitlines())
    sources = {
        "blogs": iter_documents(shared_data("blogs", "test.txt")),
        "wikipedia": iter_documents(shared_data("wikipedia-2018-part", "test.txt")),
        "imdb_long_lines": reviews,
        "gutenberg_wrapped": iter_documents(shared_data("gutenberg-260", "test.txt")),
        "gutenberg_paragraphs": iter_documents(shared_data("gutenberg-260", "test.txt"), paragraphs=True),
    }
    texts = {}
    for name, documents in sources.items():
        kept, count = [], 0
        for document in documents:
            if count >= words:
                break
            kept.append(document)
            count += len(document.split())
        texts[name] = "\n".join(kept) + "\n"
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH (or NAME=default); repeat")
    parser.add_argument("--words", type=int, default=30_000, help="words per domain")
    args = parser.parse_args()
    texts = domain_texts(args.words)
    rows = []
    for spec in args.model:
        name, _, path = spec.partition("=")
        model, tokenizer, _ = load_language_model(resolve_model_dir(path or name))
        started = time.perf_counter()
        row = {"model": name, "path": str(resolve_model_dir(path or name))}
        for domain, text in texts.items():
            tokens, words = encode_text(text, tokenizer)
            for direction in model.config.directions:
                scored = score_tokens(model, tokens, words, direction=direction)
                suffix = "" if direction == "forward" else "_bwd"
                row[f"{domain}{suffix}"] = round(scored.word_perplexity, 1)
        row.update(threads=torch.get_num_threads(), seconds=round(time.perf_counter() - started))
        rows.append(row)
    store_row("domains", rows, notes=NOTES, key=lambda r: r["model"])  # a stored model's row is replaced in place


if __name__ == "__main__":
    main()
