"""`nlp-apps sentiment train | evaluate | predict | demo` (train and demo are built by the core from TRAINING)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from nlp_apps.commands.options import json_lines_option, model_option, predict_lines, read_inputs, recipe_options
from nlp_apps.commands.task_demo import TaskDemo
from nlp_apps.commands.task_train import TaskTraining
from nlp_apps.registry import lazy
from tasks.sentiment.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS


def data_options(command):
    options = [
        click.option("--format", "fmt", type=click.Choice(["auto", "csv", "tsv", "jsonl", "sst2", "folder"]), default="auto",
                     show_default=True, help="auto: by extension (.csv .tsv .jsonl), a directory is folder-per-label."),
        click.option("--text-column", help="CSV/TSV text column, by header name or 0-based index."),
        click.option("--label-column", help="CSV/TSV label column, by header name or 0-based index."),
        click.option("--text-field", default="text", show_default=True, help="JSONL text field."),
        click.option("--label-field", default="label", show_default=True, help="JSONL label field."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def read(path, fmt, text_column, label_column, text_field, label_field, require_labels=True):
    from tasks.sentiment.adapter import read_dataset

    return read_dataset(path, format=fmt, text_column=text_column, label_column=label_column, text_field=text_field,
                        label_field=label_field, require_labels=require_labels)


@click.group()
def sentiment() -> None:
    """Text classification (sentiment or any label set), fine-tuned from the backbone ULMFiT-style."""


TRAIN_OPTIONS = [
    click.option("--train", "train_file", type=click.Path(), help="Labelled training data."),
    click.option("--valid", "valid_file", type=click.Path(), help="Labelled validation data (early stopping)."),
    click.option("--backbone", default="default", show_default=True, help="'default' or a model directory from `nlp-apps pretrain`."),
    *recipe_options(["lm_finetune", "lm_epochs", "lm_budget_share", "discriminative_lr", "lr_decay", "gradual_unfreezing", "unfreeze_span", "unfreeze_steps",
                     "pretrained", "batch_size", "backbone_dropout"], RECIPE_DEFAULTS),
    data_options,
]


def summary(best: dict) -> str:
    return f"best accuracy {best['accuracy']:.4f}, macro-F1 {best['macro_f1']:.4f}"


def show(text: str, prediction: dict) -> str:
    probabilities = " ".join(f"{label}={p:.3f}" for label, p in prediction["probabilities"].items())
    return f"{prediction['label']}\t{probabilities}\t{text}"


DEMO = TaskDemo(
    train_options={"fmt": "tsv", "epochs": 16, "patience": 3},  # a few hundred examples: more epochs; early stopping keeps the best
    examples=("The staff were friendly and the room was spotless.", "The battery died after an hour and support never answered.",
              "I hated it.", "great film"),
    show=show,
)

TRAINING = TaskTraining(
    options=TRAIN_OPTIONS, configure=lazy("tasks.sentiment.training:configure"), fit=lazy("tasks.sentiment.training:fit"),
    summary=summary, trainer_defaults=TRAINER_DEFAULTS, required=("--train", "--valid"),
    help="Fine-tune a classifier on labelled texts (any number of labels).",
    examples=("nlp-apps sentiment train --train train.tsv --valid dev.tsv --out runs/clf --time-budget 30m",),
    demo=DEMO,
)


@sentiment.command()
@model_option("sentiment")
@click.option("--data", "data_file", required=True, type=click.Path(), help="Labelled data to score.")
@click.option("--out", "out_dir", type=click.Path(), help="Where to write eval_metrics.json and confusion_matrix.png [the model directory].")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out folder (other than the model directory).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@data_options
def evaluate(model_dir, data_file, out_dir, overwrite, as_json, fmt, text_column, label_column, text_field, label_field) -> None:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (scikit-learn).

    A non-empty --out folder other than the model directory is written into only with --overwrite.
    """
    from nlp_apps.data.fileio import atomic_write_json, check_output_dir
    from tasks.sentiment.metric import classification_metrics
    from tasks.sentiment.pipeline import load
    from tasks.sentiment.plots import plot_confusion_matrix
    from tasks.sentiment.training import check_known_labels

    target = Path(out_dir or model_dir)
    if target.resolve() != Path(model_dir).resolve():
        check_output_dir(target, "--out", overwrite)
    pipeline = load(model_dir)
    examples = read(data_file, fmt, text_column, label_column, text_field, label_field)
    check_known_labels(examples, pipeline.labels)
    predictions = [p["label"] for p in pipeline.predict([e.text for e in examples])]
    scores = classification_metrics([e.label for e in examples], predictions, pipeline.labels)
    scores["data"] = str(data_file)
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target / "eval_metrics.json", scores)
    plot_confusion_matrix(target / "confusion_matrix.png", scores["confusion_matrix"], pipeline.labels)
    if as_json:
        click.echo(json.dumps(scores))
        return
    click.echo(f"examples:  {len(examples)}")
    click.echo(f"accuracy:  {scores['accuracy']:.4f}")
    click.echo(f"macro-F1:  {scores['macro_f1']:.4f}")
    click.echo(f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for label, row in scores["per_class"].items():
        click.echo(f"{label:<16}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}{row['support']:>9}")
    click.echo("confusion matrix (rows = true, columns = predicted): " + " ".join(pipeline.labels))
    for label, row in zip(pipeline.labels, scores["confusion_matrix"]):
        click.echo(f"  {label:<14}" + " ".join(f"{n:>6}" for n in row))
    click.echo(f"wrote {target / 'eval_metrics.json'} and {target / 'confusion_matrix.png'}")


@sentiment.command()
@model_option("sentiment")
@click.argument("texts", nargs=-1)
@click.option("--file", "input_file", type=click.Path(), help="Read texts from a file, one per line ('-' = stdin).")
@json_lines_option
def predict(model_dir, texts, input_file, as_json) -> None:
    """Label texts given as arguments, in a file or on stdin ('-' or no argument), one per line.

    Each input line gets one output line; a blank line gets an empty one (JSON: label null).
    """
    from tasks.sentiment.pipeline import load

    texts = read_inputs(texts, input_file)
    if not texts:
        raise click.UsageError("no text to classify")
    pipeline = load(model_dir)
    for text, result in zip(texts, predict_lines(texts, pipeline.predict)):
        if as_json:
            click.echo(json.dumps({"text": text, **(result or {"label": None, "probabilities": None})}))
        else:
            click.echo("" if result is None else show(text, result))
