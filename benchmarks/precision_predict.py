"""Predictions in fp32 against bf16 (and what `auto` picks): the same trained models, the same inputs.

For each task a model is trained for --minutes with `nlp-apps TASK train --precision fp32` (or taken
from --models DIR, where TASK/ holds one), then loaded twice, `nlp_apps.load(dir, precision=...)`,
and run on its evaluation set:
  sentiment     SST-2 dev (872 sentences): label agreement, accuracy, sentences/s
  translation   Multi30k test 2016 (1,000 sentences, beam 5): BLEU, sentences/s
  qa            SQuAD v1.1 dev, the first --questions questions: EM / F1, questions/s
Targets (Speed v3): labels identical on >= 99.5% of SST-2 dev, BLEU within 0.3, F1 within 0.3 of fp32.

    python -m benchmarks.precision_predict [--minutes 5] [--only sentiment,translation,qa] [--models runs/bench-precision-predict]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import sacrebleu
import torch

import nlp_apps
from benchmarks.lib.fingerprint import machine_fingerprint
from benchmarks.lib.results import load_average, shared_data, store_row
from tasks.qa.adapter import read_squad, split_examples
from tasks.qa.metric import squad_metrics
from tasks.sentiment.adapter import read_dataset

TASKS = ["sentiment", "translation", "qa"]
ROWS = [f"{task}_{precision}" for task in TASKS for precision in ("fp32", "bf16")]
NOTES = ("The same trained model (fp32 training, --minutes each) predicting in fp32 and in bf16 autocast, one after another in "
         "one run. agreement: share of outputs identical to fp32's. auto: what --precision auto picks for this model's "
         "inference on this machine. Targets: sentiment labels >= 99.5% identical, BLEU and F1 within 0.3 of fp32.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--only", default=",".join(TASKS))
    parser.add_argument("--models", default="runs/bench-precision-predict")
    parser.add_argument("--questions", type=int, default=2000)
    args = parser.parse_args()
    machine_fingerprint()
    for task in args.only.split(","):
        model = Path(args.models) / task
        if not (model / "config.json").is_file():
            train(task, model, args.minutes)
        outputs = {}
        for precision in ("fp32", "bf16"):
            pipeline = nlp_apps.load(model, precision=precision)
            load_start = load_average()
            row, outputs[precision] = MEASURE[task](pipeline, args)
            row.update(row=f"{task}_{precision}", train_minutes=args.minutes, auto=auto_choice(model),
                       threads=torch.get_num_threads(), load_start=load_start, load_end=load_average())
            if precision == "bf16":
                same = sum(a == b for a, b in zip(outputs["fp32"], outputs["bf16"]))
                row["agreement"] = round(same / len(outputs["fp32"]), 4)
            store_row("precision_predict", row, ROWS, NOTES)


def train(task: str, out: Path, minutes: float) -> None:
    data = {
        "sentiment": ["--train", shared_data("sst2", "train.tsv"), "--valid", shared_data("sst2", "dev.tsv")],
        "translation": ["--src", shared_data("multi30k", "train.de"), "--tgt", shared_data("multi30k", "train.en"),
                        "--valid-src", shared_data("multi30k", "val.de"), "--valid-tgt", shared_data("multi30k", "val.en")],
        "qa": ["--train", shared_data("squad-v1.1", "train-v1.1.json"), "--valid", shared_data("squad-v1.1-dev-explorer", "dev-v1.1.json")],
    }[task]
    command = [sys.executable, "-m", "nlp_apps.cli", task, "train", *data, "--out", out, "--overwrite",
               "--time-budget", f"{minutes}m", "--precision", "fp32", "--no-progress"]
    subprocess.run([str(c) for c in command], check=True)


def auto_choice(model: Path) -> str:
    pipeline = nlp_apps.load(model)
    from nlp_apps.precision import resolve_precision

    choice = resolve_precision("auto", pipeline.model, "cpu", mode="infer")
    return f"{choice.precision} ({choice.reason})"


def timed(function, items: list, **kwargs):
    """function(items, **kwargs) and its seconds, after a warm-up call on the first few items."""
    function(items[:16], **kwargs)
    start = time.perf_counter()
    result = function(items, **kwargs)
    return result, time.perf_counter() - start


def measure_sentiment(pipeline, args) -> tuple[dict, list]:
    examples = read_dataset(shared_data("sst2", "dev.tsv"))
    results, seconds = timed(pipeline.predict, [e.text for e in examples])
    labels = [r["label"] for r in results]
    accuracy = sum(label == e.label for label, e in zip(labels, examples)) / len(examples)
    return {"accuracy": round(100 * accuracy, 2), "per_s": round(len(examples) / seconds, 1)}, labels


def measure_translation(pipeline, args) -> tuple[dict, list]:
    sources = shared_data("multi30k", "test_2016_flickr.de").read_text(encoding="utf-8").splitlines()
    references = shared_data("multi30k", "test_2016_flickr.en").read_text(encoding="utf-8").splitlines()
    hypotheses, seconds = timed(pipeline.predict, sources, beam_size=5)
    bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    return {"bleu": round(bleu, 2), "per_s": round(len(sources) / seconds, 1)}, hypotheses


def measure_qa(pipeline, args) -> tuple[dict, list]:
    examples = read_squad(shared_data("squad-v1.1-dev-explorer", "dev-v1.1.json")).examples[: args.questions]
    inputs, golds = split_examples(examples)
    results, seconds = timed(pipeline.predict, inputs)
    answers = [r["answer"] for r in results]
    scores = squad_metrics(answers, golds, "1.1")
    return {"exact_match": round(scores["exact_match"], 2), "f1": round(scores["f1"], 2), "per_s": round(len(inputs) / seconds, 1)}, answers


MEASURE = {"sentiment": measure_sentiment, "translation": measure_translation, "qa": measure_qa}


if __name__ == "__main__":
    main()
