"""SQuAD v1.1 dev exact match and F1 along one fine-tuning run (a learning curve), from the default backbone.

Trains on train-v1.1 with the best checkpoint chosen on a held-out slice of train, split by article
(the last --heldout-articles articles; never the dev set that is reported). At each checkpoint time
(--checkpoints, in minutes of training) the run stops as at the end of its budget (it validates and
keeps its resumable state), the best model so far is scored on dev with the official EM/F1 and its
prediction speed measured, and training goes on. The learning-rate schedule spans the whole run, so
the points are those of one run. A run interrupted between sessions continues with --resume.
Windows against truncation: on the dev questions whose passage is longer than one window, the same
model is scored reading all its sliding windows and reading only the first window (--windows first
instead trains a model that truncates).

    python -m benchmarks.squad [--checkpoints 60,120,180] [--windows sliding|first] [--attention bidaf|aligned]
    python -m benchmarks.squad --resume                      # continue the same run in a later session
    python -m benchmarks.squad --checkpoints 20 --attention aligned --no-v2 --out runs/bench-squad-aligned20   # a short comparison
    NLP_APPS_BENCH_DRY=1 python -m benchmarks.squad --checkpoints 1,2 --train-questions 300 --dev-questions 200 --out runs/bench-squad-smoke

At the last point the model is also scored on SQuAD v2.0 dev (there is no v2 training set here): its
no-answer score is the null logit the v1.1 run trains on windows that do not hold the answer; the
threshold on it is tuned on the even-numbered dev articles and EM/F1/HasAns/NoAns are reported on the
odd-numbered ones, beside the same model answering every question.

The QA recipe's LM stage is off by default, so the run is driven here the way run_recipe drives it
without that stage (seed, task, gradual unfreezing, Trainer), plus a callback that stops at each
checkpoint time: run_recipe takes no callbacks.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from pathlib import Path

import torch

from benchmarks.lib.backbones import backbone_name
from benchmarks.lib.fingerprint import machine_fingerprint
from benchmarks.lib.results import shared_data, store_row, utc_stamp
from nlp_apps.io.checkpoint import load_model_tokenizer, resolve_model_dir
from nlp_apps.training.finetune import RecipeConfig, pretrained_backbone
from nlp_apps.training.trainer import Callback, Trainer, TrainerConfig, seed_everything
from nlp_apps.training.unfreezing import GradualUnfreezing
from tasks.qa.adapter import read_squad
from tasks.qa.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS
from tasks.qa.head import build_head
from tasks.qa.head_config import HeadConfig
from tasks.qa.metric import best_null_threshold, squad_metrics
from tasks.qa.pipeline import load, read_questions
from tasks.qa.training import QATask

CURVE_FILE = "curve.json"
NOTES = ("SQuAD v1.1: dev EM/F1 (official definitions) of the best checkpoint on a held-out slice of train (by article), "
         "at each point of one run from the default backbone; threads = torch threads. v2_*: SQuAD v2.0 dev at the last point, "
         "no-answer threshold tuned on the even-numbered articles, scored on the odd-numbered ones (v2_always_answer_f1: "
         "the same model answering every question). dev_long_*: the dev questions whose passage is longer than one window, "
         "read with sliding windows against the first window only (truncation).")


class StopAt(Callback):
    """Finish this session of the run once the Trainer's clock (kept across resumes) reaches `seconds`."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_step_end(self, trainer, control) -> None:
        if trainer.elapsed() >= self.seconds:
            control.should_stop = True


def article_of(source: str) -> int:
    return int(re.search(r"data\[(\d+)\]", source).group(1))


DEFAULT_CHECKPOINTS = [60.0, 120.0, 180.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default=",".join(f"{m:g}" for m in DEFAULT_CHECKPOINTS),
                        help="minutes of training at which dev is scored; the last ends the run")
    parser.add_argument("--attention", choices=["bidaf", "aligned"], default=HeadConfig.attention)
    parser.add_argument("--windows", choices=["sliding", "first"], default=HeadConfig.windows,
                        help="sliding windows over long passages, or truncation to the first window")
    parser.add_argument("--heldout-articles", type=int, default=6, help="the last N train articles choose the best checkpoint")
    parser.add_argument("--eval-every", type=int, default=600, help="steps between held-out evaluations")
    parser.add_argument("--train-questions", type=int, help="use only the first N training questions (smoke runs)")
    parser.add_argument("--dev-questions", type=int, help="score only the first N dev questions (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backbone", default="default",
                        help="the backbone the run starts from: a shipped name or a model directory (marked in the row's name unless default)")
    parser.add_argument("--average-decay", type=float,
                        help="validate and keep a moving average of the weights (the Trainer's --average-decay) [off]")
    parser.add_argument("--no-v2", action="store_true", help="skip the SQuAD v2.0 scoring at the last point (short comparisons)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out (a later session)")
    parser.add_argument("--out", default="runs/bench-squad")
    args = parser.parse_args()
    checkpoints = sorted(float(m) for m in args.checkpoints.split(","))
    out = Path(args.out)

    train_file = shared_data("squad-v1.1", "train-v1.1.json")
    dev_file = shared_data("squad-v1.1-dev-explorer", "dev-v1.1.json")
    v2_file = shared_data("squad-v2.0-dev-explorer", "dev-v2.0.json")
    examples = read_squad(train_file).examples
    last_article = max(article_of(e.source) for e in examples)
    heldout = [e for e in examples if article_of(e.source) > last_article - args.heldout_articles]
    train = [e for e in examples if article_of(e.source) <= last_article - args.heldout_articles][: args.train_questions]
    dev = read_squad(dev_file).examples[: args.dev_questions]
    if args.train_questions:  # a smoke run also validates on a slice
        heldout = heldout[: max(50, args.train_questions // 4)]

    settings = {"attention": args.attention, "windows": args.windows, "checkpoints": checkpoints, "seed": args.seed,
                "train_questions": len(train), "heldout_questions": len(heldout), "dev_questions": len(dev)}
    if args.backbone != "default":  # recorded only then, so runs from before the option resume
        settings["backbone"] = args.backbone
    if args.average_decay:
        settings["average_decay"] = args.average_decay
    backbone_dir = resolve_model_dir(args.backbone)
    if args.resume:
        curve = json.loads((out / CURVE_FILE).read_text())
        if curve["settings"] != settings:
            raise SystemExit(f"error: {out} holds a run with other settings: {curve['settings']}")
    else:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        curve = {"settings": settings, "points": []}
        (out / CURVE_FILE).write_text(json.dumps(curve, indent=2) + "\n")  # --resume needs it even before the first point

    recipe = RecipeConfig(**RECIPE_DEFAULTS)
    trainer_config = TrainerConfig(**{**TRAINER_DEFAULTS, "epochs": 100, "patience": None, "time_budget": checkpoints[-1] * 60,
                                      "eval_every": args.eval_every, "progress": False, "seed": args.seed,
                                      "average_decay": args.average_decay})
    seed_everything(args.seed)
    model = build_head(pretrained_backbone(backbone_dir, recipe), HeadConfig(attention=args.attention, windows=args.windows), train)
    task = QATask(model, load_model_tokenizer(backbone_dir), train, heldout, recipe, seed=args.seed, data_files=[str(train_file)])
    unfreezing = GradualUnfreezing(model.layer_groups(), recipe.unfreeze_span)
    for minutes in checkpoints[len(curve["points"]):]:
        resume = (out / "last" / "trainer_state.pt").is_file()
        result = Trainer(task, trainer_config, out, callbacks=[unfreezing, StopAt(minutes * 60)],
                         manifest_extra={"recipe": recipe.to_dict()}).fit(resume=resume)
        if result.status == "interrupted":  # Ctrl-C or SIGTERM: last/ holds the state; no point is scored
            raise SystemExit(f"interrupted before the {minutes:g}-minute point; continue with: python -m benchmarks.squad --resume")
        metrics = json.loads((out / "metrics.json").read_text())
        curve["points"].append({"minutes": minutes, "trained_minutes": round(metrics["wall_seconds"] / 60, 1), "status": result.status,
                                "steps": result.steps, "heldout_f1": result.best_metric, **score_on_dev(out, dev),
                                "train_questions_per_s": metrics["ex_per_s"], "precision": metrics.get("precision", "fp32"),
                                "epochs_seen": round(metrics["ex_trained"] / max(1, len(task.train.features)), 2),
                                "measured": utc_stamp(), "machine": machine_fingerprint()})  # points of one run span sessions
        (out / CURVE_FILE).write_text(json.dumps(curve, indent=2) + "\n")
        finished = result.status not in ("stopped", "time_budget")  # its epochs: later points would repeat this one
        if (finished or minutes == checkpoints[-1]) and not args.no_v2:
            v2 = read_squad(v2_file).examples
            v2 = v2[:: max(1, len(v2) // args.dev_questions)] if args.dev_questions else v2  # a smoke run: a spread of articles
            curve["points"][-1].update(score_on_v2(out, v2))
            (out / CURVE_FILE).write_text(json.dumps(curve, indent=2) + "\n")
        if finished:
            break
    store([row(point, args, curve["settings"]) for point in curve["points"]])


def score_on_dev(model_dir: Path, dev) -> dict:
    pipeline = load(model_dir)
    started = time.perf_counter()
    results = pipeline.predict([{"context": e.context, "question": e.question} for e in dev])
    seconds = time.perf_counter() - started
    golds = [[a.text for a in e.answers] for e in dev]
    scores = squad_metrics([r["answer"] for r in results], golds, "1.1")
    return {"dev_exact_match": scores["exact_match"], "dev_f1": scores["f1"], "predict_questions_per_s": round(len(dev) / seconds, 1),
            **windows_against_truncation(pipeline, dev, [r["answer"] for r in results], golds)}


def windows_against_truncation(pipeline, dev, answers: list[str], golds: list[list[str]]) -> dict:
    """On the dev questions whose passage is longer than one window: the model's sliding windows against
    the same model reading only the first window (truncation)."""
    window = pipeline.model.config.max_passage_len
    long_contexts = {c for c in {e.context for e in dev} if len(pipeline.tokenizer.encode(c)) > window}  # each passage once
    long = [i for i, e in enumerate(dev) if e.context in long_contexts]
    if not long:
        return {"dev_long_questions": 0}
    truncated = read_questions(pipeline.model, pipeline.tokenizer, [(dev[i].context, dev[i].question) for i in long], windows="first")
    sliding = squad_metrics([answers[i] for i in long], [golds[i] for i in long], "1.1")
    first = squad_metrics([r.span for r in truncated], [golds[i] for i in long], "1.1")
    return {"dev_long_questions": len(long), "dev_long_f1_windows": sliding["f1"], "dev_long_f1_first_window": first["f1"],
            "dev_long_exact_match_windows": sliding["exact_match"], "dev_long_exact_match_first_window": first["exact_match"]}


def score_on_v2(model_dir: Path, dev) -> dict:
    """v2.0 dev: the no-answer threshold tuned on the even-numbered articles, scores on the odd-numbered ones."""
    pipeline = load(model_dir)
    readings = read_questions(pipeline.model, pipeline.tokenizer, [(e.context, e.question) for e in dev])
    tune = [i for i, e in enumerate(dev) if article_of(e.source) % 2 == 0]
    held = [i for i, e in enumerate(dev) if article_of(e.source) % 2 == 1]
    golds = [[a.text for a in e.answers] for e in dev]
    threshold = best_null_threshold([readings[i].span for i in tune], [readings[i].null_margin for i in tune], [golds[i] for i in tune])
    scores = squad_metrics([readings[i].answer(True, threshold)["answer"] for i in held], [golds[i] for i in held], "2.0")
    always = squad_metrics([readings[i].span for i in held], [golds[i] for i in held], "2.0")
    return {"v2_null_threshold": round(threshold, 3), "v2_tune_questions": len(tune), "v2_report_questions": len(held),
            **{f"v2_{key}": round(value, 2) for key, value in scores.items() if key.endswith(("exact_match", "f1"))},
            "v2_always_answer_f1": round(always["f1"], 2)}


def row(point: dict, args, settings: dict) -> dict:
    variant = f"{'BiDAF attention flow' if args.attention == 'bidaf' else 'DrQA aligned attention'}, " \
              f"{'sliding windows' if args.windows == 'sliding' else 'truncated to one window'}"
    if args.train_questions:  # a smoke run never replaces the rows of a full one
        variant += f" ({settings['train_questions']} train questions)"
    if settings["checkpoints"] != DEFAULT_CHECKPOINTS:  # nor does a shorter run (its schedule ends sooner)
        variant += f" ({settings['checkpoints'][-1]:g}-minute run)"
    if args.seed:
        variant += f" (seed {args.seed})"
    if args.backbone != "default":
        variant += f" ({Path(args.backbone).name} backbone)"
    if args.average_decay:
        variant += f" (weights averaged, decay {args.average_decay:g})"
    if torch.get_num_threads() > 1:
        variant += f" ({torch.get_num_threads()} threads)"
    return {"variant": variant, **point, "train_set": settings["train_questions"], "dev_set": settings["dev_questions"],
            "threads": torch.get_num_threads(), "backbone": backbone_name(args.backbone)}


def store(rows: list[dict]) -> None:
    """Replace this variant's rows from the same backbone in results/squad.json (they go last), keep the others
    (NLP_APPS_BENCH_DRY=1: print only)."""
    store_row("squad", rows, notes=NOTES, key=lambda r: (r["variant"], r["backbone"]), last=True)


if __name__ == "__main__":
    main()
