"""Commands that use a language model as it is: perplexity, generate, and the demo."""

from __future__ import annotations

import json
from importlib import resources

import click

MODEL_HELP = "Model directory written by `nlp-apps pretrain`, or 'default' for the shipped backbone."


@click.command()
@click.option("--model", "model_dir", default="default", show_default=True, help=MODEL_HELP)
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--direction", type=click.Choice(["forward", "backward"]), default="forward", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Blocks of text scored side by side (speed only: the result does not depend on it).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def perplexity(model_dir: str, file: str, direction: str, batch_size: int, as_json: bool) -> None:
    """Token-level and word-level perplexity of FILE under a language model.

    FILE is read as in pretraining, the state carried from line to line, in blocks of whole
    lines (about 2048 tokens) that each start as a new text; the same as `nlp_apps.load(model).perplexity(text)`.
    Word-level perplexity is exp(total NLL / (whitespace words + lines)), so models with
    different tokenizers (subword or word) are comparable on the same text.
    """
    from nlp_apps.data.token_files import encode_corpus_in_memory
    from nlp_apps.io.loading import load_language_model_pipeline
    from nlp_apps.models.lm import score_tokens

    pipeline = load_language_model_pipeline(model_dir)
    if direction not in pipeline.model.config.directions:
        raise click.UsageError(f"{model_dir} has no {direction} language model (it has: {', '.join(pipeline.model.config.directions)})")
    tokens, words = encode_corpus_in_memory(file, pipeline.tokenizer)
    result = score_tokens(pipeline.model, tokens, words, batch_size=batch_size, direction=direction)
    if as_json:
        click.echo(json.dumps({"file": file, "model": model_dir, "direction": direction, **result.to_dict()}))
    else:
        click.echo(f"file:                  {file}")
        click.echo(f"tokens / words:        {result.tokens:,} / {result.words:,}")
        click.echo(f"token-level perplexity {result.token_perplexity:.2f}")
        click.echo(f"word-level perplexity  {result.word_perplexity:.2f}")


@click.command()
@click.option("--model", "model_dir", default="default", show_default=True, help=MODEL_HELP)
@click.option("--prompt", required=True, help="Text to continue.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0), default=0.8, show_default=True, help="0 = greedy.")
@click.option("--top-k", type=click.IntRange(min=0), default=0, show_default=True, help="Sample from the k best (0 = all).")
@click.option("--top-p", type=click.FloatRange(0, 1), default=0.95, show_default=True, help="Nucleus sampling mass.")
@click.option("--seed", type=int, default=None, help="Seed for reproducible samples.")
def generate(model_dir: str, prompt: str, max_tokens: int, temperature: float, top_k: int, top_p: float, seed) -> None:
    """Continue a prompt by sampling from a language model.

    The prompt starts a text, and the continuation starts after its last word (never inside it).
    """
    from nlp_apps.io.loading import load_language_model_pipeline

    if not prompt.strip():
        raise click.BadParameter("is empty: give some text to continue", param_hint="'--prompt'")
    pipeline = load_language_model_pipeline(model_dir)
    text = pipeline.generate(prompt, max_tokens=max_tokens, temperature=temperature, top_k=top_k or None, top_p=top_p, seed=seed)
    click.echo(prompt + text)


@click.command()
@click.option("--model", "model_dir", default="default", show_default=True, help=MODEL_HELP)
@click.option("--seed", type=int, default=0, show_default=True)
def demo(model_dir: str, seed: int) -> None:
    """The quickstart: score a short demo text with the shipped backbone and continue a prompt."""
    from nlp_apps.io.loading import load_language_model_pipeline

    pipeline = load_language_model_pipeline(model_dir)
    config = pipeline.config["backbone"]
    click.echo(
        f"model: {pipeline.path} ({config['cell']}, {config['num_layers']} layers, "
        f"hidden {config['hidden_size']}, vocab {config['vocab_size']}, "
        f"{'forward + backward' if config['bidirectional'] else 'forward'})"
    )
    text = resources.files("nlp_apps").joinpath("resources/demo.txt").read_text(encoding="utf-8")
    result = pipeline.perplexity(text)
    click.echo(f"demo text: {result.words:,} words -> token perplexity {result.token_perplexity:.1f}, word perplexity {result.word_perplexity:.1f}")
    prompt = "The lamplighter turned up his collar and"
    continuation = pipeline.generate(prompt, max_tokens=60, temperature=0.8, top_p=0.95, seed=seed)
    click.echo(f"prompt: {prompt}")
    click.echo(f"continuation: {prompt}{continuation}")
