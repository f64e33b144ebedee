"""The translation head: the core's encoder-decoder (nlp_apps.seq2seq) on a source and a target backbone."""

from __future__ import annotations

import dataclasses

from torch import nn

from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.seq2seq.model import EncoderDecoder, Seq2SeqConfig, forward_only
from nlp_apps.training.finetune import backbone_layer_groups

TranslatorConfig = Seq2SeqConfig


class Translator(EncoderDecoder):
    """An attention encoder-decoder; `encoder` reads the source language, `decoder` writes the target."""

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Bottom to top for discriminative rates and gradual unfreezing: the encoder, the decoder's
        embedding and layers, then attention and output (the head)."""
        head = [p for name, p in self.named_parameters() if not name.startswith(("encoder.", "decoder."))]
        return [list(self.encoder.parameters())] + backbone_layer_groups(self.decoder) + [head]


def build_head(backbone: RNNBackbone, config: TranslatorConfig, examples=(), encoder: RNNBackbone | None = None) -> Translator:
    """A translator whose decoder is `backbone` (forward stack only) and whose encoder is `encoder`, or
    a random bidirectional backbone of the same shape and vocabulary."""
    if encoder is None:
        encoder = RNNBackbone(dataclasses.replace(backbone.config, bidirectional=True))
    return Translator(encoder, forward_only(backbone), config)
