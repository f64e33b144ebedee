"""`nlp-apps translation train | evaluate | predict | demo`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nlp_apps.commands.options import read_inputs, report_run, resume_overrides, trainer_options, trainer_values

TRAINER_DEFAULTS = dict(epochs=30, lr=2e-3, schedule="cosine", warmup=0.02, patience=6, clip=1.0)


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


def _read(path, src, tgt, src_field, tgt_field, what: str, log):
    from tasks.translation.adapter import read_pairs

    if path is None and src is None:
        raise click.UsageError(f"give the {what} pairs: --{what} FILE (TSV/CSV/JSONL) or --{'valid-' if what == 'valid' else ''}src "
                               f"with --{'valid-' if what == 'valid' else ''}tgt")
    result = read_pairs(path, src=src, tgt=tgt, src_field=src_field, tgt_field=tgt_field)
    if result.skipped_empty:
        log(f"{what}: skipped {result.skipped_empty:,} pair(s) with an empty side")
    return result.pairs


@translation.command()
@click.option("--src", type=click.Path(), help="Training sources, one sentence per line (with --tgt).")
@click.option("--tgt", type=click.Path(), help="Training targets, line-aligned with --src.")
@click.option("--train", "train_file", type=click.Path(), help="Training pairs in one file: TSV (source<TAB>target), CSV or JSONL.")
@click.option("--valid-src", type=click.Path(), help="Validation sources (with --valid-tgt).")
@click.option("--valid-tgt", type=click.Path(), help="Validation references.")
@click.option("--valid", "valid_file", type=click.Path(), help="Validation pairs in one file.")
@click.option("--src-field", help="Source column/key of --train/--valid files [source, or column 0].")
@click.option("--tgt-field", help="Target column/key of --train/--valid files [target, or column 1].")
@click.option("--out", "out_dir", type=click.Path(), help="Model directory to write.")
@click.option("--resume", "resume_dir", type=click.Path(), help="Continue the interrupted run in this directory.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier run in --out.")
@click.option("--src-backbone", default="none", show_default=True, help="Encoder init: 'default', a pretrained LM directory, or 'none' (random).")
@click.option("--tgt-backbone", default="default", show_default=True, help="Decoder init: 'default' (the shipped English LM), a directory, or 'none'.")
@click.option("--attention", type=click.Choice(["general", "bahdanau"]), default="general", show_default=True, help="Luong general or Bahdanau.")
@click.option("--input-feeding/--no-input-feeding", default=True, show_default=True, help="Feed the last attentional vector to the decoder.")
@click.option("--label-smoothing", type=float, default=0.1, show_default=True)
@click.option("--dropout", type=float, default=0.2, show_default=True, help="Dropout inside the backbones and before the output layer.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Sentence pairs per batch.")
@click.option("--max-source-len", type=click.IntRange(min=1), default=100, show_default=True, help="Longer sources are cut (counted).")
@click.option("--max-target-len", type=click.IntRange(min=1), default=100, show_default=True, help="Longer targets are cut (counted).")
@click.option("--max-decode-len", type=click.IntRange(min=1), default=100, show_default=True, help="Longest validation output.")
@click.option("--lm-finetune/--no-lm-finetune", default=False, show_default=True, help="Fine-tune the target LM on the targets first.")
@click.option("--discriminative-lr/--no-discriminative-lr", default=False, show_default=True)
@click.option("--gradual-unfreezing/--no-gradual-unfreezing", default=False, show_default=True)
@click.option("--device", default="auto", show_default=True)
@trainer_options(defaults=TRAINER_DEFAULTS)
def train(src, tgt, train_file, valid_src, valid_tgt, valid_file, src_field, tgt_field, out_dir, resume_dir, overwrite, src_backbone,
          tgt_backbone, attention, input_feeding, label_smoothing, dropout, batch_size, max_source_len, max_target_len, max_decode_len,
          lm_finetune, discriminative_lr, gradual_unfreezing, device, **options) -> None:
    """Train a translator; early stopping on validation BLEU (greedy decoding).

    \b
    nlp-apps translation train --src train.de --tgt train.en --valid-src val.de --valid-tgt val.en --out runs/de-en --time-budget 60m
    nlp-apps translation train --train train.tsv --valid val.tsv --out runs/mt
    nlp-apps translation train --resume runs/de-en        # after Ctrl-C / SIGTERM
    """
    from nlp_apps.training import distributed
    from nlp_apps.training.finetune import RecipeConfig
    from nlp_apps.training.runs import check_batch_shares, new_run, read_run_config, write_run_config
    from nlp_apps.training.trainer import TrainerConfig
    from tasks.translation.head import TranslatorConfig
    from tasks.translation.training import DataLimits, train_translator

    distributed.init_from_env()
    log = (lambda m: click.echo(m, err=True)) if distributed.is_main() else (lambda m: None)
    if resume_dir:
        run = read_run_config(resume_dir)
        run["trainer"].update(resume_overrides(options))
        write_run_config(resume_dir, run)
        data = run["data"]
        result = train_translator(_read(*data["train"], "train", log), _read(*data["valid"], "valid", log), resume_dir, resume=True,
                                  src_backbone=run["src_backbone"], tgt_backbone=run["tgt_backbone"],
                                  head=TranslatorConfig.from_dict(run["head"]), recipe=RecipeConfig.from_dict(run["recipe"]),
                                  trainer=TrainerConfig.from_dict(run["trainer"]), limits=DataLimits(**run["limits"]),
                                  device=run["device"], log=log)
        return report(result, resume_dir)
    if not out_dir:
        raise click.UsageError("--out is required (or use --resume DIR)")
    train_spec = [train_file, src, tgt, src_field, tgt_field]
    valid_spec = [valid_file, valid_src, valid_tgt, src_field, tgt_field]
    train_pairs, valid_pairs = _read(*train_spec, "train", log), _read(*valid_spec, "valid", log)
    try:
        head = TranslatorConfig(attention=attention, input_feeding=input_feeding, label_smoothing=label_smoothing, dropout=dropout)
        recipe = RecipeConfig(lm_finetune=lm_finetune, discriminative_lr=discriminative_lr, gradual_unfreezing=gradual_unfreezing,
                              backbone_dropout=dropout, batch_size=batch_size)
        trainer = TrainerConfig(**{**TRAINER_DEFAULTS, **trainer_values(options)})
        limits = DataLimits(max_source_len=max_source_len, max_target_len=max_target_len, max_decode_len=max_decode_len)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    check_batch_shares(batch_size)
    run_config = {"data": {"train": [str(v) if v is not None else None for v in train_spec],
                           "valid": [str(v) if v is not None else None for v in valid_spec]},
                  "src_backbone": src_backbone, "tgt_backbone": tgt_backbone, "device": device, "head": head.to_dict(),
                  "recipe": recipe.to_dict(), "trainer": trainer.to_dict(), "limits": limits.__dict__}
    with new_run(out_dir, overwrite=overwrite, run_config=run_config):
        result = train_translator(train_pairs, valid_pairs, out_dir, src_backbone=src_backbone, tgt_backbone=tgt_backbone, head=head,
                                  recipe=recipe, trainer=trainer, limits=limits, device=device,
                                  data_files=[v for v in (train_file, src, tgt, valid_file, valid_src, valid_tgt) if v], log=log)
    report(result, out_dir)


def report(result, out_dir) -> None:
    from nlp_apps.training import distributed

    if not distributed.is_main():
        return
    best = result.metrics
    summary = f"best validation BLEU {best.get('bleu', 0):.2f}, chrF {best.get('chrf', 0):.2f} (greedy)" if best else None
    report_run(result, out_dir, "translation train", summary)


@translation.command()
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A model directory from `translation train`.")
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
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A model directory from `translation train`.")
@click.argument("texts", nargs=-1)
@click.option("--file", "input_file", type=click.Path(), help="Sentences to translate, one per line ('-' = stdin).")
@click.option("--n-best", type=click.IntRange(min=1), default=1, show_default=True, help="Translations per sentence (<= --beam).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
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
    present = [t for t in texts if t.strip()]
    outputs = iter(pipeline.predict(present, beam_size=beam_size, n_best=n_best, alpha=alpha, max_length=max_decode_len,
                                    block_ngram_repeat=block_ngram_repeat, batch_size=batch_size) if present else [])
    for text in texts:
        result = next(outputs) if text.strip() else None
        if as_json:
            value = result if n_best == 1 or result is None else [{"translation": t, "score": s} for t, s in result]
            click.echo(json.dumps({"source": text, "translation" if n_best == 1 else "n_best": value}, ensure_ascii=False))
        elif result is None:
            click.echo("")
        elif n_best == 1:
            click.echo(result)
        else:
            click.echo(" ||| ".join(f"{t} ({s:.3f})" for t, s in result))
    if plot_attention and present:
        from tasks.translation.plots import plot_attention as plot

        plot(pipeline, present[0], Path(plot_attention))
        click.echo(f"wrote the attention heat map of {present[0]!r} to {plot_attention}", err=True)


@translation.command()
@click.option("--out", "out_dir", default="runs/translation-demo", show_default=True, type=click.Path(), help="Where to write the model.")
@click.option("--backbone", default="default", show_default=True, help="Target-side (English) backbone: 'default' or a directory.")
@click.option("--time-budget", default="3m", show_default=True, help="Training time.")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(out_dir, backbone, time_budget, seed) -> None:
    """The quickstart: train German->English on the shipped demo pairs, evaluate, translate three sentences."""
    from nlp_apps.commands.options import duration
    from tasks.translation import demo_files

    files = demo_files()
    ctx = click.get_current_context()
    click.echo(f"== training on {files['train']} (validation: {files['valid']}) for {time_budget}")
    ctx.invoke(train, train_file=files["train"], valid_file=files["valid"], out_dir=out_dir, overwrite=True, tgt_backbone=backbone,
               src_backbone="none", time_budget=duration.convert(time_budget, None, None), seed=seed, eval_every=100,
               progress=False, patience=100)
    click.echo("== evaluating (beam 5)")
    import tempfile

    from tasks.translation.adapter import read_pairs

    pairs = read_pairs(files["valid"]).pairs
    with tempfile.TemporaryDirectory() as tmp:
        src, ref = Path(tmp) / "valid.de", Path(tmp) / "valid.en"
        src.write_text("\n".join(p.source for p in pairs) + "\n", encoding="utf-8")
        ref.write_text("\n".join(p.target for p in pairs) + "\n", encoding="utf-8")
        ctx.invoke(evaluate, model_dir=out_dir, src=str(src), refs=(str(ref),), hyps_file=None, as_json=False)
    click.echo("== translating")
    ctx.invoke(predict, model_dir=out_dir, texts=("Ein Hund läuft.", "Die alte Frau findet einen roten Ball im Park.",
                                                   "Das Mädchen malt die Katze."), input_file=None)
