"""The tagger on the backbone, and the model on disk: save, load, and a pipeline for raw text.

The backbone reads the lowercased text in both directions (`encode`); a linear layer tags each
word from the top-layer states of its first token.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from nlp_apps.data.batching import pad_sequences
from nlp_apps.data.inputs import text_list
from nlp_apps.errors import CheckpointError
from nlp_apps.io.checkpoint import load_parts, load_weights, read_model_config, save_model
from nlp_apps.models.backbone import RNNBackbone
from truecase_task import HeadConfig
from truecase_task.data import TAGS, WORD, recase


class TruecaseTagger(nn.Module):
    """Tag logits (B, T, 3) for every token of right-padded texts. Owns its backbone."""

    def __init__(self, backbone: RNNBackbone, config: HeadConfig):
        super().__init__()
        self.backbone, self.config = backbone, config
        features = backbone.output_size * len(backbone.config.directions)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(features, len(TAGS)))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs = self.backbone.encode(tokens, lengths)  # {direction: BackboneOutput}, aligned with the tokens
        return self.head(torch.cat([out.last_hidden_state for out in outputs.values()], dim=-1))

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Bottom (embedding) to top (head): for discriminative rates and gradual unfreezing."""
        return self.backbone.layer_groups() + [list(self.head.parameters())]


def build_head(backbone: RNNBackbone, config: HeadConfig, examples=()) -> TruecaseTagger:
    return TruecaseTagger(backbone, config)  # the tags are fixed: nothing to take from the examples


def encode_words(tokenizer, text: str) -> tuple[list[int], list[int]]:
    """The token ids of `text` and, for each word, the position of its first token."""
    ids, spans = tokenizer.encode_with_offsets(text)
    firsts, k = [], 0
    for word in WORD.finditer(text):  # one pass over words and tokens, both in text order
        while k < len(spans) and spans[k][1] <= word.start():
            k += 1
        # the first token that overlaps the word (the project's tokenizers give every word a token; 0 is a fallback)
        firsts.append(k if k < len(spans) and spans[k][0] < word.end() else 0)
    return ids or [0], firsts  # a text with no words is one padding token, never tagged


class TruecasePipeline:
    def __init__(self, model: TruecaseTagger, tokenizer):
        self.model, self.tokenizer = model.eval(), tokenizer

    @torch.no_grad()
    def predict(self, texts: Sequence[str] | str, batch_size: int = 64) -> list[str]:
        """Each text lowercased, then recased word by word (a string or a list of strings in, a list out)."""
        texts = [t.lower() for t in text_list(texts)[0]]
        device = next(self.model.parameters()).device
        results = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            encoded = [encode_words(self.tokenizer, text) for text in batch]
            tokens, lengths = pad_sequences([ids for ids, _ in encoded])
            best = self.model(tokens.to(device), lengths).argmax(-1).tolist()  # (B, T) tag indices
            results += [recase(text, [TAGS[best[row][k]] for k in firsts]) for row, (text, (_, firsts)) in enumerate(zip(batch, encoded))]
        return results


def save(model: TruecaseTagger, tokenizer, directory: str | os.PathLike) -> None:
    save_model(directory, model_type="tagger", backbone_config=model.backbone.config, model=model, tokenizer=tokenizer,
               task="truecase", head=model.config.to_dict())


def load(path: str | os.PathLike, device: str = "cpu") -> TruecasePipeline:
    config = read_model_config(path)
    if config.get("task") != "truecase":
        raise CheckpointError(path, f"holds a {config.get('task') or config.get('model_type')!r} model, not a truecaser")
    part = load_parts(path)["backbone"]  # its BackboneConfig and tokenizer
    model = TruecaseTagger(RNNBackbone(part.backbone), HeadConfig.from_dict(config["head"] or {}, source=f"{path}/config.json"))
    return TruecasePipeline(load_weights(path, model, device), part.tokenizer)
