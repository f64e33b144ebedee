"""`nlp_apps.load(path)`: any model directory, ready to use on raw text."""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path

import torch

from nlp_apps.data.inputs import check_text
from nlp_apps.data.token_files import encode_text
from nlp_apps.data.tokenizer import EOS_ID
from nlp_apps.io.checkpoint import load_language_model, read_model_config, resolve_model_dir
from nlp_apps.models.lm import PerplexityResult, Sampling, score_streams, score_tokens
from nlp_apps.precision import check_precision, inference


class LanguageModelPipeline:
    """A language model with its tokenizer: perplexity of text, and sampled continuations."""

    def __init__(self, model, tokenizer, config: dict, path: Path):
        self.model, self.tokenizer, self.config, self.path = model, tokenizer, config, path
        self.model.eval()

    @inference
    def perplexity(self, text: str, direction: str = "forward") -> PerplexityResult:
        """Perplexity of `text`, read as `nlp-apps perplexity` reads a file (see `score_tokens`)."""
        tokens, words = encode_text(check_text(text), self.tokenizer)
        if words == 0:
            raise ValueError("the text holds no words")
        return score_tokens(self.model, tokens, words, direction=direction)

    @inference
    def perplexity_batch(self, texts: list[str], direction: str = "forward", batch_size: int = 16) -> list[PerplexityResult]:
        """`perplexity` of each text, the texts scored side by side (`score_streams`): each result is the
        one `perplexity` gives the text alone, up to float rounding."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings (for one text, use perplexity)")
        streams = []
        for index, text in enumerate(texts):
            tokens, words = encode_text(check_text(text), self.tokenizer)
            if words == 0:
                raise ValueError(f"text {index}: holds no words")
            streams.append((tokens, words))
        return score_streams(self.model, streams, batch_size=batch_size, direction=direction)

    @inference
    def generate(
        self,
        prompt: str,
        max_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop_at_newline: bool = False,
    ) -> str:
        """The continuation of `prompt` (without the prompt). </s> becomes a newline.

        The prompt is the beginning of a text (read from the start state, like every text) and
        must hold some non-space text. It ends where it ends: the continuation never glues
        letters or digits onto its last word ("The old man" may go on with " said", "'s" or
        ",", never "men"). <pad>, <unk> and <s> are never sampled.
        """
        return self.generate_batch([prompt], max_tokens, temperature, top_k, top_p, seed, stop_at_newline)[0]

    @inference
    def generate_batch(
        self,
        prompts: list[str],
        max_tokens: int | list[int] = 50,
        temperature: float | list[float] = 1.0,
        top_k: int | None | list[int | None] = None,
        top_p: float | None | list[float | None] = None,
        seed: int | None | list[int | None] = None,
        stop_at_newline: bool | list[bool] = False,
    ) -> list[str]:
        """`generate` for many prompts, sampled side by side (`RNNLanguageModel.generate_batch`).

        Each option is one value for every prompt or a list with one per prompt. Each prompt with a
        seed samples with its own generator seeded with it, so its text is the one `generate` gives
        it alone (the same seed on two prompts: two generators, each as if alone).
        """
        if isinstance(prompts, str):
            raise TypeError("prompts must be a list of strings (for one prompt, use generate)")
        options = dict(max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, stop_at_newline=stop_at_newline)
        for name, value in options.items():
            if isinstance(value, (list, tuple)) and len(value) != len(prompts):
                raise ValueError(f"{name}: give one value, or one per prompt ({len(prompts)}), not {len(value)}")
        rows = [{name: value[i] if isinstance(value, (list, tuple)) else value for name, value in options.items()} for i in range(len(prompts))]
        for prompt in prompts:
            if not check_text(prompt, "prompt").strip():
                raise ValueError("the prompt is empty: give some text to continue")
        prompt_ids = [self.tokenizer.encode(prompt) for prompt in prompts]
        sampling = [
            Sampling(max_new_tokens=row["max_tokens"], temperature=row["temperature"], top_k=row["top_k"], top_p=row["top_p"],
                     stop_ids=(EOS_ID,) if row["stop_at_newline"] else (),
                     first_banned_ids=self.word_continuations if prompt[-1].isalnum() else (),
                     generator=torch.Generator().manual_seed(row["seed"]) if row["seed"] is not None else None)
            for prompt, row in zip(prompts, rows)
        ]
        new_ids = self.model.generate_batch(prompt_ids, sampling)
        # Decode prompt and continuation together: a subword tokenizer puts the space before a
        # word into that word's first piece, which decoding on its own would drop.
        texts = []
        for ids, new in zip(prompt_ids, new_ids):
            prompt_text = decode_lines(self.tokenizer, ids)
            texts.append(decode_lines(self.tokenizer, ids + new).removeprefix(prompt_text))
        return texts

    @cached_property
    def word_continuations(self) -> tuple[int, ...]:
        return word_continuation_ids(self.tokenizer)


def decode_lines(tokenizer, ids: list[int]) -> str:
    lines, current = [], []
    for token_id in ids:
        if token_id == EOS_ID:
            lines.append(tokenizer.decode(current))
            current = []
        else:
            current.append(token_id)
    lines.append(tokenizer.decode(current))
    return "\n".join(lines)


BYTE_PIECE = re.compile(r"^<0x[0-9A-F]{2}>$")


def word_continuation_ids(tokenizer) -> tuple[int, ...]:
    """Ids that would extend the word before them: a sentencepiece piece that starts with a letter
    or digit rather than with "▁" (a space), or a byte piece. A word vocabulary has none (its
    decoding puts a space between any two tokens)."""
    if tokenizer.kind != "sentencepiece":
        return ()
    pieces = (tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size))
    return tuple(i for i, piece in enumerate(pieces) if piece[:1].isalnum() or BYTE_PIECE.match(piece))


def load(path: str | os.PathLike | None = None, device: str | torch.device = "cpu", precision: str = "auto"):
    """Load a model directory, on `device`: a language model (pipeline) or a fine-tuned task model.

    No path (or "default") loads the pretrained backbone shipped with the package. A task model
    is loaded by its plug-in: `TaskSpec.load(path, device=device)`. `precision` ("auto", "fp32" or
    "bf16") is what its predictions run in; auto: bf16 where a probe shows the hardware pays for it.
    """
    path = resolve_model_dir(path)
    config = read_model_config(path)
    if config.get("task"):
        from nlp_apps.registry import get_registry

        pipeline = get_registry().get(config["task"]).load(path, device=device)
    else:
        pipeline = load_language_model_pipeline(path, device)
    pipeline.precision = check_precision(precision)
    return pipeline


def load_language_model_pipeline(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LanguageModelPipeline:
    path = resolve_model_dir(path)
    model, tokenizer, config = load_language_model(path)
    return LanguageModelPipeline(model.to(device), tokenizer, config, path)
