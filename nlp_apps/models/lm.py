"""The language model: a backbone plus a (tied) softmax decoder, its loss, sampling and scoring.

Texts start after one </s> (the backbone's start-state rule, `RNNBackbone.start`): `start` gives
the logits for a text's first token, `step` reads one token per row; `generate` and
`score_tokens` are built on them, as a seq2seq decoder or beam search can be.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nlp_apps.data.corpora import BLOCK_TOKENS, document_blocks
from nlp_apps.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from nlp_apps.models.backbone import BackboneConfig, RNNBackbone, StackState
from nlp_apps.models.fused_loss import linear_cross_entropy

NEVER_SAMPLED = (PAD_ID, UNK_ID, BOS_ID)  # no text contains them (<unk> would print as "⁇")
IGNORE = -100  # a target that is not scored (padding)


class RNNLanguageModel(nn.Module):
    """p(w_{t+1} | w_1..t) = softmax(W_ho h_t + b), with W_ho the embedding matrix when tied.

    A bidirectional backbone makes this two language models (forward and backward) that share
    the embedding and the decoder, as in ELMo.
    """

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config
        self.backbone = RNNBackbone(config)
        if config.tie_weights:  # the top layer outputs emb_size then (BackboneConfig.output_size)
            self.decoder_weight = None
        else:
            self.decoder_weight = nn.Parameter(torch.empty(config.vocab_size, config.output_size))
            nn.init.uniform_(self.decoder_weight, -0.1, 0.1)
        self.decoder_bias = nn.Parameter(torch.zeros(config.vocab_size))

    def output_embedding(self) -> torch.Tensor:
        return self.backbone.embedding.weight if self.decoder_weight is None else self.decoder_weight

    def decode(self, hidden: torch.Tensor) -> torch.Tensor:
        # hidden: (..., O) top-layer outputs -> logits (..., V)
        return F.linear(hidden, self.output_embedding(), self.decoder_bias)

    def forward(
        self, tokens: torch.Tensor, state: StackState | None = None, direction: str = "forward"
    ) -> tuple[torch.Tensor, StackState]:
        # tokens: (B, T) -> logits (B, T, V); state None: zeros (texts begin with `start`)
        out = self.backbone(tokens, state, direction)
        return self.decode(out.last_hidden_state), out.state

    def start(self, batch_size: int, direction: str = "forward") -> tuple[torch.Tensor, StackState]:
        """Begin `batch_size` texts (after one </s>): logits (B, V) for their first token, and the state."""
        hidden, state = self.backbone.start(batch_size, direction)
        return self.decode(hidden), state

    def step(
        self, tokens: torch.Tensor, state: StackState | None, direction: str = "forward"
    ) -> tuple[torch.Tensor, StackState]:
        """Read one token per row: tokens (B,) -> logits (B, V) for the next token, and the new state."""
        hidden, state = self.backbone.step(tokens, state, direction)
        return self.decode(hidden), state

    def loss(
        self, inputs: torch.Tensor, targets: torch.Tensor, state: StackState | None = None, direction: str = "forward"
    ) -> tuple[torch.Tensor, StackState]:
        """Mean next-token cross-entropy over (B, T) targets, and the state to carry on.

        Targets equal to the padding id (or -100) are not scored; the mean is over the others."""
        out = self.backbone(inputs, state, direction)
        targets = targets.masked_fill(targets == self.config.pad_id, IGNORE)
        loss = linear_cross_entropy(
            out.last_hidden_state, self.output_embedding(), self.decoder_bias, targets, ignore_index=IGNORE
        )
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
        banned_ids: tuple[int, ...] = NEVER_SAMPLED,
        first_banned_ids: tuple[int, ...] = (),
    ) -> list[int]:
        """Sample a continuation of `prompt` (token ids, may be empty); returns only the new ids.

        The prompt is read from the start state, so it is the beginning of a text (an empty one:
        a new text). `banned_ids` are never sampled (by default <pad>, <unk> and <s>); </s> may be,
        as a line end, and any id in `stop_ids` ends the generation (it is returned).
        `first_banned_ids` are also barred from the first new token (the pipeline bars pieces that
        would extend the prompt's last word).
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        was_training = self.training
        self.eval()
        device = self.decoder_bias.device
        banned = torch.zeros(self.config.vocab_size, dtype=torch.bool, device=device)
        banned[list(banned_ids)] = True
        first_banned = banned.clone()
        first_banned[list(first_banned_ids)] = True
        logits, state = self.start(1)  # (1, V)
        if prompt:
            prompt_logits, state = self(torch.tensor([prompt], device=device), state)  # (1, T, V)
            logits = prompt_logits[:, -1]
        new_tokens: list[int] = []
        for i in range(max_new_tokens):
            allowed = logits[0].masked_fill(first_banned if i == 0 else banned, float("-inf"))  # (V,)
            next_id = sample_next(allowed, temperature, top_k, top_p, generator)
            new_tokens.append(next_id)
            if next_id in stop_ids:
                break
            logits, state = self.step(torch.tensor([next_id], device=device), state)
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
    logits = logits.float()
    # The top logit at 0 and a temperature float32 can hold: a tiny temperature picks the top token, never nan.
    logits = (logits - logits.max()) / max(temperature, 1e-6)
    if top_k is not None and 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # Drop a token once the tokens before it already cover top_p of the mass.
        drop = cumulative - torch.softmax(sorted_logits, dim=-1) >= top_p
        drop[0] = False  # the most likely token always stays (a top_p below float32's range compares as 0 and dropped all)
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
    block_tokens: int = BLOCK_TOKENS,
) -> PerplexityResult:
    """Total NLL of a token stream (numpy ids, one </s> ending each line), every token predicted once.

    The stream is read as in pretraining, the state carried across line ends, in blocks of whole
    lines (cut after the first </s> past each multiple of `block_tokens`, as pretraining cuts its
    mix; a shorter text is one block). Each block starts from the start state (after one </s>).
    Blocks never see each other, so the result does not depend on `batch_size` (blocks scored side
    by side, longest first) or `bptt` (time steps per call), up to float rounding.
    The backward LM reads the stream right to left: each line reversed, then the </s> before it.
    """
    if batch_size < 1 or bptt < 1 or block_tokens < 1:
        raise ValueError(f"batch_size, bptt and block_tokens must be at least 1 (got {batch_size}, {bptt}, {block_tokens})")
    tokens = np.asarray(tokens, dtype=np.int64)
    stream = reading_order(tokens, direction)
    blocks = sorted((stream[a:b] for a, b in document_blocks(stream, EOS_ID, block_tokens) if b > a), key=len, reverse=True)
    was_training = model.training
    model.eval()
    device = model.decoder_bias.device
    weight, bias = model.output_embedding(), model.decoder_bias
    nll = 0.0
    for first in range(0, len(blocks), batch_size):
        group = blocks[first : first + batch_size]
        padded = np.full((len(group), len(group[0])), IGNORE, dtype=np.int64)
        for row, block in enumerate(group):
            padded[row, : len(block)] = block
        targets = torch.from_numpy(padded).to(device)  # (B, L), the longest row first
        inputs = targets.masked_fill(targets == IGNORE, model.config.pad_id)  # input t predicts target t+1
        hidden, state = model.backbone.start(len(group), direction)  # (B, O): predicts target 0
        nll += float(linear_cross_entropy(hidden, weight, bias, targets[:, 0], reduction="sum"))
        for t in range(1, targets.size(1), bptt):
            chunk = targets[:, t : t + bptt]  # (B, T)
            out = model.backbone(inputs[:, t - 1 : t - 1 + chunk.size(1)], state, direction)
            state = out.state
            nll += float(linear_cross_entropy(out.last_hidden_state, weight, bias, chunk, ignore_index=IGNORE, reduction="sum"))
    model.train(was_training)
    ends = int(np.count_nonzero(tokens == EOS_ID))
    return PerplexityResult(nll=nll, tokens=len(tokens), words=words + ends)


def reading_order(tokens: np.ndarray, direction: str = "forward") -> np.ndarray:
    """The ids a `direction` LM predicts, in order, reading a stream from the start state.

    Backward: the stream reversed, its first </s> (the last line's end, which the start state
    stands for) moved to the end, where it stands for the boundary before the first line.
    """
    if direction != "backward":
        return tokens
    stream = tokens[::-1]
    if len(stream) and stream[0] == EOS_ID:
        stream = np.concatenate([stream[1:], stream[:1]])
    return stream
