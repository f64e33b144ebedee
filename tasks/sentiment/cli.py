"""`nlp-apps sentiment train | evaluate | predict | demo` (train and demo are built by the core from TRAINING)."""

from __future__ import annotations

import click

from nlp_apps.commands.options import option_group, recipe_options
from nlp_apps.commands.task_demo import TaskDemo
from nlp_apps.commands.task_evaluate import Output, Scored, TaskEvaluation
from nlp_apps.commands.task_predict import TaskPrediction
from nlp_apps.commands.task_train import TaskTraining
from nlp_apps.registry import lazy
from tasks.sentiment.defaults import HEAD_DEFAULTS, RECIPE_DEFAULTS, TRAINER_DEFAULTS
from tasks.sentiment.head_config import HeadConfig

data_options = option_group(  # train's and evaluate's
    click.option("--format", "fmt", type=click.Choice(["auto", "csv", "tsv", "jsonl", "sst2", "folder"]), default="auto",
                 show_default=True, help="auto: by extension (.csv .tsv .jsonl), a directory is folder-per-label."),
    click.option("--text-column", help="CSV/TSV text column, by header name or 0-based index."),
    click.option("--label-column", help="CSV/TSV label column, by header name or 0-based index."),
    click.option("--text-field", default="text", show_default=True, help="JSONL text field."),
    click.option("--label-field", default="label", show_default=True, help="JSONL label field."),
)


def read(path, fmt, text_column, label_column, text_field, label_field):
    from tasks.sentiment.adapter import read_dataset

    return read_dataset(path, format=fmt, text_column=text_column, label_column=label_column, text_field=text_field,
                        label_field=label_field)


@click.group()
def sentiment() -> None:
    """Text classification (sentiment or any label set), fine-tuned from the backbone ULMFiT-style."""


TRAIN_OPTIONS = [
    click.option("--train", "train_file", type=click.Path(), help="Labelled training data."),
    click.option("--valid", "valid_file", type=click.Path(), help="Labelled validation data (early stopping)."),
    click.option("--backbone", default="default", show_default=True, help="'default' or a model directory from `nlp-apps pretrain`."),
    *recipe_options(["lm_finetune", "lm_epochs", "lm_budget_share", "discriminative_lr", "lr_decay", "gradual_unfreezing", "unfreeze_span", "unfreeze_steps",
                     "pretrained", "batch_size", "backbone_dropout"], RECIPE_DEFAULTS),
    click.option("--ngram-features/--no-ngram-features", "ngram_features", default=None,
                 help="Add an n-gram path to the head: hashed word uni- and bigrams, naive-Bayes weighted, a linear layer "
                      f"whose logits join the RNN head's (see --ngram-combine); --no-ngram-features: the RNN head alone.  "
                      f"[default: {'on' if HEAD_DEFAULTS['ngram_features'] else 'off'}]"),
    click.option("--ngram-combine", type=click.Choice(["joint", "stacked"]), default=None,
                 help="How the n-gram path joins the RNN head. joint: trained together, logits added. stacked: the RNN head trains "
                      "alone, then the n-gram path is fitted as NBSVM on --train and the two are mixed by weights fitted on --valid "
                      f"(kept where it is at least as accurate there as each path alone, else the better path).  [default: {HEAD_DEFAULTS['ngram_combine']}]"),
    click.option("--grad-chunks", type=click.IntRange(min=1), default=None,
                 help="Texts are read in chunks of 128 tokens, the recurrent state carried across; gradients flow through the "
                      "last N chunks only, so memory stays bounded on long texts (fewer: faster training on long texts, "
                      f"the earlier chunks still feed the pooling).  [default: {HeadConfig.grad_chunks}]"),
    click.option("--ensemble", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Train this many models one after another, each with its share of --time-budget (member K: seed N*SEED+K), "
                      "into OUT/member-K; the model averages their class probabilities."),
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
    examples=("nlp-apps sentiment train --train train.tsv --valid dev.tsv --out runs/clf --time-budget 30m",
              "nlp-apps sentiment train --train train.tsv --valid dev.tsv --out runs/clf3 --time-budget 30m --ensemble 3"),
    demo=DEMO,
)


def predict_labels(pipeline, examples, values) -> tuple:
    from tasks.sentiment.training import check_known_labels

    check_known_labels(examples, pipeline.labels)
    return pipeline.labels, [p["label"] for p in pipeline.predict([e.text for e in examples])]


def score(examples, predictions, values, seconds) -> Scored:
    from tasks.sentiment.metric import classification_metrics
    from tasks.sentiment.plots import plot_confusion_matrix

    labels, predicted = predictions
    scores = {**classification_metrics([e.label for e in examples], predicted, labels), "data": str(values["data_file"])}
    return Scored(scores, scores, {"confusion_matrix.png": lambda path: plot_confusion_matrix(path, scores["confusion_matrix"], labels)})


def report(scores: dict, values, path):
    yield f"examples:  {sum(map(sum, scores['confusion_matrix']))}"
    yield f"accuracy:  {scores['accuracy']:.4f}"
    yield f"macro-F1:  {scores['macro_f1']:.4f}"
    yield f"{'label':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"
    for label, row in scores["per_class"].items():
        yield f"{label:<16}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}{row['support']:>9}"
    yield "confusion matrix (rows = true, columns = predicted): " + " ".join(scores["labels"])
    for label, row in zip(scores["labels"], scores["confusion_matrix"]):
        yield f"  {label:<14}" + " ".join(f"{n:>6}" for n in row)
    yield f"wrote {path} and {path.with_name('confusion_matrix.png')}"


EVALUATION = TaskEvaluation(
    data_options=[click.option("--data", "data_file", required=True, type=click.Path(), help="Labelled data to score.")], options=[data_options],
    read=lambda values, log: read(*(values[name] for name in ("data_file", "fmt", "text_column", "label_column", "text_field", "label_field"))),
    predict=predict_labels, score=score, report=report,
    output=Output("--out", "eval_metrics.json", "Where to write eval_metrics.json and confusion_matrix.png [the model directory].", folder=True,
                  overwrite="Write into a non-empty --out folder (other than the model directory)."),
    help="Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (scikit-learn).\n\n"
         "A non-empty --out folder other than the model directory is written into only with --overwrite.",
)

PREDICTION = TaskPrediction(
    show=lambda text, result, values: show(text, result), nothing="no text to classify",
    record=lambda text, result, values: {"text": text, **(result or {"label": None, "probabilities": None})},
    help="Label texts given as arguments, in a file or on stdin ('-' or no argument), one per line.\n\n"
         "Each input line gets one output line; a blank line gets an empty one (JSON: label null).",
)
