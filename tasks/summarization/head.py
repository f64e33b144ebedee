"""The summarization head: the core's encoder-decoder with copy and coverage, both sides on one backbone's
tokenizer (the default English LM initialises the encoder and the decoder)."""

from __future__ import annotations

import copy

from torch import nn

from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.seq2seq.model import EncoderDecoder, forward_only
from nlp_apps.training.finetune import backbone_layer_groups
from tasks.summarization.head_config import SummarizerConfig


class Summarizer(EncoderDecoder):
    """A pointer-generator: `encoder` reads the document, `decoder` writes the summary, copying from the document."""

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Bottom to top: the encoder, the decoder's embedding and layers, then attention, copy and output."""
        head = [p for name, p in self.named_parameters() if not name.startswith(("encoder.", "decoder."))]
        return [list(self.encoder.parameters())] + backbone_layer_groups(self.decoder) + [head]


def build_head(backbone: RNNBackbone, config: SummarizerConfig, examples=()) -> Summarizer:
    """Encoder and decoder both start from `backbone` (two copies; the decoder keeps the forward stack)."""
    return Summarizer(copy.deepcopy(backbone), forward_only(copy.deepcopy(backbone)), config)
