"""IMDB (Maas et al. 2011) test accuracy after a fine-tuning budget on train.jsonl, long reviews read in chunks.

Validation (early stopping) is a seeded slice of train.jsonl, never the test set that is reported.
Rows: the recipe from the default backbone with LM fine-tuning (`full`) and without (`no_lm`), and
two linear baselines on the same split in the same run: scikit-learn's TF-IDF + logistic regression
(`tfidf`) and NBSVM (`nbsvm`, Wang & Manning 2012, its C chosen on the validation slice); a run with
one of them scores both. Also: prediction examples/s on the test set and the peak memory of
predicting the longest test review alone.

    python -m benchmarks.imdb [--minutes 60] [--only full,no_lm,no_lm_stacked,tfidf,nbsvm] [--valid 2500] [--seed 0]
                              [--grad-chunks 4] [--eval-every 300]
Data: $NLP_APPS_DATA/imdb (default ../shared/data/imdb).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.lib.nbsvm import nbsvm_baseline
from benchmarks.lib.results import ROOT, shared_data, store_row
from benchmarks.lib.stacking import predict_labels, stacking_figures
from benchmarks.lib.tfidf import tfidf_logistic_regression

NOTES = ("IMDB test accuracy (25,000 reviews). Target (Sentiment v3): >= 93.0 after at most 60 minutes of fine-tuning on 2 CPU threads "
         "(Maas et al. 2011: 88.9; ULMFiT: 95.4). Validation: a seeded slice of train.jsonl.")


VARIANTS = {
    "full": ("recipe with LM fine-tuning", {"lm_finetune": True}),
    "no_lm": ("recipe without LM fine-tuning", {"lm_finetune": False}),
    # One run gives the mix and, from the same model, the RNN head alone and the n-gram path alone.
    "no_lm_stacked": ("recipe without LM fine-tuning, n-gram path stacked", {"lm_finetune": False, "ngram_features": True, "ngram_combine": "stacked"}),
}
BASELINES = {"tfidf": "scikit-learn TF-IDF (1-2 grams) + logistic regression",
             "nbsvm": "NBSVM (binary 1-2 grams scaled by naive-Bayes log-count ratios) + logistic regression, C chosen on the validation slice"}


def read(path: Path):
    from tasks.sentiment.adapter import read_dataset

    return read_dataset(path, format="jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--only", default="no_lm,tfidf", help="comma-separated: full, no_lm (the default recipe), no_lm_stacked, tfidf (with nbsvm), nbsvm")
    parser.add_argument("--valid", type=int, default=2500, help="training reviews held out for early stopping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grad-chunks", type=int, default=4, help="the head's grad_chunks: the last chunks of 128 tokens that get gradients "
                        "(marked in the row's name unless 4, the default)")
    parser.add_argument("--eval-every", type=int, default=300, help="steps between validations (marked in the row's name unless 300)")
    parser.add_argument("--out", default="runs/bench-imdb")
    args = parser.parse_args()
    variants = args.only.split(",")
    unknown = set(variants) - {*VARIANTS, *BASELINES}
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(sorted(unknown))}: choose from {', '.join([*VARIANTS, *BASELINES])}")
    if "tfidf" in variants and "nbsvm" not in variants:  # the baselines come as a pair, on the same split
        variants.insert(variants.index("tfidf") + 1, "nbsvm")
    imdb = shared_data("imdb")
    reviews = read(imdb / "train.jsonl")
    random.Random(args.seed).shuffle(reviews)
    train, valid = reviews[args.valid :], reviews[: args.valid]
    test = read(imdb / "test.jsonl")
    rows = {}
    split = f" (seed {args.seed})" if args.seed else ""  # the seed shuffles the held-out slice, so the baselines' split too
    for variant in variants:
        if variant == "tfidf":
            scores = tfidf_logistic_regression([e.text for e in train], [e.label for e in train], [e.text for e in test], [e.label for e in test])
            rows[variant] = {"variant": BASELINES[variant] + split, "test_accuracy": scores["accuracy"],
                             "train_seconds": scores["train_seconds"], "seed": args.seed}
        elif variant == "nbsvm":
            scores = nbsvm_baseline([e.text for e in train], [e.label for e in train], [e.text for e in test], [e.label for e in test],
                                    [e.text for e in valid], [e.label for e in valid])
            rows[variant] = {"variant": BASELINES[variant] + split, "test_accuracy": scores["accuracy"], "valid_accuracy": scores["heldout_accuracy"],
                             "C": scores["C"], "train_seconds": scores["train_seconds"], "seed": args.seed}
        elif variant in VARIANTS:
            rows[variant] = run_recipe(train, valid, test, args, variant)
    store_row("imdb", list(rows.values()), notes=NOTES, key=lambda r: r["variant"])  # a stored variant's row is replaced in place


def run_recipe(train, valid, test, args, variant: str) -> dict:
    from nlp_apps.training.trainer import TrainerConfig
    from tasks.sentiment.defaults import HEAD_DEFAULTS, RECIPE_DEFAULTS, TRAINER_DEFAULTS
    from tasks.sentiment.head_config import HeadConfig
    from tasks.sentiment.pipeline import load
    from tasks.sentiment.training import RecipeConfig, train_classifier

    name, changes = VARIANTS[variant]
    marks = [f"grad_chunks={args.grad_chunks}"] * (args.grad_chunks != 4) + [f"eval_every={args.eval_every}"] * (args.eval_every != 300)
    marks += [f"{args.valid} held out"] * (args.valid != 2500)
    out = Path(args.out) / f"{variant}_seed{args.seed}"
    shutil.rmtree(out, ignore_errors=True)
    trainer = TrainerConfig(**{**TRAINER_DEFAULTS, "epochs": 100, "patience": None, "time_budget": args.minutes * 60,
                               "eval_every": args.eval_every, "progress": False, "seed": args.seed})
    recipe = RecipeConfig(**{**RECIPE_DEFAULTS, **{k: v for k, v in changes.items() if k not in HEAD_DEFAULTS}})
    head = HeadConfig(**{**HEAD_DEFAULTS, **{k: v for k, v in changes.items() if k in HEAD_DEFAULTS}, "grad_chunks": args.grad_chunks})
    result = train_classifier(train, valid, out, recipe=recipe, trainer=trainer, head=head)
    pipeline = load(out)
    started = time.perf_counter()
    predictions, by_path = predict_labels(pipeline, [e.text for e in test])  # a stacked head: each path too, in one pass
    rate = len(test) / (time.perf_counter() - started)
    accuracy = sum(p == e.label for p, e in zip(predictions, test)) / len(test)
    metrics = json.loads((out / "metrics.json").read_text())
    longest = max(test, key=lambda e: len(e.text))
    name = f"{name}, default backbone, {args.minutes:g} min (seed {args.seed})" + "".join(f" ({mark})" for mark in marks)
    return {"variant": name, "budget_minutes": args.minutes, "test_accuracy": accuracy,
            **stacking_figures(metrics, by_path, [e.label for e in test], "test"),
            "valid_accuracy": metrics["best"].get("accuracy"), "train_examples_per_s": metrics["ex_per_s"], "precision": metrics.get("precision", "fp32"),
            "predict_examples_per_s": round(rate, 1), "lr": trainer.lr, "lr_decay": recipe.lr_decay, "longest_review_words": len(longest.text.split()),
            "longest_review_peak_rss_mb": peak_memory(out, longest.text), "threads": torch.get_num_threads(),
            "status": result.status, "seed": args.seed}


def peak_memory(model: Path, text: str) -> float:
    """Peak resident memory (MB) of a fresh process that loads the model and labels one text.

    The child reports its own VmHWM just before it exits (benchmarks/lib/memory.py), not ru_maxrss: Linux carries
    the forking parent's high-water mark across exec into ru_maxrss, which here would report this benchmark's own
    memory (2.2 GB, against 0.3 GB).
    """
    code = ("import sys; from benchmarks.lib.memory import vmhwm_mb; from tasks.sentiment.pipeline import load; "
            "p = load(sys.argv[1]); p.predict([sys.stdin.read()]); print(vmhwm_mb())")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code, str(model)], input=text, capture_output=True, text=True, check=True, env=env)
    return round(float(out.stdout.strip()), 1)


if __name__ == "__main__":
    main()
