"""`nlp-apps pretrain`: train a tokenizer and an RNN language model on raw text."""

from __future__ import annotations

import click

from nlp_apps.commands.options import report_run, resume_overrides, trainer_options, trainer_values

# Options left unset fall back to the dataclass defaults, so each default lives in one place.
BACKBONE_OPTIONS = {
    "cell": "cell",
    "activation": "activation",
    "layers": "num_layers",
    "emb_size": "emb_size",
    "hidden_size": "hidden_size",
    "tie_weights": "tie_weights",
    "bidirectional": "bidirectional",
    "embed_dropout": "embed_dropout",
    "input_dropout": "input_dropout",
    "hidden_dropout": "hidden_dropout",
    "output_dropout": "output_dropout",
    "weight_dropout": "weight_dropout",
}
RUN_OPTIONS = ("tokenizer", "vocab_size", "batch_size", "bptt", "variable_length", "half", "device", "valid_tokens", "init_from")
ARCHITECTURE_OPTIONS = ("cell", "activation", "layers", "emb_size", "hidden_size", "tie_weights", "bidirectional")
SIZE_OPTIONS = ("layers", "emb_size", "hidden_size")  # none given (and no --init-from): the run picks the size
AUTO_RUN_OPTIONS = ("batch_size", "bptt")  # picked with the size unless given
OPTIMIZER_OPTIONS = ("optimizer", "weight_decay", "lr")  # any given: the optimizer is not picked (a rate or decay meant for AdamW)
DROPOUT_OPTIONS = tuple(option for option in BACKBONE_OPTIONS if option.endswith("dropout"))  # any given: no dropout is picked


def auto_size_settings(options: dict) -> list[str]:
    """What the run picks from its corpus size and time budget (nlp_apps/training/model_size.py): the model
    size, and the batch, BPTT, optimizer, peak rate and dropouts left unset (and, with a time budget, no epoch
    cap), when no size option and no --init-from is given (the rate only where the run's optimizer is the
    tier's: see pick_size)."""
    if options.get("init_from") or any(options.get(o) is not None for o in SIZE_OPTIONS):
        return []
    picked = ["model", *(o for o in AUTO_RUN_OPTIONS if options.get(o) is None)]
    if all(options.get(o) is None for o in OPTIMIZER_OPTIONS):
        picked.append("optimizer")
    if options.get("lr") is None:
        picked.append("lr")
    if all(options.get(o) is None for o in DROPOUT_OPTIONS):
        picked.append("dropout")
    if options.get("epochs") is None and options.get("time_budget") is not None:
        picked.append("epochs")
    return picked


@click.command()
@click.option("--train", "train_files", multiple=True, type=click.Path(dir_okay=True),
              help="Training corpus: UTF-8 text, a document per line (or .jsonl with a 'text' field). Repeat for a mix.")
@click.option("--valid", "valid_files", multiple=True, type=click.Path(dir_okay=True),
              help="Validation file, one per --train in the same order; perplexity is reported per corpus.")
@click.option("--weight", "weights", multiple=True, type=float,
              help="Sampling weight per --train: its text appears this many times per epoch of the mix [1].")
@click.option("--paragraphs", is_flag=True, default=None,
              help="A document is a blank-line-separated paragraph with its lines joined (hard-wrapped text).")
@click.option("--corpora", "corpora_file", type=click.Path(dir_okay=False),
              help="JSON file listing the corpora (name, train, valid or holdout, weight, paragraphs); replaces --train.")
@click.option("--valid-tokens", type=int, help="Validate on at most this many tokens per corpus [all].")
@click.option("--init-from", help="Start from this language model ('default' or a directory): its weights, tokenizer and architecture.")
@click.option("--out", "out_dir", type=click.Path(file_okay=True), help="Run directory (becomes the model directory).")
@click.option("--resume", "resume_dir", type=click.Path(), help="Continue the interrupted run in this directory.")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
@click.option("--tokenizer", type=click.Choice(["sentencepiece", "word"]), help="Subword (default) or word vocabulary.")
@click.option("--vocab-size", type=int, help="Tokenizer size [8000, or the most a small corpus supports].")
@click.option("--cell", type=click.Choice(["rnn", "gru", "lstm"]), help="Recurrent cell [lstm].")
@click.option("--activation", type=click.Choice(["tanh", "relu", "sigmoid"]), help="Activation of cell rnn [tanh].")
@click.option("--layers", type=int, help="Recurrent layers [picked from the corpus and budget: 1 or 2].")
@click.option("--emb-size", type=int, help="Embedding size [picked: 192 to 256].")
@click.option("--hidden-size", type=int, help="Hidden size [picked: 192 to 768].")
@click.option("--tie-weights/--no-tie-weights", default=None, help="Tie the decoder to the embedding [tied].")
@click.option("--bidirectional/--forward-only", default=None, help="Also train a backward LM [forward only].")
@click.option("--embed-dropout", type=float, help="Embedding (word-type) dropout [0].")
@click.option("--input-dropout", type=float, help="Locked dropout on embeddings [picked: 0.1 or 0.2].")
@click.option("--hidden-dropout", type=float, help="Locked dropout between layers [picked: 0.1 or 0.2].")
@click.option("--output-dropout", type=float, help="Locked dropout on the top layer [picked: 0.1 or 0.2].")
@click.option("--weight-dropout", type=float, help="DropConnect on recurrent weights [0].")
@click.option("--batch-size", type=int, help="Rows of the BPTT batch [32; picked: 16 or 20 for a small model].")
@click.option("--bptt", type=int, help="Truncated BPTT length [70; picked: 35 for a small model].")
@click.option("--variable-length/--fixed-length", default=None, help="Vary the BPTT length per step [vary].")
@click.option("--half", is_flag=True, default=None, help="Store the best model's weights in float16.")
@click.option("--device", help="cpu, cuda, cuda:N or auto [auto].")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON object (status, steps, scores, model directory) instead of the last line.")
@trainer_options(defaults={"lr": "0.003; picked: 0.01 (small model), 20 (compact, SGD)", "optimizer": "adamw; picked: sgd for a compact model"})
def pretrain(train_files, valid_files, weights, paragraphs, corpora_file, out_dir, resume_dir, overwrite, as_json, **options) -> None:
    """Train a subword tokenizer and an RNN language model on raw text.

    \b
    nlp-apps pretrain --train train.txt --valid valid.txt --out runs/lm --time-budget 30m
    nlp-apps pretrain --resume runs/lm            # continue after Ctrl-C / SIGTERM
    nlp-apps pretrain --train a.txt --valid a-valid.txt --train b.txt --valid b-valid.txt \\
        --weight 1 --weight 2 --out runs/mix     # a mix; perplexity per corpus

    Each epoch (or each --eval-every steps) is validated; the best model is written to OUT,
    the latest resumable state to OUT/last.

    Without --layers, --emb-size, --hidden-size and --init-from, the model is sized to the corpus and
    the time budget (with the batch, BPTT, optimizer, peak lr and dropouts, where not given; with
    --time-budget and no --epochs, the budget alone ends the run): a budget
    under 10 minutes gets a small, fast model (LSTM 1x192), a small corpus (under 1M training tokens)
    or a budget under an hour LSTM 2x200 trained with SGD, a large corpus with a long budget LSTM
    2x768. The run prints what it picked.
    """
    from nlp_apps.models.backbone import BackboneConfig
    from nlp_apps.training import distributed
    from nlp_apps.training.pretraining import PretrainConfig, resume_pretraining
    from nlp_apps.training.pretraining import pretrain as run_pretrain
    from nlp_apps.training.trainer import TrainerConfig

    log = lambda message: click.echo(message, err=True)
    if resume_dir:
        overrides = resume_overrides(options)
        result = resume_pretraining(resume_dir, overrides=overrides, log=log)
        out_dir = resume_dir
    else:
        from nlp_apps.data.corpora import read_corpora_file, specs_from_options

        if not out_dir:
            raise click.UsageError("--out is required (or use --resume DIR)")
        if corpora_file and (train_files or valid_files or weights or paragraphs):
            raise click.UsageError("--corpora lists the corpora; do not combine it with --train, --valid, --weight or --paragraphs")
        if not corpora_file and not train_files:
            raise click.UsageError("--train (with --valid) or --corpora is required (or use --resume DIR)")
        try:
            corpora = read_corpora_file(corpora_file) if corpora_file else specs_from_options(
                train_files, valid_files, weights, bool(paragraphs))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        backbone = {field: options[opt] for opt, field in BACKBONE_OPTIONS.items() if options.get(opt) is not None}
        if options.get("init_from"):
            fixed = [f"--{o.replace('_', '-')}" for o in (*ARCHITECTURE_OPTIONS, "tokenizer", "vocab_size") if options.get(o) is not None]
            if fixed:
                raise click.UsageError(f"{', '.join(fixed)} cannot be set with --init-from: the starting model fixes them")
            from nlp_apps.io.checkpoint import read_config, resolve_model_dir

            backbone = {**read_config(resolve_model_dir(options["init_from"]))["backbone"], **backbone}
        run_values = {k: options[k] for k in RUN_OPTIONS if options.get(k) is not None}
        try:
            run = PretrainConfig(
                corpora=corpora,
                backbone=BackboneConfig(**backbone),
                auto_size=auto_size_settings(options),
                trainer=TrainerConfig(**trainer_values(options)),
                **run_values,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        result = run_pretrain(run, out_dir, overwrite=overwrite, log=log)
    if not distributed.is_main():
        return  # process 0 reports for all
    summary = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if isinstance(v, float))
    report_run(result, out_dir, "pretrain", f"best: {summary or 'none'}", as_json)
