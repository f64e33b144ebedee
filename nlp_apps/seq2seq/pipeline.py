"""Text in, text out: what a trained encoder-decoder needs to serve raw strings (translation, summarization)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import torch

from nlp_apps.data.inputs import text_list
from nlp_apps.precision import inference
from nlp_apps.seq2seq.decoding import DecodeConfig, decode_all


def detokenize(tokenizer, ids: list[int]) -> str:
    """The text of `ids` on one line (a line break that byte pieces may spell becomes a space)."""
    return " ".join(tokenizer.decode(ids).splitlines()).strip()


class TextToTextPipeline:
    """`predict(texts)` -> output strings (or n-best lists). Subclasses set their decoding defaults."""

    decode_defaults: ClassVar[dict] = {}

    def __init__(self, model, source_tokenizer, target_tokenizer, path: Path | None = None, max_source_len: int | None = None):
        self.model, self.path, self.max_source_len = model.eval(), path, max_source_len
        self.source_tokenizer, self.target_tokenizer = source_tokenizer, target_tokenizer

    @property
    def device(self) -> torch.device:
        return self.model.output_bias.device

    def encode_sources(self, texts: Sequence[str]) -> tuple[list[list[int]], int]:
        """Token ids of each text (whitespace runs collapsed), cut at max_source_len -> (ids, how many were cut)."""
        ids = [i or [0] for i in self.source_tokenizer.encode_batch([" ".join(t.split()) for t in texts])]
        if not self.max_source_len:
            return ids, 0
        return [i[: self.max_source_len] for i in ids], sum(len(i) > self.max_source_len for i in ids)

    def detokenize(self, ids: list[int]) -> str:
        return detokenize(self.target_tokenizer, ids)

    @inference
    def predict(self, texts: Sequence[str] | str, batch_size: int = 32, **options):
        """Outputs for `texts` (one string in, one out); with n_best > 1, [(output, score), ...] per text.
        `options` are DecodeConfig fields (beam_size, n_best, alpha, min_length, max_length, block_ngram_repeat).
        Anything but a string or a list of strings is a TypeError."""
        texts, single = text_list(texts)
        config = DecodeConfig(**{**self.decode_defaults, **options})
        results = decode_all(self.model, self.encode_sources(texts)[0], config, batch_size=batch_size, device=self.device)
        if config.n_best == 1:
            out = [self.detokenize(hyps[0][1]) for hyps in results]
        else:
            out = [[(self.detokenize(ids), score) for score, ids in hyps] for hyps in results]
        return out[0] if single else out
