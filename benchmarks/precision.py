"""fp32 against `--precision auto` (and forced bf16), side by side in one run, on the default backbone's shape.

Rows, one after another (run it alone: both cores, nothing else):
  pretrain_<p>     pretraining on PTB train (word level, the shipped backbone's shape 256/512, forward
                   LM) for --minutes each: training tokens/s, validation perplexity at equal wall time
  pretrain_bf16_same_steps   forced bf16 for exactly the steps fp32 made: validation perplexity at equal
                   steps (the quality of bf16, whatever its speed)
  score_<p>        perplexity of PTB valid with the shipped default LM: tokens/s and perplexity

Each row records the precision `auto` chose on this machine and why, and the machine fingerprint
(benchmarks/lib/fingerprint.py): compare rows only within one run.

    python -m benchmarks.precision [--minutes 5] [--only pretrain,score] [--out runs/bench-precision]

Side by side at once, one thread and one core each (benchmarks/precision_pairs.sh does this): run
`--only pretrain_fp32` and `--only pretrain_auto` in two processes under `taskset`, then
`--only pretrain_bf16_same_steps`, which matches the stored fp32 row's steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks.lib.fingerprint import machine_fingerprint
from benchmarks.lib.results import RESULTS_DIR, load_average, shared_data, store_row
from nlp_apps.data.token_files import encode_corpus_in_memory
from nlp_apps.io.checkpoint import load_language_model
from nlp_apps.models.backbone import BackboneConfig
from nlp_apps.models.lm import score_tokens
from nlp_apps.precision import autocast, resolve_precision
from nlp_apps.training.pretraining import PretrainConfig, pretrain
from nlp_apps.training.trainer import TrainerConfig

ROWS = ["pretrain_fp32", "pretrain_auto", "pretrain_bf16", "pretrain_bf16_same_steps", "score_fp32", "score_auto", "score_bf16"]
NOTES = ("fp32 against --precision auto and forced bf16, one after another in one run. pretrain_*: PTB train, word level, "
         "the shipped backbone's shape (LSTM 256/512, tied), AdamW 3e-3 cosine, batch 32x70, the same budget each (validation every "
         "200 steps since 2026-12-06, so the rows show their curves in OUT/ROW/log.csv); "
         "pretrain_bf16_same_steps: bf16 for exactly fp32's steps (quality at equal steps). score_*: the shipped default LM "
         "scoring PTB valid. chosen: what auto picked here, and why. Targets: with AMX >= 3x tokens/s and equal or better "
         "perplexity at equal time; without AMX auto picks fp32 and costs < 2%.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--only", default="pretrain,score",
                        help="comma-separated: pretrain, score (groups) or row names, e.g. pretrain_fp32 (for running rows side by side)")
    parser.add_argument("--beside", help="what ran at the same time as these rows (recorded in them), e.g. 'pretrain_auto on the other core'")
    parser.add_argument("--out", default="runs/bench-precision")
    args = parser.parse_args()
    machine_fingerprint()  # measured before the first row
    ptb = shared_data("ptb")
    wanted = []
    for name in args.only.split(","):
        group = {"pretrain": [r for r in ROWS if r.startswith("pretrain_")], "score": [r for r in ROWS if r.startswith("score_")]}
        if name not in ROWS and name not in group:
            parser.error(f"--only: unknown row or group {name!r} (rows: {', '.join(ROWS)})")
        wanted += group.get(name, [name])
    rows = []
    for name in wanted:
        if name == "pretrain_bf16_same_steps":
            steps = next((r["steps"] for r in rows if r["row"] == "pretrain_fp32"), None) or stored_fp32_steps(args.minutes)
            rows.append(run_pretrain(ptb, "bf16", None, steps, args.out) | {"steps_of_budget": args.minutes})
        elif name.startswith("pretrain_"):
            rows.append(run_pretrain(ptb, name.removeprefix("pretrain_"), args.minutes, None, args.out))
        else:
            rows.append(run_score(ptb, name.removeprefix("score_")))
        if args.beside:
            rows[-1]["beside"] = args.beside
        store_row("precision", rows[-1], ROWS, NOTES, key=row_key)


def row_key(row: dict) -> tuple:
    """Rows are told apart by name, budget, threads and (for the equal-steps row) the budget whose steps it matched."""
    return row["row"], row.get("budget_minutes"), row.get("threads"), row.get("steps_of_budget")


def stored_fp32_steps(minutes: float) -> int:
    """The steps of the stored pretrain_fp32 row of this budget and thread count (when it ran in another process)."""
    stored = json.loads((RESULTS_DIR / "precision.json").read_text()) if (RESULTS_DIR / "precision.json").exists() else []
    for row in stored:
        if row["row"] == "pretrain_fp32" and row.get("budget_minutes") == minutes and row.get("threads") == torch.get_num_threads():
            return row["steps"]
    sys.exit(f"error: no stored pretrain_fp32 row of {minutes:g} minutes on {torch.get_num_threads()} threads to match the steps of")


def run_pretrain(ptb: Path, precision: str, minutes: float | None, steps: int | None, out: str) -> dict:
    name = f"pretrain_{precision}" if steps is None else "pretrain_bf16_same_steps"
    shape = BackboneConfig(vocab_size=10_004, emb_size=256, hidden_size=512, num_layers=2)
    run = PretrainConfig(
        train=str(ptb / "ptb.train.txt"), valid=str(ptb / "ptb.valid.txt"), tokenizer="word", vocab_size=10_004,
        batch_size=32, bptt=70, backbone=shape,
        trainer=TrainerConfig(epochs=1000, time_budget=minutes * 60 if minutes else None, max_steps=steps, patience=None,
                              precision=precision, progress=False, seed=0, eval_every=200, log_every=50),
    )
    load_start = load_average()
    result = pretrain(run, Path(out) / name, overwrite=True)
    metrics = json.loads((Path(out) / name / "metrics.json").read_text())
    return {"row": name, "budget_minutes": minutes, "steps": result.steps, "chosen": metrics["precision"],
            "why": metrics["precision_reason"], "tokens_per_s": metrics["tok_per_s"], "valid_ppl": result.metrics.get("word_ppl"),
            "threads": torch.get_num_threads(), "load_start": load_start, "load_end": load_average()}


def run_score(ptb: Path, precision: str) -> dict:
    model, tokenizer, _ = load_language_model(None)
    model.eval()
    choice = resolve_precision(precision, model, "cpu", mode="infer")
    tokens, words = encode_corpus_in_memory(ptb / "ptb.valid.txt", tokenizer)
    load_start = load_average()
    start = time.perf_counter()
    with autocast(choice.precision, "cpu"):
        scored = score_tokens(model, tokens, words)
    seconds = time.perf_counter() - start
    return {"row": f"score_{precision}", "chosen": choice.precision, "why": choice.reason,
            "tokens_per_s": round(len(tokens) / seconds, 1), "token_ppl": round(scored.token_perplexity, 3),
            "threads": torch.get_num_threads(), "load_start": load_start, "load_end": load_average()}


if __name__ == "__main__":
    main()
