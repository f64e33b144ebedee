"""`nlp-apps translation train | evaluate | predict | demo`."""

from __future__ import annotations

from pathlib import Path

import click

from nlp_apps.commands.options import option_group, recipe_options
from nlp_apps.commands.task_demo import TaskDemo
from nlp_apps.commands.task_evaluate import Output, Scored, TaskEvaluation
from nlp_apps.commands.task_predict import TaskPrediction
from nlp_apps.commands.task_train import TaskTraining
from nlp_apps.registry import lazy
from tasks.translation.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS

decode_options = option_group(  # evaluate's and predict's
    click.option("--beam", "beam_size", type=click.IntRange(min=1), default=5, show_default=True, help="Beam size (1 = greedy)."),
    click.option("--alpha", type=float, default=0.6, show_default=True, help="GNMT length penalty (0 = none)."),
    click.option("--max-decode-len", type=click.IntRange(min=1), default=100, show_default=True, help="Longest output, in tokens."),
    click.option("--block-ngram-repeat", type=click.IntRange(min=0), default=0, show_default=True, help="Never repeat an n-gram of this size (0 = off)."),
    click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Sentences decoded together."),
    click.option("--device", default="cpu", show_default=True),
)


@click.group()
def translation() -> None:
    """Translation: an attention encoder-decoder initialised from language-model backbones."""


TRAIN_OPTIONS = [
    click.option("--src", type=click.Path(), help="Training sources, one sentence per line (with --tgt)."),
    click.option("--tgt", type=click.Path(), help="Training targets, line-aligned with --src."),
    click.option("--train", "train_file", type=click.Path(), help="Training pairs in one file: TSV (source<TAB>target), CSV or JSONL."),
    click.option("--valid-src", type=click.Path(), help="Validation sources (with --valid-tgt)."),
    click.option("--valid-tgt", type=click.Path(), help="Validation references."),
    click.option("--valid", "valid_file", type=click.Path(), help="Validation pairs in one file."),
    click.option("--src-field", help="Source column/key of --train/--valid files [source, or column 0]."),
    click.option("--tgt-field", help="Target column/key of --train/--valid files [target, or column 1]."),
    click.option("--src-backbone", default="none", show_default=True, help="Encoder init: 'default', a pretrained LM directory, or 'none' (random)."),
    click.option("--tgt-backbone", default="default", show_default=True, help="Decoder init: 'default' (the shipped English LM), a directory, or 'none'."),
    click.option("--attention", type=click.Choice(["general", "bahdanau"]), default="general", show_default=True, help="Luong general or Bahdanau."),
    click.option("--input-feeding/--no-input-feeding", default=True, show_default=True, help="Feed the last attentional vector to the decoder."),
    click.option("--label-smoothing", type=float, default=0.1, show_default=True),
    *recipe_options(["backbone_dropout", "batch_size"], RECIPE_DEFAULTS,
                    {"backbone_dropout": "Dropout inside the backbones and before the output layer.", "batch_size": "Sentence pairs per batch."}),
    click.option("--max-source-len", type=click.IntRange(min=1), default=100, show_default=True, help="Longer sources are cut (counted)."),
    click.option("--max-target-len", type=click.IntRange(min=1), default=100, show_default=True, help="Longer targets are cut (counted)."),
    click.option("--max-decode-len", type=click.IntRange(min=1), default=100, show_default=True, help="Longest validation output."),
    *recipe_options(["lm_finetune", "discriminative_lr", "lr_decay", "gradual_unfreezing"], RECIPE_DEFAULTS,
                    {"lm_finetune": "Fine-tune the target LM on the targets first."}),
]


def summary(best: dict) -> str:
    return f"best validation BLEU {best.get('bleu', 0):.2f}, chrF {best.get('chrf', 0):.2f} (greedy)"


DEMO = TaskDemo(
    train_options={"time_budget": 85.0, "batch_size": 16, "lr": 5e-3, "src_backbone": "none", "eval_every": 100, "progress": False, "patience": 100},
    examples=("Ein Hund läuft.", "Die alte Frau findet einen roten Ball im Park.", "Das Mädchen malt die Katze."),
    show=lambda source, translation: f"{source} -> {translation}",
    backbone="tgt_backbone",
)

TRAINING = TaskTraining(
    options=TRAIN_OPTIONS, configure=lazy("tasks.translation.training:configure"), fit=lazy("tasks.translation.training:fit"),
    summary=summary, trainer_defaults=TRAINER_DEFAULTS,
    help="Train a translator; early stopping on validation BLEU (greedy decoding).",
    examples=("nlp-apps translation train --src train.de --tgt train.en --valid-src val.de --valid-tgt val.en --out runs/de-en --time-budget 60m",
              "nlp-apps translation train --train train.tsv --valid val.tsv --out runs/mt"),
    demo=DEMO,
)


def translate(pipeline, texts: list, values: dict) -> list:
    """The translations of `texts` with the decoding options (n-best: lists of (translation, score)); with
    --plot-attention, the attention heat map of the first text too."""
    results = pipeline.predict(texts, beam_size=values["beam_size"], n_best=values.get("n_best", 1), alpha=values["alpha"],
                               max_length=values["max_decode_len"], block_ngram_repeat=values["block_ngram_repeat"], batch_size=values["batch_size"])
    if values.get("plot_attention"):
        from tasks.translation.plots import plot_attention

        plot_attention(pipeline, texts[0], Path(values["plot_attention"]))
        click.echo(f"wrote the attention heat map of {texts[0]!r} to {values['plot_attention']}", err=True)
    return results


def read_parallel(values: dict, log) -> tuple[list, list]:
    from nlp_apps.data.readers import count_lines, numbered_lines
    from nlp_apps.errors import DataError

    sources, references = [line for _, line in numbered_lines(values["src"])], []
    for ref in values["refs"]:
        if count_lines(ref) != len(sources):
            raise DataError(ref, f"has {count_lines(ref)} lines but {values['src']} has {len(sources)}; references must be line-aligned")
        references.append([line for _, line in numbered_lines(ref)])
    return sources, references


def score(data, hypotheses: list, values: dict, seconds: float) -> Scored:
    from tasks.translation.metric import translation_metrics

    scores = translation_metrics(hypotheses, data[1])
    scores.update(sentences=len(data[0]), sentences_per_s=round(len(data[0]) / seconds, 2), beam=values["beam_size"])
    return Scored(scores, hypotheses)


def check_n_best(values: dict) -> None:
    if values["n_best"] > values["beam_size"]:
        raise ValueError(f"--n-best {values['n_best']} needs --beam {values['n_best']} or more")


EVALUATION = TaskEvaluation(
    data_options=[click.option("--src", required=True, type=click.Path(), help="Sources, one sentence per line."),
                  click.option("--ref", "refs", required=True, multiple=True, type=click.Path(), help="Reference translations, line-aligned (repeatable).")],
    options=[decode_options], read=read_parallel, predict=lambda pipeline, data, values: translate(pipeline, data[0], values), score=score,
    report=lambda scores, values, path: [
        scores["bleu_detail"], f"chrF2 = {scores['chrf']:.2f}", f"signatures: {scores['bleu_signature']} | {scores['chrf_signature']}",
        f"{scores['sentences']} sentences, {scores['sentences_per_s']:.1f} sentences/s (beam {values['beam_size']}); hypotheses in {path}"],
    output=Output("--hyps", "hypotheses.txt", "Where to write the translations [MODEL/hypotheses.txt].", overwrite="Replace an existing --hyps file."),
    indent=2,
    help="Translate --src and score it against the references: sacreBLEU BLEU and chrF (13a, detokenised).\n\n"
         "An existing --hyps file is replaced only with --overwrite (the model's own hypotheses.txt always is).",
)

PREDICTION = TaskPrediction(
    show=lambda source, result, values: result if values["n_best"] == 1 else " ||| ".join(f"{t} ({s:.3f})" for t, s in result),
    record=lambda source, result, values: {"source": source, "translation": result} if values["n_best"] == 1
    else {"source": source, "n_best": result and [{"translation": t, "score": s} for t, s in result]},
    nothing="no sentence to translate", file_help="Sentences to translate, one per line ('-' = stdin).", check=check_n_best, predict=translate,
    options=[click.option("--n-best", type=click.IntRange(min=1), default=1, show_default=True, help="Translations per sentence (<= --beam)."),
             click.option("--plot-attention", type=click.Path(), help="Write the attention heat map of the first sentence to this PNG."),
             decode_options],
    help="Translate sentences given as arguments, in a file or on stdin ('-' or nothing), one per line.\n\n"
         "Each input line gets one output line (n-best: the translations joined by ' ||| ', or one JSON object); a blank line gets an empty one.",
)
