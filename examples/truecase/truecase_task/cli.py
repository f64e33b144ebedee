"""`nlp-apps truecase train | evaluate | predict | demo`. Heavy imports happen inside the commands.

No command is written here: TRAINING says what the task trains (its options, and `configure` / `fit` in
training.py) and how its quickstart goes, and the core builds `train` and `demo` from it, with
--out/--resume/--overwrite/--device, the trainer options, torchrun, run_config.json and the last line;
EVALUATION and PREDICTION are what the core builds `evaluate` and `predict` from (--model, the inputs, --json).
"""

from __future__ import annotations

import click

from nlp_apps.commands.options import recipe_options
from nlp_apps.commands.task_demo import TaskDemo
from nlp_apps.commands.task_evaluate import TaskEvaluation
from nlp_apps.commands.task_predict import TaskPrediction
from nlp_apps.commands.task_train import TaskTraining
from nlp_apps.registry import lazy, package_files

TRAINER_DEFAULTS = dict(epochs=8, lr=5e-3, schedule="slanted_triangular", patience=3)
RECIPE_DEFAULTS = dict(batch_size=16)  # the rest of the recipe: RecipeConfig's defaults
DEMO_DATA = package_files("truecase_task", train="demo/train.txt", valid="demo/valid.txt")


@click.group()
def truecase() -> None:
    """Truecasing: restore the capitals of lowercased text, fine-tuned from the backbone ULMFiT-style."""


TRAINING = TaskTraining(
    options=[
        click.option("--train", "train_file", type=click.Path(), help="Cased text, one sentence a line (or CSV/TSV/JSONL)."),
        click.option("--valid", "valid_file", type=click.Path(), help="The same, for early stopping."),
        click.option("--backbone", default="default", show_default=True, help="'default' or a model directory from `nlp-apps pretrain`."),
        *recipe_options(["lm_finetune", "lm_epochs", "lm_budget_share", "discriminative_lr", "lr_decay", "gradual_unfreezing", "unfreeze_span",
                         "pretrained", "backbone_dropout", "batch_size"], RECIPE_DEFAULTS),
    ],
    configure=lazy("truecase_task.training:configure"), fit=lazy("truecase_task.training:fit"),
    summary=lambda best: f"best f1 {best['f1']:.4f}, word accuracy {best['accuracy']:.4f}",
    trainer_defaults=TRAINER_DEFAULTS, required=("--train", "--valid"),
    help="Fine-tune a truecaser: LM fine-tuning, discriminative rates and gradual unfreezing (the core's recipe).",
    examples=("nlp-apps truecase train --train train.txt --valid valid.txt --out runs/truecase --time-budget 10m",),
    # `demo` is built by the core too: fine-tune on the shipped sentences (20 need more epochs), score, recase two new ones
    demo=TaskDemo(train_options={"epochs": 15, "patience": 15},
                  examples=("i think the bbc and nasa will both report it.", "on sunday anna flew to lisbon."),
                  show=lambda text, recased: recased),
)


# `evaluate` and `predict` are built by the core too. EVALUATION leaves everything to the TaskSpec: --data is read
# with read_dataset and split_examples, the model predicts, the metric scores, and the scores are printed as JSON.
EVALUATION = TaskEvaluation(
    data_options=[click.option("--data", "data_file", required=True, type=click.Path(), help="Cased text to score (read like --train).")],
    help="Word-level F1 of the capitalised words and accuracy (scikit-learn), as JSON.",
)
# PREDICTION: texts as arguments, in --file or on stdin, one output line (the recased text) per input line.
PREDICTION = TaskPrediction(
    nothing="no text to truecase",
    help="Restore the capitals of texts given as arguments, in a file or on stdin; one output line per input line.",
)
