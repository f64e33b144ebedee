"""PTB word-level language modelling: test perplexity after a fixed training budget.

Trains through the public API (the same code path as `nlp-apps pretrain --tokenizer word`),
validates each epoch, keeps the best model and scores it on ptb.test.txt.

    python -m benchmarks.ptb [--minutes 45] [--out runs/bench-ptb]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from benchmarks.results import report, shared_data
from nlp_apps.data.token_files import encode_corpus_in_memory
from nlp_apps.io.checkpoint import load_language_model
from nlp_apps.models.backbone import BackboneConfig
from nlp_apps.models.lm import score_tokens
from nlp_apps.training.pretraining import PretrainConfig, pretrain
from nlp_apps.training.trainer import TrainerConfig

ARCH = BackboneConfig(cell="lstm", num_layers=2, emb_size=512, hidden_size=512, tie_weights=True,
                      embed_dropout=0.05, input_dropout=0.4, hidden_dropout=0.3, output_dropout=0.4, weight_dropout=0.15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--out", default="runs/bench-ptb")
    args = parser.parse_args()
    ptb = shared_data("ptb")
    run = PretrainConfig(
        train=str(ptb / "ptb.train.txt"),
        valid=str(ptb / "ptb.valid.txt"),
        tokenizer="word",
        vocab_size=10_004,  # PTB's 10k words (its <unk> maps to ours) plus our specials
        batch_size=20,
        bptt=35,
        backbone=ARCH,
        trainer=TrainerConfig(epochs=1000, time_budget=args.minutes * 60, optimizer="sgd", lr=20.0, clip=0.25,
                              schedule="cosine", patience=None, progress=False, seed=0),
    )
    result = pretrain(run, args.out, overwrite=True)
    model, tokenizer, _ = load_language_model(args.out)
    tokens, words = encode_corpus_in_memory(ptb / "ptb.test.txt", tokenizer)
    test = score_tokens(model, tokens, words, batch_size=1)
    metrics = json.loads((Path(args.out) / "metrics.json").read_text())
    report("ptb", [{
        "model": "LSTM 2x512 tied, AWD dropouts, SGD lr 20 + cosine, batch 20x35",
        "budget_minutes": args.minutes,
        "epochs": metrics["epochs_completed"],
        "valid_ppl": result.metrics.get("word_ppl"),
        "test_ppl": test.word_perplexity,
        "tokens_per_s": metrics["tok_per_s"],
        "threads": torch.get_num_threads(),
        "notes": "PTB target: test perplexity <= 80 after 45 minutes on 2 CPU cores.",
    }])


if __name__ == "__main__":
    main()
