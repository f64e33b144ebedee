"""PTB word-level language modelling, side by side: test perplexity and tokens/s after the same budget.

Rows, one after another in one run (both cores, nothing else running, for the figures to compare):
  defaults  `nlp-apps pretrain --tokenizer word` with nothing else but the files and --time-budget: the model,
            batch, optimizer, rate and dropouts the run picks for this corpus and budget
            (nlp_apps/training/model_size.py); its best model by validation scored on ptb.test.txt
  ours      our best PTB recipe through the public API (the code path of `nlp-apps pretrain --tokenizer
            word`): LSTM 2x512 tied with AWD dropouts, SGD lr 20 + cosine, batch 20x35; validated each
            epoch, the best model scored on ptb.test.txt
  baseline  the plain PyTorch LSTM LM of benchmarks/lib/baseline_pytorch_lm.py at pytorch/examples'
            published settings (200/200 tied, SGD lr 20 divided by 4 when validation stops improving,
            batch 20x35, dropout 0.2); its best model by validation scored on the test set

    python -m benchmarks.ptb [--minutes 45] [--only defaults,ours,baseline] [--out runs/bench-ptb]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks.lib.baseline_pytorch_lm import batchify, evaluate, train_for
from benchmarks.lib.flops import lm_macs_per_token, train_flops_per_token
from benchmarks.lib.results import load_average, shared_data, store_row
from nlp_apps.data.token_files import encode_corpus_in_memory
from nlp_apps.data.tokenizer import WordTokenizer
from nlp_apps.io.checkpoint import load_language_model
from nlp_apps.models.backbone import BackboneConfig
from nlp_apps.models.lm import score_tokens
from nlp_apps.training.pretraining import PretrainConfig, pretrain
from nlp_apps.training.trainer import TrainerConfig, seed_everything

ROWS = ["defaults", "ours", "baseline"]
NOTES = ("PTB word level (10k vocabulary plus </s>), test perplexity of the best model by validation, the same budget each, "
         "one after another in one run. Target: ours lower perplexity and higher tokens/s than the baseline. "
         "load = 1-minute load average at the start and end of the row (about 1 per busy core).")
ARCH = BackboneConfig(cell="lstm", num_layers=2, emb_size=512, hidden_size=512, tie_weights=True,
                      embed_dropout=0.05, input_dropout=0.4, hidden_dropout=0.3, output_dropout=0.4, weight_dropout=0.15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--only", default="defaults,baseline", help="comma-separated rows: defaults, ours, baseline")
    parser.add_argument("--out", default="runs/bench-ptb")
    args = parser.parse_args()
    rows = args.only.split(",")
    if unknown := set(rows) - set(ROWS):
        parser.error(f"--only: unknown row(s) {', '.join(sorted(unknown))} (choose from {', '.join(ROWS)})")
    ptb = shared_data("ptb")
    measured = {}
    if "defaults" in rows:
        measured["defaults"] = run_defaults(ptb, args.minutes, args.out + "-defaults")
    if "ours" in rows:
        measured["ours"] = run_ours(ptb, args.minutes, args.out)
    if "baseline" in rows:
        measured["baseline"] = run_baseline(ptb, args.minutes)
    notes = NOTES
    if "baseline" in measured and len(measured) == 2:
        ours, base = next(row for name, row in measured.items() if name != "baseline"), measured["baseline"]
        notes += (f" This run: {ours['row']}/baseline {ours['tokens_per_s'] / base['tokens_per_s']:.2f}x tokens/s, "
                  f"{ours['train_gflops_per_s'] / base['train_gflops_per_s']:.2f}x training GFLOP/s, "
                  f"test ppl {ours['test_ppl']:.1f} against {base['test_ppl']:.1f}.")
    for row in measured.values():
        store_row("ptb", row, ROWS, notes)


def run_defaults(ptb: Path, minutes: float, out: str) -> dict:
    """`nlp-apps pretrain` as a user runs it on PTB: the files, a word vocabulary of PTB's size and the budget, nothing else."""
    load_start = load_average()
    command = [sys.executable, "-m", "nlp_apps.cli", "pretrain", "--train", str(ptb / "ptb.train.txt"), "--valid", str(ptb / "ptb.valid.txt"),
               "--tokenizer", "word", "--vocab-size", "10004", "--time-budget", f"{minutes:g}m", "--out", out, "--overwrite",
               "--no-progress", "--seed", "0", "--json"]
    report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    run = json.loads((Path(out) / "run_config.json").read_text())
    backbone = BackboneConfig.from_dict(run["backbone"])
    row = score_run(ptb, out, backbone, load_start)
    return {"row": "defaults", "model": run["size_note"], "budget_minutes": minutes, **row, "valid_ppl": report["metrics"].get("word_ppl")}


def score_run(ptb: Path, out: str, backbone: BackboneConfig, load_start: float) -> dict:
    """Test perplexity of a pretraining run's best model, its epochs, tokens/s and achieved training GFLOP/s."""
    model, tokenizer, _ = load_language_model(out)
    tokens, words = encode_corpus_in_memory(ptb / "ptb.test.txt", tokenizer)
    test = score_tokens(model, tokens, words, batch_size=1)
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    train_tokens = len(encode_corpus_in_memory(ptb / "ptb.train.txt", tokenizer)[0])
    return {"epochs": round(metrics["tok_per_s"] * metrics["train_seconds"] / train_tokens, 2), "test_ppl": test.word_perplexity,
            "tokens_per_s": metrics["tok_per_s"], "threads": torch.get_num_threads(),
            "train_gflops_per_s": achieved_gflops(metrics["tok_per_s"], backbone.layer_sizes(), backbone.output_size, tokenizer.vocab_size),
            "load_start": load_start, "load_end": load_average()}


def run_ours(ptb: Path, minutes: float, out: str) -> dict:
    run = PretrainConfig(
        train=str(ptb / "ptb.train.txt"),
        valid=str(ptb / "ptb.valid.txt"),
        tokenizer="word",
        vocab_size=10_004,  # PTB's 10k words (its <unk> maps to ours) plus our specials
        batch_size=20,
        bptt=35,
        backbone=ARCH,
        trainer=TrainerConfig(epochs=1000, time_budget=minutes * 60, optimizer="sgd", lr=20.0, clip=0.25,
                              schedule="cosine", patience=None, progress=False, seed=0),
    )
    load_start = load_average()
    result = pretrain(run, out, overwrite=True)
    return {"row": "ours", "model": "LSTM 2x512 tied, AWD dropouts, SGD lr 20 + cosine, batch 20x35", "budget_minutes": minutes,
            **score_run(ptb, out, ARCH, load_start), "valid_ppl": result.metrics.get("word_ppl")}


def run_baseline(ptb: Path, minutes: float) -> dict:
    tokenizer = WordTokenizer.train(ptb / "ptb.train.txt", vocab_size=10_004)
    ids = {split: torch.from_numpy(encode_corpus_in_memory(ptb / f"ptb.{split}.txt", tokenizer)[0]) for split in ("train", "valid", "test")}
    load_start = load_average()
    seed_everything(0)
    result = train_for(ids["train"], ids["valid"], tokenizer.vocab_size, minutes * 60)
    return {
        "row": "baseline", "model": "plain PyTorch LSTM 200/200 tied, SGD lr 20 (/4 on a plateau), batch 20x35, dropout 0.2",
        "budget_minutes": minutes, "epochs": round(result["tokens"] / len(ids["train"]), 2),
        "valid_ppl": result["best_valid_ppl"], "test_ppl": evaluate(result["best_model"], batchify(ids["test"], 10)),
        "tokens_per_s": round(result["tokens"] / result["train_seconds"], 1), "threads": torch.get_num_threads(),
        "train_gflops_per_s": achieved_gflops(result["tokens"] / result["train_seconds"], [(200, 200), (200, 200)], 200, tokenizer.vocab_size),
        "load_start": load_start, "load_end": load_average(),
    }


def achieved_gflops(tokens_per_s: float, layer_sizes, output_size: int, vocab: int) -> float:
    """Training FLOP/s the row achieved: models of different sizes compare by this, not by tokens/s."""
    macs = lm_macs_per_token("lstm", layer_sizes, output_size, vocab)
    return round(tokens_per_s * train_flops_per_token(macs) / 1e9, 1)


if __name__ == "__main__":
    main()
