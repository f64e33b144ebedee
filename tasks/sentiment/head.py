"""The classifier head: concat pooling [last, max, mean] of the backbone's top layer, read in
bounded chunks, then a small MLP (ULMFiT, Howard & Ruder 2018).

With a bidirectional backbone the features of both reading directions are concatenated.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from nlp_apps.models.backbone import RNNBackbone, detach_state, reverse_padded
from tasks.sentiment.head_config import HeadConfig


class SentimentClassifier(nn.Module):
    """logits = MLP([last; max; mean] of the top layer, per direction). Owns its backbone."""

    def __init__(self, backbone: RNNBackbone, config: HeadConfig):
        super().__init__()
        if len(config.labels) < 2:
            raise ValueError(f"a classifier needs at least two labels, got {config.labels}")
        self.backbone, self.config = backbone, config
        features = 3 * backbone.output_size * len(backbone.config.directions)
        self.classifier = nn.Sequential(
            nn.LayerNorm(features),
            nn.Dropout(config.dropout),
            nn.Linear(features, config.hidden_size),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_size, len(config.labels)),
        )

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # tokens: (B, T) right-padded, lengths: (B,) -> logits (B, C)
        pooled = [self.pool(tokens, lengths, d) for d in self.backbone.config.directions]
        return self.classifier(torch.cat(pooled, dim=-1))  # (B, C)

    def pool(self, tokens: torch.Tensor, lengths: torch.Tensor, direction: str) -> torch.Tensor:
        """[last, max, mean] of the top layer over each text, read chunk by chunk. -> (B, 3*O)."""
        if direction == "backward":
            tokens = reverse_padded(tokens, lengths)
        batch, steps = tokens.shape
        lengths = lengths.to(tokens.device)
        size = self.backbone.output_size
        running_max = tokens.new_full((batch, size), float("-inf"), dtype=torch.float)
        running_sum = tokens.new_zeros((batch, size), dtype=torch.float)
        last = tokens.new_zeros((batch, size), dtype=torch.float)
        n_chunks = math.ceil(steps / self.config.chunk_size)
        state = self.backbone.initial_state(batch, direction)
        for i in range(n_chunks):
            start = i * self.config.chunk_size
            chunk = tokens[:, start : start + self.config.chunk_size]  # (B, t)
            with_grad = i >= n_chunks - self.config.grad_chunks
            with torch.set_grad_enabled(with_grad and torch.is_grad_enabled()):
                out = self.backbone(chunk, state, direction)
                hidden = out.layer_outputs[-1]  # (B, t, O), before the backbone's output dropout
                positions = torch.arange(start, start + chunk.size(1), device=tokens.device)  # (t,)
                real = positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, t)
                running_max = torch.maximum(running_max, hidden.masked_fill(~real.unsqueeze(-1), float("-inf")).amax(1))
                running_sum = running_sum + (hidden * real.unsqueeze(-1)).sum(1)
                ends_here = (lengths - 1 >= start) & (lengths - 1 < start + chunk.size(1))  # (B,)
                index = (lengths - 1 - start).clamp(0, chunk.size(1) - 1)  # (B,)
                at_end = hidden[torch.arange(batch, device=tokens.device), index]  # (B, O)
                last = torch.where(ends_here.unsqueeze(-1), at_end, last)
            state = out.state if with_grad else detach_state(out.state)
        mean = running_sum / lengths.clamp(min=1).unsqueeze(-1).float()
        return torch.cat([last, running_max, mean], dim=-1)  # (B, 3*O)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups from the bottom (embedding) to the top (classifier), for per-layer LRs."""
        return self.backbone.layer_groups() + [list(self.classifier.parameters())]


def build_head(backbone: RNNBackbone, config: HeadConfig, examples=()) -> SentimentClassifier:
    """The classifier on `backbone`; without labels in `config`, the label set of `examples`."""
    if not config.labels:
        labels = sorted({e.label for e in examples})
        if len(labels) < 2:
            raise ValueError(f"a classifier needs at least two labels; the examples have {labels or 'none'}")
        config = dataclasses.replace(config, labels=labels)
    return SentimentClassifier(backbone, config)
