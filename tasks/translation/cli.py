"""`nlp-apps translation train | evaluate | predict | demo`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nlp_apps.commands.options import json_lines_option, model_option, predict_lines, read_inputs, recipe_options
from nlp_apps.commands.task_demo import TaskDemo
from nlp_apps.commands.task_train import TaskTraining
from nlp_apps.registry import lazy
from tasks.translation.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS


def decode_options(command):
    for option in reversed([
        click.option("--beam", "beam_size", type=click.IntRange(min=1), default=5, show_default=True, help="Beam size (1 = greedy)."),
        click.option("--alpha", type=float, default=0.6, show_default=True, help="GNMT length penalty (0 = none)."),
        click.option("--max-decode-len", type=click.IntRange(min=1), default=100, show_default=True, help="Longest output, in tokens."),
        click.option("--block-ngram-repeat", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Never repeat an n-gram of this size (0 = off)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Sentences decoded together."),
        click.option("--device", default="cpu", show_default=True),
    ]):
        command = option(command)
    return command


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


@translation.command()
@model_option("translation")
@click.option("--src", required=True, type=click.Path(), help="Sources, one sentence per line.")
@click.option("--ref", "refs", required=True, multiple=True, type=click.Path(), help="Reference translations, line-aligned (repeatable).")
@click.option("--hyps", "hyps_file", type=click.Path(), help="Where to write the translations [MODEL/hypotheses.txt].")
@click.option("--overwrite", is_flag=True, help="Replace an existing --hyps file.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@decode_options
def evaluate(model_dir, src, refs, hyps_file, overwrite, as_json, beam_size, alpha, max_decode_len, block_ngram_repeat, batch_size,
             device) -> None:
    """Translate --src and score it against the references: sacreBLEU BLEU and chrF (13a, detokenised).

    An existing --hyps file is replaced only with --overwrite (the model's own hypotheses.txt always is).
    """
    import time

    from nlp_apps.data.fileio import atomic_write_text, check_new_file
    from nlp_apps.data.readers import count_lines, numbered_lines
    from tasks.translation.metric import translation_metrics
    from tasks.translation.pipeline import load

    default = Path(model_dir) / "hypotheses.txt"
    target = Path(hyps_file) if hyps_file else default
    if target.resolve() != default.resolve():
        check_new_file(target, "--hyps", overwrite)
    sources = [line for _, line in numbered_lines(src)]
    references = []
    for ref in refs:
        if count_lines(ref) != len(sources):
            from nlp_apps.errors import DataError

            raise DataError(ref, f"has {count_lines(ref)} lines but {src} has {len(sources)}; references must be line-aligned")
        references.append([line for _, line in numbered_lines(ref)])
    pipeline = load(model_dir, device=device)
    started = time.perf_counter()
    hypotheses = pipeline.predict(sources, beam_size=beam_size, alpha=alpha, max_length=max_decode_len,
                                  block_ngram_repeat=block_ngram_repeat, batch_size=batch_size)
    seconds = time.perf_counter() - started
    scores = translation_metrics(hypotheses, references)
    scores.update(sentences=len(sources), sentences_per_s=round(len(sources) / seconds, 2), beam=beam_size)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, "\n".join(hypotheses) + "\n")
    if as_json:
        click.echo(json.dumps(scores, indent=2))
        return
    click.echo(scores["bleu_detail"])
    click.echo(f"chrF2 = {scores['chrf']:.2f}")
    click.echo(f"signatures: {scores['bleu_signature']} | {scores['chrf_signature']}")
    click.echo(f"{len(sources)} sentences, {scores['sentences_per_s']:.1f} sentences/s (beam {beam_size}); hypotheses in {target}")


@translation.command()
@model_option("translation")
@click.argument("texts", nargs=-1)
@click.option("--file", "input_file", type=click.Path(), help="Sentences to translate, one per line ('-' = stdin).")
@click.option("--n-best", type=click.IntRange(min=1), default=1, show_default=True, help="Translations per sentence (<= --beam).")
@json_lines_option
@click.option("--plot-attention", type=click.Path(), help="Write the attention heat map of the first sentence to this PNG.")
@decode_options
def predict(model_dir, texts, input_file, n_best, as_json, plot_attention, beam_size, alpha, max_decode_len, block_ngram_repeat,
            batch_size, device) -> None:
    """Translate sentences given as arguments, in a file or on stdin ('-' or nothing), one per line.

    Each input line gets one output line (n-best: --n-best lines, or one JSON object); a blank line gets an empty one.
    """
    from tasks.translation.pipeline import load

    texts = read_inputs(texts, input_file)
    if not texts:
        raise click.UsageError("no sentence to translate")
    if n_best > beam_size:
        raise click.UsageError(f"--n-best {n_best} needs --beam {n_best} or more")
    pipeline = load(model_dir, device=device)
    results = predict_lines(texts, lambda present: pipeline.predict(present, beam_size=beam_size, n_best=n_best, alpha=alpha,
                                                                     max_length=max_decode_len, block_ngram_repeat=block_ngram_repeat,
                                                                     batch_size=batch_size))
    for text, result in zip(texts, results):
        if as_json:
            value = result if n_best == 1 or result is None else [{"translation": t, "score": s} for t, s in result]
            click.echo(json.dumps({"source": text, "translation" if n_best == 1 else "n_best": value}, ensure_ascii=False))
        elif result is None:
            click.echo("")
        elif n_best == 1:
            click.echo(result)
        else:
            click.echo(" ||| ".join(f"{t} ({s:.3f})" for t, s in result))
    first = next((text for text in texts if text.strip()), None)
    if plot_attention and first is not None:
        from tasks.translation.plots import plot_attention as plot

        plot(pipeline, first, Path(plot_attention))
        click.echo(f"wrote the attention heat map of {first!r} to {plot_attention}", err=True)
