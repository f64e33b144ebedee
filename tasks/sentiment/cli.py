"""`nlp-apps sentiment train | evaluate | predict`."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from nlp_apps.commands.options import report_run, resume_overrides, trainer_options, trainer_values
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


@sentiment.command()
@click.option("--train", "train_file", type=click.Path(), help="Labelled training data.")
@click.option("--valid", "valid_file", type=click.Path(), help="Labelled validation data (early stopping).")
@click.option("--out", "out_dir", type=click.Path(), help="Model directory to write.")
@click.option("--resume", "resume_dir", type=click.Path(), help="Continue the interrupted run in this directory.")
@click.option("--backbone", default="default", show_default=True, help="'default' or a model directory from `nlp-apps pretrain`.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier run in --out.")
@click.option("--lm-finetune/--no-lm-finetune", default=RECIPE_DEFAULTS["lm_finetune"], show_default=True,
              help="Fine-tune the LM on the task texts first (for text far from what the backbone read).")
@click.option("--lm-epochs", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--lm-budget-share", type=float, default=1 / 6, help="Share of --time-budget for LM fine-tuning [1/6].")
@click.option("--discriminative-lr/--no-discriminative-lr", default=True, show_default=True, help="Each layer down learns --lr-decay times slower.")
@click.option("--lr-decay", type=float, default=RECIPE_DEFAULTS["lr_decay"], show_default=True,
              help="Discriminative rates: lr divided by this per layer down (ULMFiT: 2.6; 1: one rate for all).")
@click.option("--gradual-unfreezing/--no-gradual-unfreezing", default=True, show_default=True,
              help="Train the head first; the layers below join one by one.")
@click.option("--unfreeze-span", type=float, default=0.1, show_default=True,
              help="Fraction of training after which every layer trains (gradual unfreezing).")
@click.option("--pretrained/--random-init", default=True, show_default=True, help="Start from the backbone's weights or from random ones.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--dropout", type=float, default=0.2, show_default=True, help="Dropout in the head and inside the backbone.")
@click.option("--device", default="auto", show_default=True)
@data_options
@trainer_options(defaults=TRAINER_DEFAULTS)
def train(train_file, valid_file, out_dir, resume_dir, backbone, overwrite, lm_finetune, lm_epochs, lm_budget_share, discriminative_lr, lr_decay,
          gradual_unfreezing, unfreeze_span, pretrained, batch_size, dropout, device, fmt, text_column, label_column, text_field, label_field,
          **options) -> None:
    """Fine-tune a classifier on labelled texts (any number of labels).

    \b
    nlp-apps sentiment train --train train.tsv --valid dev.tsv --out runs/clf --time-budget 30m
    nlp-apps sentiment train --resume runs/clf     # after Ctrl-C / SIGTERM
    """
    from nlp_apps.io.checkpoint import read_config, resolve_model_dir
    from nlp_apps.training import distributed
    from nlp_apps.training.runs import check_batch_shares, new_run, read_run_config, write_run_config
    from nlp_apps.training.trainer import TrainerConfig
    from tasks.sentiment.head_config import HeadConfig
    from tasks.sentiment.training import (
        RecipeConfig,
        check_known_labels,
        label_set,
        train_classifier,
    )

    distributed.init_from_env()  # under torchrun: one process per device, process 0 writes the files
    main_process = distributed.is_main()
    log = (lambda message: click.echo(message, err=True)) if main_process else (lambda message: None)
    if resume_dir:
        run = read_run_config(resume_dir)
        run["trainer"].update(resume_overrides(options))
        write_run_config(resume_dir, run)
        data = run["data"]
        train_set = read(data["train"], **data["options"])
        valid_set = read(data["valid"], **data["options"])
        recipe = RecipeConfig.from_dict(run["recipe"], f"{resume_dir}/run_config.json")
        result = train_classifier(train_set, valid_set, resume_dir, backbone=run["backbone"], recipe=recipe,
                                  head=HeadConfig.from_dict(run["head"]), trainer=TrainerConfig.from_dict(run["trainer"]),
                                  device=run["device"], data_files=[data["train"], data["valid"]], resume=True, log=log)
        if main_process:
            report_result(result, resume_dir)
        return
    for flag, value in (("--train", train_file), ("--valid", valid_file), ("--out", out_dir)):
        if not value:
            raise click.UsageError(f"{flag} is required (or use --resume DIR)")
    data_options_used = dict(fmt=fmt, text_column=text_column, label_column=label_column, text_field=text_field, label_field=label_field)
    train_set = read(train_file, fmt, text_column, label_column, text_field, label_field)
    valid_set = read(valid_file, fmt, text_column, label_column, text_field, label_field)
    try:
        recipe = RecipeConfig(lm_finetune=lm_finetune, lm_epochs=lm_epochs, lm_budget_share=lm_budget_share,
                              discriminative_lr=discriminative_lr, lr_decay=lr_decay,
                              gradual_unfreezing=gradual_unfreezing, unfreeze_span=unfreeze_span, batch_size=batch_size, backbone_dropout=dropout,
                              pretrained=pretrained)
        trainer = TrainerConfig(**{**TRAINER_DEFAULTS, **trainer_values(options)})
        head = HeadConfig(dropout=dropout)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    # Check what can be checked before an earlier run in --out is replaced.
    check_known_labels(valid_set, label_set(train_set, str(train_file)))
    read_config(resolve_model_dir(backbone))
    check_batch_shares(batch_size)
    run_config = {
        "data": {"train": str(train_file), "valid": str(valid_file), "options": data_options_used},
        "backbone": backbone, "device": device, "recipe": recipe.to_dict(), "head": head.to_dict(), "trainer": trainer.to_dict(),
    }
    with new_run(out_dir, overwrite=overwrite, run_config=run_config):
        result = train_classifier(train_set, valid_set, out_dir, backbone=backbone, recipe=recipe, head=head, trainer=trainer,
                                  device=device, data_files=[train_file, valid_file], log=log)
    if main_process:
        report_result(result, out_dir)


def report_result(result, out_dir) -> None:
    best = result.metrics
    report_run(result, out_dir, "sentiment train", f"best accuracy {best.get('accuracy', float('nan')):.4f}, "
                                                   f"macro-F1 {best.get('macro_f1', float('nan')):.4f}")


@sentiment.command()
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A model directory from `sentiment train`.")
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
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A model directory from `sentiment train`.")
@click.argument("texts", nargs=-1)
@click.option("--file", "input_file", type=click.Path(), help="Read texts from a file, one per line ('-' = stdin).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def predict(model_dir, texts, input_file, as_json) -> None:
    """Label texts given as arguments, in a file or on stdin ('-' or no argument), one per line.

    Each input line gets one output line; a blank line gets an empty one (JSON: label null).
    """
    from nlp_apps.commands.options import read_inputs
    from tasks.sentiment.pipeline import load

    texts = read_inputs(texts, input_file)
    if not texts:
        raise click.UsageError("no text to classify")
    pipeline = load(model_dir)
    present = [t for t in texts if t.strip()]
    results = iter(pipeline.predict(present) if present else [])
    for text in texts:
        result = next(results) if text.strip() else None
        if as_json:
            click.echo(json.dumps({"text": text, **(result or {"label": None, "probabilities": None})}))
        elif result is None:
            click.echo("")
        else:
            probs = " ".join(f"{label}={p:.3f}" for label, p in result["probabilities"].items())
            click.echo(f"{result['label']}\t{probs}\t{text}")


@sentiment.command()
@click.option("--out", "out_dir", default="runs/sentiment-demo", show_default=True, type=click.Path(), help="Where to write the model.")
@click.option("--backbone", default="default", show_default=True, help="'default' or a model directory from `nlp-apps pretrain`.")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(out_dir, backbone, seed) -> None:
    """The quickstart: fine-tune on the shipped demo reviews, evaluate, and label two new sentences."""
    from importlib import resources

    demo_dir = Path(str(resources.files("tasks.sentiment").joinpath("demo")))
    ctx = click.get_current_context()
    click.echo(f"== fine-tuning on {demo_dir / 'train.tsv'} (validation: {demo_dir / 'valid.tsv'})")
    ctx.invoke(train, train_file=str(demo_dir / "train.tsv"), valid_file=str(demo_dir / "valid.tsv"), out_dir=out_dir,
               backbone=backbone, overwrite=True, lm_finetune=RECIPE_DEFAULTS["lm_finetune"], lm_epochs=1, discriminative_lr=True,
               lr_decay=RECIPE_DEFAULTS["lr_decay"],
               gradual_unfreezing=True, unfreeze_span=0.1, pretrained=True, batch_size=32, dropout=0.2, device="auto", fmt="tsv",
               text_column=None, label_column=None, text_field="text", label_field="label", seed=seed,
               epochs=16, patience=3, lr=TRAINER_DEFAULTS["lr"])  # a few hundred examples: more epochs; early stopping keeps the best
    click.echo(f"== evaluating on {demo_dir / 'valid.tsv'}")
    ctx.invoke(evaluate, model_dir=out_dir, data_file=str(demo_dir / "valid.tsv"), out_dir=None, as_json=False, fmt="tsv",
               text_column=None, label_column=None, text_field="text", label_field="label")
    click.echo("== predicting")
    ctx.invoke(predict, model_dir=out_dir, texts=("The staff were friendly and the room was spotless.",
                                                  "The battery died after an hour and support never answered.",
                                                  "I hated it.", "great film"),
               input_file=None, as_json=False)
