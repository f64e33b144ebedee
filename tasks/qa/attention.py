"""Question-passage attention: each passage token gathers what the question says about it.

Both take passage states h (Q, T, D) and question states u (Q, L, D) with their masks (True at real
tokens) and return fused passage states (Q, T, output_size):

- BiDAF attention flow (Seo et al. 2017): similarity S_tj = w_h.h_t + w_u.u_j + w_hu.(h_t * u_j);
  context-to-query ũ_t = sum_j softmax_j(S_tj) u_j; query-to-context: the passage summary
  h̃ = sum_t softmax_t(max_j S_tj) h_t, the same for every t; G_t = [h_t; ũ_t; h_t*ũ_t; h_t*h̃].
- DrQA's aligned question embedding (Chen et al. 2017): ũ_t = sum_j softmax_j(a(h_t).a(u_j)) u_j
  with a = ReLU(W x); G_t = [h_t; ũ_t; h_t*ũ_t] (DrQA feeds [h_t; ũ_t]; the product is ours, as in BiDAF).
"""

from __future__ import annotations

import torch
from torch import nn

NEG = -1e30  # a masked score; finite, so a fully masked row cannot turn into NaN


class BiDAFAttention(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        self.passage_weight = nn.Linear(size, 1)
        self.question_weight = nn.Linear(size, 1, bias=False)
        self.product_weight = nn.Parameter(torch.empty(size).uniform_(-size**-0.5, size**-0.5))
        self.output_size = 4 * size

    def forward(self, h: torch.Tensor, u: torch.Tensor, h_mask: torch.Tensor, u_mask: torch.Tensor) -> torch.Tensor:
        similarity = (self.passage_weight(h) + self.question_weight(u).transpose(1, 2)
                      + torch.bmm(h * self.product_weight, u.transpose(1, 2)))  # (Q, T, L)
        similarity = similarity.masked_fill(~u_mask.unsqueeze(1), NEG)
        to_question = torch.bmm(torch.softmax(similarity, dim=-1), u)  # (Q, T, D)
        salience = similarity.max(dim=-1).values.masked_fill(~h_mask, NEG)  # (Q, T)
        summary = torch.bmm(torch.softmax(salience, dim=-1).unsqueeze(1), h)  # (Q, 1, D)
        return torch.cat([h, to_question, h * to_question, h * summary], dim=-1)  # (Q, T, 4D)


class AlignedAttention(nn.Module):
    def __init__(self, size: int, hidden_size: int):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(size, hidden_size), nn.ReLU())
        self.output_size = 3 * size

    def forward(self, h: torch.Tensor, u: torch.Tensor, h_mask: torch.Tensor, u_mask: torch.Tensor) -> torch.Tensor:
        scores = torch.bmm(self.project(h), self.project(u).transpose(1, 2))  # (Q, T, L)
        scores = scores.masked_fill(~u_mask.unsqueeze(1), NEG)
        aligned = torch.bmm(torch.softmax(scores, dim=-1), u)  # (Q, T, D)
        return torch.cat([h, aligned, h * aligned], dim=-1)  # (Q, T, 3D)


def build_attention(kind: str, size: int, hidden_size: int) -> nn.Module:
    if kind == "bidaf":
        return BiDAFAttention(size)
    if kind == "aligned":
        return AlignedAttention(size, hidden_size)
    raise ValueError(f"unknown attention {kind!r}; choose bidaf or aligned")
