"""The translation head: the core's encoder-decoder (nlp_apps.seq2seq) on a source and a target backbone."""

from __future__ import annotations

import dataclasses

import torch

from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.seq2seq.model import EncoderDecoder, Seq2SeqConfig, forward_only

TranslatorConfig = Seq2SeqConfig
Translator = EncoderDecoder  # an attention encoder-decoder: `encoder` reads the source language, `decoder` writes the target


def build_head(backbone: RNNBackbone, config: TranslatorConfig, examples=(), encoder: RNNBackbone | None = None,
               output_bias: torch.Tensor | None = None) -> Translator:
    """A translator whose decoder is `backbone` (forward stack only) and whose encoder is `encoder`, or
    a random bidirectional backbone of the same shape and vocabulary; `output_bias`: the target LM's."""
    if encoder is None:
        encoder = RNNBackbone(dataclasses.replace(backbone.config, bidirectional=True))
    return Translator(encoder, forward_only(backbone), config, output_bias=output_bias)
