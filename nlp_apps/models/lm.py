"""The language model: a backbone plus a (tied) softmax decoder, its loss and sampling."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nlp_apps.data.tokenizer import EOS_ID
from nlp_apps.models.backbone import BackboneConfig, RNNBackbone, StackState
from nlp_apps.models.fused_loss import linear_cross_entropy


class RNNLanguageModel(nn.Module):
    """p(w_{t+1} | w_1..t) = softmax(W_ho h_t + b), with W_ho the embedding matrix when tied.

    A bidirectional backbone makes this two language models (forward and backward) that share
    the embedding and the decoder, as in ELMo.
    """

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config
        self.backbone = RNNBackbone(config)
        if config.tie_weights:
            if config.output_size != config.emb_size:  # guarded by BackboneConfig.output_size
                raise ValueError("tied weights need the top layer to output emb_size")
            self.decoder_weight = None
        else:
            self.decoder_weight = nn.Parameter(torch.empty(config.vocab_size, config.output_size))
            nn.init.uniform_(self.decoder_weight, -0.1, 0.1)
        self.decoder_bias = nn.Parameter(torch.zeros(config.vocab_size))

    def output_embedding(self) -> torch.Tensor:
        return self.backbone.embedding.weight if self.decoder_weight is None else self.decoder_weight

    def forward(
        self, tokens: torch.Tensor, state: StackState | None = None, direction: str = "forward"
    ) -> tuple[torch.Tensor, StackState]:
        # tokens: (B, T) -> logits (B, T, V)
        out = self.backbone(tokens, state, direction)
        logits = F.linear(out.last_hidden_state, self.output_embedding(), self.decoder_bias)
        return logits, out.state

    def loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: StackState | None = None, direction: str = "forward"
    ) -> tuple[torch.Tensor, StackState]:
        """Mean next-token cross-entropy over (B, T) targets, and the state to carry on."""
        out = self.backbone(inputs, state, direction)
        loss = linear_cross_entropy(out.last_hidden_state, self.output_embedding(), self.decoder_bias, targets)
        return loss, out.state

    @torch.no_grad()
    def generate(
        self,
        prompt: list[int],
        max_new_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        stop_ids: tuple[int, ...] = (),
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """Sample a continuation of `prompt` (token ids); returns only the new ids."""
        if not prompt:
            raise ValueError("the prompt must hold at least one token")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        was_training = self.training
        self.eval()
        device = self.decoder_bias.device
        logits, state = self(torch.tensor([prompt], device=device))
        new_tokens: list[int] = []
        for _ in range(max_new_tokens):
            next_id = sample_next(logits[0, -1], temperature, top_k, top_p, generator)
            new_tokens.append(next_id)
            if next_id in stop_ids:
                break
            logits, state = self(torch.tensor([[next_id]], device=device), state)
        self.train(was_training)
        return new_tokens

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None) -> RNNLanguageModel:
        from nlp_apps.io.checkpoint import load_language_model

        return load_language_model(path)[0]

    def save_pretrained(self, path: str | os.PathLike, tokenizer=None) -> None:
        from nlp_apps.io.checkpoint import save_model

        save_model(path, model_type="language_model", backbone_config=self.config, model=self, tokenizer=tokenizer)


def sample_next(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
) -> int:
    """Pick one token id from next-token logits (V,): greedy at temperature 0, else top-k/top-p sampling."""
    if temperature == 0:
        return int(logits.argmax())
    logits = logits.float() / temperature
    if top_k is not None and 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # Drop a token once the tokens before it already cover top_p of the mass.
        drop = cumulative - torch.softmax(sorted_logits, dim=-1) >= top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


@dataclass
class PerplexityResult:
    nll: float  # total negative log-likelihood, nats
    tokens: int  # predicted tokens (including one end-of-line per line)
    words: int  # whitespace words plus one end-of-line per line

    @property
    def token_perplexity(self) -> float:
        return math.exp(self.nll / max(1, self.tokens))

    @property
    def word_perplexity(self) -> float:
        """exp(total NLL / words): comparable between subword and word-level models."""
        return math.exp(self.nll / max(1, self.words))

    def to_dict(self) -> dict:
        return {
            "nll": self.nll,
            "tokens": self.tokens,
            "words": self.words,
            "token_perplexity": self.token_perplexity,
            "word_perplexity": self.word_perplexity,
        }


@torch.no_grad()
def score_tokens(
    model: RNNLanguageModel,
    tokens,
    words: int,
    *,
    batch_size: int = 16,
    bptt: int = 256,
    direction: str = "forward",
) -> PerplexityResult:
    """Total NLL of a token stream (numpy ids, one </s> per line), every token predicted once."""
    from nlp_apps.data.batching import evaluation_rows

    was_training = model.training
    model.eval()
    device = model.decoder_bias.device
    stream = tokens if direction == "forward" else tokens[::-1]
    nll, count = 0.0, 0
    for rows in evaluation_rows(stream, batch_size):
        block = torch.from_numpy(rows).to(device)  # (B, L+1)
        state = None
        for start in range(0, block.size(1) - 1, bptt):
            inputs = block[:, start : start + bptt]  # (B, T)
            targets = block[:, start + 1 : start + bptt + 1]  # (B, T')
            inputs = inputs[:, : targets.size(1)]
            logits, state = model(inputs, state, direction)
            nll += float(F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), reduction="sum"))
            count += targets.numel()
    model.train(was_training)
    lines = int(np.count_nonzero(np.asarray(tokens) == EOS_ID))
    return PerplexityResult(nll=nll, tokens=count, words=words + lines)
