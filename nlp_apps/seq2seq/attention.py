"""Attention over the encoder's states: Luong "general" (bilinear) and Bahdanau (additive, "concat").

    general   score(h, m) = h^T W m [+ w_c c]                   (Luong et al. 2015)
    bahdanau  score(h, m) = v^T tanh(W_q h + W_m m [+ w_c c])   (Bahdanau et al. 2015)

With `coverage`, c is the attention each source position has received so far (See et al. 2017).

The memory's projection (W m, or W_m m) does not depend on the decoder, so `prepare` computes it
once per source batch and each decoding step only scores against it.
"""

from __future__ import annotations

import torch
from torch import nn

from nlp_apps.seq2seq.config import ATTENTION_KINDS


class Attention(nn.Module):
    def __init__(self, query_size: int, memory_size: int, kind: str = "general", hidden_size: int | None = None,
                 coverage: bool = False):
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention {kind!r}; choose one of {', '.join(ATTENTION_KINDS)}")
        self.kind = kind
        if kind == "general":
            self.memory_projection = nn.Linear(memory_size, query_size, bias=False)
        else:
            hidden_size = hidden_size or query_size
            self.memory_projection = nn.Linear(memory_size, hidden_size, bias=False)
            self.query_projection = nn.Linear(query_size, hidden_size, bias=True)
            self.score = nn.Linear(hidden_size, 1, bias=False)
        self.coverage_projection = None
        if coverage:
            self.coverage_projection = nn.Linear(1, 1 if kind == "general" else hidden_size, bias=False)

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        """memory (B, S, M) -> keys (B, S, K), computed once per source batch."""
        return self.memory_projection(memory)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor,
        coverage: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, Q) (or (B, Q) for one step), keys from `prepare`, memory (B, S, M), mask (B, S)
        True at real source tokens, coverage (B, S) for one step -> context (B, T, M) and weights
        (B, T, S) (without T for one step)."""
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)
        covered = None
        if self.coverage_projection is not None and coverage is not None:
            covered = self.coverage_projection(coverage.unsqueeze(-1)).unsqueeze(1)  # (B, 1, S, 1 or K)
        if self.kind == "general":
            scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)
            if covered is not None:
                scores = scores + covered.squeeze(-1)
        else:
            hidden = self.query_projection(query).unsqueeze(2) + keys.unsqueeze(1)  # (B, T, S, K)
            if covered is not None:
                hidden = hidden + covered
            scores = self.score(torch.tanh(hidden)).squeeze(-1)  # (B, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights, memory)  # (B, T, M)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights
