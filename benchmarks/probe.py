"""Linear probe: how well frozen backbone features separate sentiment, beside TF-IDF on the same phrases.

A fixed split: 4,000 phrases drawn (seed 0) from SST-2 train for training, SST-2 dev (872 sentences)
for scoring. Features: concat pooling [last, max, mean] of every layer's outputs over the real tokens,
both reading directions, standardised; scikit-learn logistic regression. TF-IDF + logistic
regression on the same 4,000 phrases is the row to beat (Backbone v3's target: probe >= TF-IDF).

    python -m benchmarks.probe --model default [--model gutenberg-v1] [--model ~/nlp-apps-runs/backbone-v3]
    python -m benchmarks.probe --watch ~/nlp-apps-runs/backbone-v3 [--hours 12]   # while it pretrains

--watch probes the run's best model each time it changes (each evaluation that improved it) and
appends a JSON line per probe to DIR/probe.jsonl; it stops after --hours or when the run's
metrics.json says it ended.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.lib.results import shared_data, store_row
from nlp_apps.data.batching import pad_sequences
from nlp_apps.io.checkpoint import load_backbone, load_model_tokenizer, resolve_model_dir
from tasks.sentiment.adapter import read_dataset

TRAIN_PHRASES, SEED = 4000, 0
NOTES = ("Linear probe on frozen backbone features (concat pooling of every layer, both directions; logistic regression) "
         "trained on 4,000 SST-2 train phrases (seed 0), scored on SST-2 dev; tfidf: TF-IDF + logistic regression on the same "
         "phrases. Target (Backbone v3): probe >= tfidf.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="a model directory or shipped name (repeatable)")
    parser.add_argument("--watch", help="a pretraining run directory to probe at each new best model")
    parser.add_argument("--hours", type=float, default=12.0)
    args = parser.parse_args()
    if not args.model and not args.watch:
        parser.error("give --model (repeatable) or --watch DIR")
    split = fixed_split()
    if args.watch:
        watch(Path(args.watch).expanduser(), split, args.hours)
        return
    tfidf_first = lambda row: row["row"] != "tfidf"  # tfidf first, then the stored order
    store_row("probe", {"row": "tfidf", "dev_accuracy": tfidf_accuracy(split)}, tfidf_first, NOTES)
    for model in args.model:
        store_row("probe", {"row": model, **probe(model, split)}, tfidf_first, NOTES)


def fixed_split() -> dict:
    train = read_dataset(shared_data("sst2", "train.tsv"))
    dev = read_dataset(shared_data("sst2", "dev.tsv"))
    chosen = random.Random(SEED).sample(train, TRAIN_PHRASES)
    return {"train": ([e.text for e in chosen], [e.label for e in chosen]), "dev": ([e.text for e in dev], [e.label for e in dev])}


def tfidf_accuracy(split: dict) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    classifier = LogisticRegression(max_iter=2000, C=4.0).fit(vectorizer.fit_transform(split["train"][0]), split["train"][1])
    return round(100 * classifier.score(vectorizer.transform(split["dev"][0]), split["dev"][1]), 2)


def probe(model: str, split: dict) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    path = resolve_model_dir(model)
    backbone, tokenizer = load_backbone(path).eval(), load_model_tokenizer(path)
    started = time.perf_counter()
    train_x, dev_x = features(backbone, tokenizer, split["train"][0]), features(backbone, tokenizer, split["dev"][0])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1)).fit(train_x, split["train"][1])
    return {"dev_accuracy": round(100 * classifier.score(dev_x, split["dev"][1]), 2), "features": train_x.shape[1],
            "seconds": round(time.perf_counter() - started, 1)}


@torch.no_grad()
def features(backbone, tokenizer, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(N, F): [last, max, mean] of every layer's outputs, every direction, per text."""
    ids = [i or [0] for i in tokenizer.encode_batch(texts)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    rows = [None] * len(ids)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        tokens, lengths = pad_sequences([ids[i] for i in batch])
        outputs = backbone.encode(tokens, lengths, final_state=False)
        real = (torch.arange(tokens.size(1)) < lengths.unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
        pooled = []
        for direction, out in outputs.items():
            for layer in out.layer_outputs:  # (B, T, H)
                layer = layer.float()
                last_index = (lengths - 1) if direction == "forward" else torch.zeros_like(lengths)
                last = layer[torch.arange(len(batch)), last_index]
                pooled += [last, layer.masked_fill(~real, float("-inf")).amax(1), (layer * real).sum(1) / lengths.unsqueeze(1)]
        for row, index in zip(torch.cat(pooled, dim=1), batch):
            rows[index] = row.numpy()
    return np.stack(rows)


def watch(run: Path, split: dict, hours: float) -> None:
    """Probe the run's best model whenever it changes; a JSON line per probe in RUN/probe.jsonl."""
    deadline, seen, tfidf = time.monotonic() + hours * 3600, None, tfidf_accuracy(split)
    while time.monotonic() < deadline:
        weights = run / "model.safetensors"
        stamp = weights.stat().st_mtime if weights.is_file() else None
        if stamp is not None and stamp != seen:
            time.sleep(5)  # let the save finish (it is atomic, but config and weights are two files)
            seen = stamp
            metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
            row = {"time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "tfidf": tfidf, **probe(str(run), split)}
            log = run / "probe.jsonl"
            with log.open("a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
            if metrics.get("status") not in (None, "interrupted"):
                return
        time.sleep(60)


if __name__ == "__main__":
    main()
