"""The summarization head: the core's encoder-decoder with copy (and coverage when asked), both sides on one backbone's
tokenizer (the default English LM initialises the encoder and the decoder)."""

from __future__ import annotations

import copy

import torch

from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.seq2seq.model import EncoderDecoder, forward_only
from tasks.summarization.head_config import SummarizerConfig

Summarizer = EncoderDecoder  # a pointer-generator: `encoder` reads the document, `decoder` writes the summary, copying from it


def build_head(backbone: RNNBackbone, config: SummarizerConfig, examples=(), output_bias: torch.Tensor | None = None) -> Summarizer:
    """Encoder and decoder both start from `backbone` (two copies; the decoder keeps the forward stack);
    `output_bias`: the language model's."""
    return Summarizer(copy.deepcopy(backbone), forward_only(copy.deepcopy(backbone)), config, output_bias=output_bias)
