"""The span extractor: pointers to an answer's first and last passage token, on the shared backbone.

    passage window, question --backbone (as encode reads)--> top states of both directions, side by side (D)
    --attention (BiDAF flow or DrQA aligned; tasks.qa.attention)--> fused passage states
    [+ question match] --Linear+ReLU--> BiLSTM (modelling) --Linear--> start logits
                                          \\--> BiLSTM (end reader) --Linear--> end logits
    max-pooled modelling states --Linear--> the null logits (start and end) of "no answer here"

Logits are (Q, 1 + T): index 0 is the null, index k + 1 is token k; padding gets a very low logit.
The end reader sees the modelling states, so the end pointer knows where starts are likely (BiDAF).

Recurrences here never pack their input (`backbone.encode(..., final_state=False)`, and the BiLSTMs
below): on CPU, autograd through a packed sequence zero-fills a gradient of the whole sequence at every
time step, which is quadratic in the length (a training step of 32 SQuAD questions took 6.3 s packed,
2.7 s unpacked). Rows are right-padded, so a left-to-right read reaches padding only after every real
token, and a right-to-left read runs over each row's reversed real tokens first: the states of real
tokens are exactly those of a packed read, and what padding positions hold is masked.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from nlp_apps.models.backbone import RNNBackbone, reverse_padded
from tasks.qa.attention import NEG, build_attention
from tasks.qa.head_config import HeadConfig


class SpanExtractor(nn.Module):
    """Start/end pointer logits for questions over passage windows. Owns its backbone."""

    def __init__(self, backbone: RNNBackbone, config: HeadConfig):
        super().__init__()
        self.backbone, self.config = backbone, config
        size = backbone.output_size * len(backbone.config.directions)
        hidden = config.hidden_size
        self.attention = build_attention(config.attention, size, hidden)
        fused = self.attention.output_size + int(config.question_match)
        self.dropout = nn.Dropout(config.dropout)
        self.fuse = nn.Sequential(nn.Linear(fused, 2 * hidden), nn.ReLU())
        self.modelling = BiLSTM(2 * hidden, hidden)
        self.end_reader = BiLSTM(2 * hidden, hidden)
        self.start_pointer = nn.Linear(2 * hidden, 1)
        self.end_pointer = nn.Linear(2 * hidden, 1)
        self.null = nn.Linear(4 * hidden, 2)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, T, D): the backbone's top layer, every reading direction side by side
        (`backbone.encode` read unpacked: see the module docstring)."""
        outputs = self.backbone.encode(tokens, lengths, final_state=False)
        return torch.cat([outputs[d].last_hidden_state for d in self.backbone.config.directions], dim=-1)

    def forward(self, passages: torch.Tensor, passage_lengths: torch.Tensor, questions: torch.Tensor,
                question_lengths: torch.Tensor, rows: torch.Tensor, match: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> start and end logits, each (Q, 1 + T). See `features.Batch` for the arguments."""
        h = self.dropout(self.encode(passages, passage_lengths))[rows]  # (Q, T, D): a window is read once for all its questions
        u = self.dropout(self.encode(questions, question_lengths))  # (Q, L, D)
        lengths = passage_lengths[rows]  # (Q,)
        h_mask = torch.arange(h.size(1), device=h.device).unsqueeze(0) < lengths.unsqueeze(1)  # (Q, T)
        u_mask = torch.arange(u.size(1), device=u.device).unsqueeze(0) < question_lengths.unsqueeze(1)  # (Q, L)
        fused = self.attention(h, u, h_mask, u_mask)  # (Q, T, F)
        if self.config.question_match:
            fused = torch.cat([fused, match.unsqueeze(-1).to(fused.dtype)], dim=-1)
        x = self.fuse(fused)  # (Q, T, 2H); its inputs were dropped out above
        modelled = self.modelling(self.dropout(x), lengths)  # (Q, T, 2H)
        ends = self.end_reader(self.dropout(modelled), lengths)  # (Q, T, 2H)
        pooled = torch.cat([masked_max(modelled, h_mask), masked_max(ends, h_mask)], dim=-1)  # (Q, 4H)
        null = self.null(self.dropout(pooled)).float()  # (Q, 2)
        start = self.start_pointer(self.dropout(modelled)).squeeze(-1).float().masked_fill(~h_mask, NEG)  # (Q, T)
        end = self.end_pointer(self.dropout(ends)).squeeze(-1).float().masked_fill(~h_mask, NEG)
        return torch.cat([null[:, :1], start], dim=1), torch.cat([null[:, 1:], end], dim=1)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups from the bottom (embedding) to the top (the whole head), for per-layer rates."""
        return self.backbone.layer_groups() + [[p for n, p in self.named_parameters() if not n.startswith("backbone.")]]


class BiLSTM(nn.Module):
    """A bidirectional LSTM over right-padded rows, unpacked; float32, as the backbone's recurrence."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.ahead = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.back = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x: (B, T, I), lengths: (B,) -> (B, T, 2H); padding positions hold no meaning
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            back = reverse_padded(self.back(reverse_padded(x, lengths))[0], lengths)
            return torch.cat([self.ahead(x)[0], back], dim=-1)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over time of x (Q, T, H) at real positions (mask (Q, T)) -> (Q, H)."""
    return x.masked_fill(~mask.unsqueeze(-1), NEG).max(dim=1).values


def build_head(backbone: RNNBackbone, config: HeadConfig, examples=()) -> SpanExtractor:
    """The span extractor on `backbone`; it may answer "no answer" when some of `examples` have none (SQuAD v2)."""
    if any(not e.answers for e in examples):
        config = dataclasses.replace(config, no_answer=True)
    return SpanExtractor(backbone, config)
