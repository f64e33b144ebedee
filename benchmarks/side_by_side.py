"""Four language models on PTB, one after another in one run, the same minutes each:

  a) ours, the `nlp-apps pretrain` defaults (AdamW + cosine, locked dropout, variable BPTT, batch
     32x70) at the baseline's size: LSTM 2x200 tied
  b) a plain PyTorch LSTM LM in the style of pytorch/examples (benchmarks/lib/baseline_pytorch_lm.py)
  c) the seed's Keras recipe (benchmarks/lib/keras_seed.py; skipped if keras is not installed)
  d) the seed's architecture through our toolkit: cell rnn, 128/128, untied, word vocabulary 10k
  e) ours with b)'s recipe (SGD lr 20, batch 20x35, dropout 0.2): the implementations side by side
  f) ours, the `nlp-apps pretrain` defaults at the default size (LSTM 2 layers, 256/768 tied):
     the configuration the fp32-efficiency target is about

For each: predicted tokens/s (training only), validation perplexity reached, and achieved FLOP/s
divided by the fp32 matmul FLOP/s measured in the same run (before and after the races).
With --skip, the stored rows of the skipped letters are kept (each row records its own run).

    python -m benchmarks.side_by_side [--minutes 10] [--skip c,f]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.lib.baseline_pytorch_lm import train_for
from benchmarks.lib.flops import lm_macs_per_token, matmul_ceiling_gflops, train_flops_per_token
from benchmarks.lib.results import ROOT, shared_data, store_row
from nlp_apps.data.token_files import encode_corpus_in_memory
from nlp_apps.data.tokenizer import WordTokenizer
from nlp_apps.models.backbone import BackboneConfig
from nlp_apps.models.lm import RNNLanguageModel, score_tokens
from nlp_apps.training.pretraining import LanguageModelingTask, PretrainConfig
from nlp_apps.training.trainer import Trainer, TrainerConfig, seed_everything

PRETRAIN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(PretrainConfig)}

OURS_DEFAULT = dict(cell="lstm", num_layers=2, emb_size=200, hidden_size=200, tie_weights=True)  # other fields: defaults
OURS_DEFAULT_SIZE = {}  # every BackboneConfig field at its default
DEFAULT_RECIPE = dict(batch_size=PRETRAIN_DEFAULTS["batch_size"], bptt=PRETRAIN_DEFAULTS["bptt"],
                      optimizer=TrainerConfig.optimizer, lr=TrainerConfig.lr)
OURS_AS_BASELINE = dict(OURS_DEFAULT, input_dropout=0.2, hidden_dropout=0.2, output_dropout=0.2)
OURS_SEED = dict(cell="rnn", activation="tanh", num_layers=1, emb_size=128, hidden_size=128, tie_weights=False,
                 input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0)


def run_ours(name, arch, recipe, train_ids, valid_ids, valid_words, vocab, seconds, out_dir):
    seed_everything(0)
    config = BackboneConfig(vocab_size=vocab, **arch)
    model = RNNLanguageModel(config)
    task = LanguageModelingTask(model, None, train_ids, [("valid", valid_ids, valid_words)], batch_size=recipe["batch_size"],
                                bptt=recipe["bptt"], variable_length=recipe.get("variable_length", True), seed=0)
    task.save = lambda directory, exact=False: None  # only speed and perplexity matter here
    trainer = Trainer(task, TrainerConfig(epochs=1000, time_budget=seconds, lr=recipe["lr"], optimizer=recipe["optimizer"],
                                          clip=0.25, patience=None, eval_every=10**9, progress=False), out_dir)
    result = trainer.fit()
    train_seconds = result_seconds(out_dir)
    valid = score_tokens(model, valid_ids, valid_words, batch_size=16)
    macs = lm_macs_per_token(config.cell, config.layer_sizes(), config.output_size, vocab)
    return {"model": name, "tokens_per_s": trainer.units / train_seconds, "valid_ppl": valid.word_perplexity,
            "flops_per_token": train_flops_per_token(macs), "steps": result.steps}


def result_seconds(out_dir: Path) -> float:
    metrics = json.loads((out_dir / "metrics.json").read_text())
    return metrics["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--skip", default="", help="comma-separated letters to skip, e.g. c")
    args = parser.parse_args()
    seconds, skip = args.minutes * 60, set(args.skip.split(","))
    ptb = shared_data("ptb")
    tokenizer = WordTokenizer.train(ptb / "ptb.train.txt", vocab_size=10_004)
    train_ids, _ = encode_corpus_in_memory(ptb / "ptb.train.txt", tokenizer)
    valid_ids, valid_words = encode_corpus_in_memory(ptb / "ptb.valid.txt", tokenizer)
    vocab = tokenizer.vocab_size
    ceiling_before = matmul_ceiling_gflops()
    print(f"fp32 matmul ceiling: {ceiling_before:.1f} GFLOP/s ({torch.get_num_threads()} threads)", file=sys.stderr)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="side_by_side_"))
    if "a" not in skip:
        rows.append(run_ours("a) nlp-apps pretrain defaults at 2x200 tied: AdamW 3e-3 + cosine, locked dropout 0.1, variable BPTT, batch 32x70",
                             OURS_DEFAULT, DEFAULT_RECIPE, train_ids, valid_ids, valid_words, vocab, seconds, work / "a"))
    if "b" not in skip:
        seed_everything(0)
        baseline = train_for(torch.from_numpy(train_ids), torch.from_numpy(valid_ids), vocab, seconds)
        macs = lm_macs_per_token("lstm", [(200, 200), (200, 200)], 200, vocab)
        rows.append({"model": "b) plain PyTorch LSTM 200/200 tied, SGD lr 20, batch 20x35",
                     "tokens_per_s": baseline["tokens"] / baseline["train_seconds"], "valid_ppl": baseline["valid_ppl"],
                     "flops_per_token": train_flops_per_token(macs)})
    if "c" not in skip:
        rows.append(run_keras(train_ids, valid_ids, vocab, seconds, work))
    if "d" not in skip:
        rows.append(run_ours("d) seed architecture via nlp-apps: rnn tanh 128/128 untied, Adam 3e-3 + cosine, batch 64x35", OURS_SEED,
                             dict(batch_size=64, bptt=35, optimizer="adamw", lr=3e-3), train_ids, valid_ids, valid_words, vocab, seconds, work / "d"))
    if "e" not in skip:
        rows.append(run_ours("e) nlp-apps with b)'s recipe: LSTM 2x200 tied, SGD lr 20 + cosine, locked dropout 0.2, fixed BPTT 35, batch 20",
                             OURS_AS_BASELINE, dict(batch_size=20, bptt=35, optimizer="sgd", lr=20.0, variable_length=False),
                             train_ids, valid_ids, valid_words, vocab, seconds, work / "e"))
    if "f" not in skip:
        rows.append(run_ours("f) nlp-apps pretrain defaults at the default size: LSTM 2 layers 256/768 tied, AdamW 3e-3 + cosine, batch 32x70",
                             OURS_DEFAULT_SIZE, DEFAULT_RECIPE, train_ids, valid_ids, valid_words, vocab, seconds, work / "f"))
    ceiling_after = matmul_ceiling_gflops()
    ceiling = max(ceiling_before, ceiling_after)
    for row in rows:
        if row.get("flops_per_token") and row.get("tokens_per_s"):
            row["fraction_of_fp32_matmul"] = row["tokens_per_s"] * row["flops_per_token"] / (ceiling * 1e9)
        row["precision"] = "fp32"
        row["minutes"] = args.minutes
        row["threads"] = torch.get_num_threads()
        row["ceiling_gflops"] = round(ceiling, 1)
    if rows:
        rows[-1]["notes"] = " ".join(filter(None, [rows[-1].get("notes"), summary(rows)]))
        # This run's rows replace the stored ones of their letters; the skipped letters keep an earlier run's rows
        # (each row keeps its own notes).
        store_row("side_by_side", rows, order=lambda row: row["model"], key=lambda row: row["model"][0])


def summary(rows: list[dict]) -> str:
    """The ratios the targets are about, from this run's rows."""
    by_letter = {row["model"][0]: row for row in rows if row.get("tokens_per_s")}
    parts = []
    if "b" in by_letter:
        parts.append("a), d), e) and f) use nlp-apps' fused chunked softmax loss; b) is plain PyTorch (F.cross_entropy); "
                     "c) counts one prediction per 100-token window.")
    for ours in ("a", "e"):
        if ours in by_letter and "b" in by_letter:
            a, b = by_letter[ours], by_letter["b"]
            parts.append(f"{ours}/b: {a['tokens_per_s'] / b['tokens_per_s']:.2f}x tokens/s, ppl {a['valid_ppl']:.1f} vs {b['valid_ppl']:.1f}.")
    if "f" in by_letter:
        parts.append(f"f: {by_letter['f']['fraction_of_fp32_matmul']:.2f} of the fp32 ceiling.")
    if "c" in by_letter and "d" in by_letter:
        c, d = by_letter["c"], by_letter["d"]
        parts.append(f"d/c: {d['tokens_per_s'] / c['tokens_per_s']:.2f}x predictions/s, ppl {d['valid_ppl']:.1f} vs {c['valid_ppl']:.1f}.")
    return " ".join(parts)


def run_keras(train_ids, valid_ids, vocab, seconds, work: Path) -> dict:
    name = "c) seed Keras recipe: Embedding 128, SimpleRNN 128, Dense softmax, windows of 100, batch 128"
    try:
        import keras  # noqa: F401
    except ImportError:
        return {"model": name, "notes": "c) skipped: keras not installed (pip install -e '.[bench]')"}
    np.save(work / "train.npy", train_ids)
    np.save(work / "valid.npy", valid_ids)
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"), TF_CPP_MIN_LOG_LEVEL="2",
               OMP_NUM_THREADS=str(torch.get_num_threads()))  # the same threads as the torch rows
    proc = subprocess.run([sys.executable, "-m", "benchmarks.lib.keras_seed", str(work / "train.npy"), str(work / "valid.npy"), str(vocab), str(seconds)],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        return {"model": name, "notes": f"c) failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # Each prediction runs the RNN over 100 steps and the softmax once.
    macs = 100 * 128 * (128 + 128) + 128 * vocab
    return {"model": f"{name} ({result['backend']})", "tokens_per_s": result["predictions_per_s"],
            "valid_ppl": result["valid_ppl"], "flops_per_token": train_flops_per_token(macs)}


if __name__ == "__main__":
    main()
