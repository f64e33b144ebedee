"""Text in, text out: what a trained encoder-decoder needs to serve raw strings (translation, summarization)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from nlp_apps.data.inputs import text_list
from nlp_apps.io.checkpoint import Part, load_parts, load_weights, read_model_config, read_task_head, save_model_dir
from nlp_apps.models.backbone import RNNBackbone
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


def save_seq2seq(directory: str | os.PathLike, model, source_tokenizer, target_tokenizer, task: str, weights_dtype=None) -> None:
    """A model directory `load_seq2seq` reads: the encoder and decoder parts (backbone configs and tokenizers), the
    head's config, the weights."""
    save_model_dir(directory, model, {"encoder": Part(model.encoder.config, source_tokenizer), "decoder": Part(model.decoder.config, target_tokenizer)},
                   model_type="seq2seq", task=task, head=model.config.to_dict(), weights_dtype=weights_dtype)


def load_seq2seq(path: str | os.PathLike, task: str, what: str, head_config: type, build, device: str = "cpu") -> tuple[nn.Module, dict[str, Part]]:
    """(model, parts) of an encoder-decoder task model directory: config.json checked to hold a `task` model
    (else "not {what}"), build(encoder backbone, decoder backbone, head config) with its weights on `device`."""
    path = Path(path)
    config = read_model_config(path)
    parts = load_parts(path)
    head = read_task_head(path, config, task, what, head_config)
    model = build(RNNBackbone(parts["encoder"].backbone), RNNBackbone(parts["decoder"].backbone), head)
    load_weights(path, model, device=device)
    return model, parts
