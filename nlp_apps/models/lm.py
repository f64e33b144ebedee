"""The language model: a backbone plus a (tied) softmax decoder, its loss, sampling and scoring.

Texts start after one </s> (the backbone's start-state rule, `RNNBackbone.start`): `start` gives
the logits for a text's first token, `step` reads one token per row; `generate` and
`score_tokens` are built on them, as a seq2seq decoder or beam search can be. `generate_batch`
samples many prompts side by side (the server's batches), each row as it would be alone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nlp_apps.data.corpora import BLOCK_TOKENS, document_blocks
from nlp_apps.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from nlp_apps.models.backbone import START_ID, BackboneConfig, RNNBackbone, StackState, concat_state_rows, map_state
from nlp_apps.models.fused_loss import linear_cross_entropy

NEVER_SAMPLED = (PAD_ID, UNK_ID, BOS_ID)  # no text contains them (<unk> would print as "⁇")
IGNORE = -100  # a target that is not scored (padding)
# Rows per matrix product in batched generation (`decode_rows`, `run_rows`): a BLAS product rounds a row the
# same way whatever the other rows hold, but not whatever their number (one row or a few take other kernels), so
# products always get exactly this many rows and a prompt gives the same ids alone as in any batch.
ROW_BLOCK = 8


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
        would extend the prompt's last word). One row of `generate_batch`.
        """
        sampling = Sampling(max_new_tokens, temperature, top_k, top_p, tuple(stop_ids), tuple(first_banned_ids), generator)
        return self.generate_batch([prompt], [sampling], banned_ids=banned_ids)[0]

    @torch.no_grad()
    def generate_batch(
        self,
        prompts: Sequence[Sequence[int]],
        sampling: Sampling | Sequence[Sampling] | None = None,
        banned_ids: tuple[int, ...] = NEVER_SAMPLED,
    ) -> list[list[int]]:
        """`generate` for many prompts at once: one continuation (new ids only) per prompt.

        `sampling` is one `Sampling` per prompt (or one for all; a generator in it is then shared,
        drawn from row by row). The prompts, of any lengths (empty ones too), are read side by side
        (`read_prompts`); then at each step every unfinished row picks its next token (`pick_next`:
        its own options and generator) and all of them take one step of the recurrent layers
        together. A row ends at its own `max_new_tokens` or stop id and leaves the batch.

        A row gets the very ids it gets alone (`generate`), whatever shares its batch: every
        computation is row by row or batch-invariant (see `ROW_BLOCK`), and each row draws from its
        own generator only. (Checked on CPU in fp32; a GPU's or bf16's kernels may round a row
        differently in another batch, which changes a pick only at a near tie.)
        """
        prompts = [list(prompt) for prompt in prompts]
        if sampling is None:
            sampling = Sampling()
        rows = [sampling] * len(prompts) if isinstance(sampling, Sampling) else list(sampling)
        if len(rows) != len(prompts):
            raise ValueError(f"give one Sampling per prompt ({len(prompts)}), got {len(rows)}")
        for row in rows:
            if row.temperature < 0:
                raise ValueError(f"temperature must be >= 0, got {row.temperature}")
        new_tokens: list[list[int]] = [[] for _ in prompts]
        live = [r for r, row in enumerate(rows) if row.max_new_tokens > 0]
        if not live:
            return new_tokens
        was_training = self.training
        self.eval()
        try:
            logits, state = self.read_prompts([prompts[r] for r in live])  # (B, V)
            vocab, device = logits.size(-1), logits.device
            banned = torch.zeros(vocab, dtype=torch.bool, device=device)
            banned[list(banned_ids)] = True
            first_banned = banned.expand(len(live), vocab).clone()  # (B, V)
            for i, r in enumerate(live):
                first_banned[i, list(rows[r].first_banned_ids)] = True
            step = 0
            while True:
                allowed = logits.masked_fill(first_banned if step == 0 else banned, float("-inf"))  # (B, V)
                picked = pick_next(allowed, [rows[r] for r in live])
                keep = []
                for i, (r, next_id) in enumerate(zip(live, picked)):
                    new_tokens[r].append(next_id)
                    if next_id not in rows[r].stop_ids and len(new_tokens[r]) < rows[r].max_new_tokens:
                        keep.append(i)
                if not keep:
                    break
                tokens = torch.tensor([picked[i] for i in keep], device=device)
                if len(keep) < len(live):  # finished rows leave the batch
                    index = torch.tensor(keep, device=device)
                    state = map_state(state, lambda t, index=index: t.index_select(1, index))
                    live = [live[i] for i in keep]
                hidden, state = self.step_rows(tokens, state)
                logits = self.decode_rows(hidden)
                step += 1
        finally:
            self.train(was_training)
        return new_tokens

    def read_prompts(self, prompts: Sequence[Sequence[int]]) -> tuple[torch.Tensor, StackState]:
        """Read token-id prompts (any lengths, empty too) forward from the start state, side by side:
        -> each row's next-token logits after its own last token (B, V), and its state there.

        Each row is </s> + its prompt read from a zero state (the start-state rule). Prompts of one
        length are read together (no padding, no packing), in `step_rows`' row blocks."""
        device = self.decoder_bias.device
        by_length: dict[int, list[int]] = {}
        for row, prompt in enumerate(prompts):
            by_length.setdefault(len(prompt), []).append(row)
        order, hidden, states = [], [], []
        for length, group in by_length.items():
            tokens = torch.full((len(group), length + 1), START_ID, dtype=torch.long)
            for i, row in enumerate(group):
                tokens[i, 1:] = torch.as_tensor(prompts[row], dtype=torch.long)
            top, state = self.run_rows(lambda block: self.backbone(block, None, "forward"), tokens.to(device))
            order += group
            hidden.append(top[:, -1])
            states.append(state)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        inverse = inverse.to(device)
        state = map_state(concat_state_rows(states), lambda t: t.index_select(1, inverse))
        return self.decode_rows(torch.cat(hidden).index_select(0, inverse)), state

    def step_rows(self, tokens: torch.Tensor, state: StackState) -> tuple[torch.Tensor, StackState]:
        """`backbone.step` (forward) with each row's result independent of the others: tokens (B,) ->
        top-layer outputs (B, O) and the new state."""
        return self.run_rows(lambda block, state: self.backbone(block.unsqueeze(1), state, "forward"), tokens, state, squeeze=True)

    def run_rows(self, read, tokens: torch.Tensor, state: StackState | None = None, squeeze: bool = False):
        """read(tokens[, state]) -> BackboneOutput, run so that each row's numbers do not depend on the other
        rows: on the whole batch where the recurrent kernel is batch-invariant (oneDNN's LSTM on a CPU),
        else in blocks of exactly ROW_BLOCK rows (the last one padded). -> (top-layer outputs, state)."""
        if self.config.cell == "lstm" and tokens.device.type == "cpu":
            out = read(tokens) if state is None else read(tokens, state)
            top = out.last_hidden_state
            return (top[:, 0] if squeeze else top), out.state
        tops, states = [], []
        for start in range(0, tokens.size(0), ROW_BLOCK):
            rows = min(ROW_BLOCK, tokens.size(0) - start)
            block = pad_rows(tokens[start : start + rows], ROW_BLOCK, fill=START_ID)
            if state is None:
                out = read(block)
            else:
                out = read(block, map_state(state, lambda t, a=start, b=start + rows: pad_rows(t[:, a:b], ROW_BLOCK, dim=1)))
            tops.append(out.last_hidden_state[:rows])
            states.append(map_state(out.state, lambda t, b=rows: t[:, :b]))
        top = torch.cat(tops)
        return (top[:, 0] if squeeze else top), concat_state_rows(states)

    def decode_rows(self, hidden: torch.Tensor) -> torch.Tensor:
        """`decode` (B, O) -> (B, V) in blocks of exactly ROW_BLOCK rows: a matrix product's rounding of a row
        can depend on how many rows it has (BLAS kernels for few rows differ), never on the other rows."""
        blocks = [self.decode(pad_rows(hidden[a : a + ROW_BLOCK], ROW_BLOCK)) for a in range(0, hidden.size(0), ROW_BLOCK)]
        return torch.cat(blocks)[: hidden.size(0)]

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None) -> RNNLanguageModel:
        from nlp_apps.io.checkpoint import load_language_model

        return load_language_model(path)[0]

    def save_pretrained(self, path: str | os.PathLike, tokenizer=None) -> None:
        from nlp_apps.io.checkpoint import save_model

        save_model(path, model_type="language_model", backbone_config=self.config, model=self, tokenizer=tokenizer)


@dataclass(frozen=True)
class Sampling:
    """How one row of `generate_batch` picks its tokens (the options of `generate`)."""

    max_new_tokens: int = 50
    temperature: float = 1.0  # 0: greedy
    top_k: int | None = None
    top_p: float | None = None
    stop_ids: tuple[int, ...] = ()  # any of them ends the row (and is returned)
    first_banned_ids: tuple[int, ...] = ()  # barred from the first new token only
    generator: torch.Generator | None = None  # None: torch's global generator


def pad_rows(x: torch.Tensor, rows: int, dim: int = 0, fill: float = 0) -> torch.Tensor:
    """x with `fill` rows added along `dim` up to `rows`."""
    missing = rows - x.size(dim)
    if missing <= 0:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([x, x.new_full(shape, fill)], dim)


def pick_next(logits: torch.Tensor, rows: Sequence[Sampling]) -> list[int]:
    """The next id of each row of logits (B, V) (banned ids already at -inf), each by its own `Sampling`:
    greedy at temperature 0, else top-k / top-p sampling with one uniform draw from the row's generator.

    Only row-wise operations (max, sort, softmax, cumsum, searchsorted per row), so a row's pick does not
    depend on the other rows; each row draws one number, in row order."""
    picked = torch.empty(len(rows), dtype=torch.long, device=logits.device)
    greedy = [i for i, row in enumerate(rows) if row.temperature == 0]
    sampled = [i for i, row in enumerate(rows) if row.temperature != 0]
    if greedy:
        index = torch.tensor(greedy, device=logits.device)
        picked[index] = logits.index_select(0, index).argmax(dim=-1)
    if sampled:
        index = torch.tensor(sampled, device=logits.device)
        picked[index] = sample_rows(logits.index_select(0, index), [rows[i] for i in sampled])
    return picked.tolist()


def sample_rows(logits: torch.Tensor, rows: Sequence[Sampling]) -> torch.Tensor:
    """One sampled id per row of logits (S, V), each row with its own temperature, top_k, top_p and generator."""
    device, vocab = logits.device, logits.size(-1)
    logits = logits.float()
    # The top logit at 0 and a temperature float32 can hold: a tiny temperature picks the top token, never nan.
    temperatures = torch.tensor([max(row.temperature, 1e-6) for row in rows], device=device).unsqueeze(1)
    logits = (logits - logits.max(dim=-1, keepdim=True).values) / temperatures
    top_k = [row.top_k if row.top_k is not None and 0 < row.top_k < vocab else vocab for row in rows]
    top_p = [row.top_p if row.top_p is not None and 0 < row.top_p < 1 else None for row in rows]
    if any(k < vocab for k in top_k) or any(p is not None for p in top_p):
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        if any(k < vocab for k in top_k):
            kth = sorted_logits.gather(1, torch.tensor(top_k, device=device).unsqueeze(1) - 1)  # (S, 1)
            logits = logits.masked_fill(logits < kth, float("-inf"))
            sorted_logits = sorted_logits.masked_fill(sorted_logits < kth, float("-inf"))  # still sorted, same order
        if any(p is not None for p in top_p):
            sorted_probs = torch.softmax(sorted_logits, dim=-1)
            # Drop a token once the tokens before it already cover top_p of the mass.
            bound = torch.tensor([2.0 if p is None else p for p in top_p], device=device).unsqueeze(1)
            drop = sorted_probs.cumsum(dim=-1) - sorted_probs >= bound
            drop[:, 0] = False  # the most likely token always stays (a top_p below float32's range compares as 0 and dropped all)
            logits = logits.masked_fill(torch.zeros_like(drop).scatter(1, order, drop), float("-inf"))
    cdf = torch.softmax(logits, dim=-1).double().cumsum(dim=-1)  # (S, V)
    draws = torch.cat([torch.rand(1, generator=row.generator, dtype=torch.float64, device=row.generator.device if row.generator else "cpu")
                       for row in rows]).to(device)
    picked = torch.searchsorted(cdf, (draws * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
    last = (cdf >= cdf[:, -1:]).int().argmax(dim=-1)  # the last token with any mass (where the cdf reaches its total)
    return torch.minimum(picked, last)  # (a draw that rounds up to the total)


def sample_next(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
) -> int:
    """Pick one token id from next-token logits (V,): greedy at temperature 0, else top-k/top-p sampling."""
    return pick_next(logits.unsqueeze(0), [Sampling(temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)])[0]


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
    return score_streams(model, [(tokens, words)], batch_size=batch_size, bptt=bptt, direction=direction, block_tokens=block_tokens)[0]


@torch.no_grad()
def score_streams(
    model: RNNLanguageModel,
    streams: Sequence[tuple],
    *,
    batch_size: int = 16,
    bptt: int = 256,
    direction: str = "forward",
    block_tokens: int = BLOCK_TOKENS,
) -> list[PerplexityResult]:
    """`score_tokens` of many (tokens, words) streams at once: the blocks of every stream share the
    batches, and each stream gets the result it gets alone (up to float rounding)."""
    if batch_size < 1 or bptt < 1 or block_tokens < 1:
        raise ValueError(f"batch_size, bptt and block_tokens must be at least 1 (got {batch_size}, {bptt}, {block_tokens})")
    arrays = [np.asarray(tokens, dtype=np.int64) for tokens, _ in streams]
    blocks = []  # (stream index, block ids)
    for owner, tokens in enumerate(arrays):
        stream = reading_order(tokens, direction)
        blocks += [(owner, stream[a:b]) for a, b in document_blocks(stream, EOS_ID, block_tokens) if b > a]
    blocks.sort(key=lambda block: len(block[1]), reverse=True)
    was_training = model.training
    model.eval()
    device = model.decoder_bias.device
    weight, bias = model.output_embedding(), model.decoder_bias
    nll = [0.0] * len(streams)
    for first in range(0, len(blocks), batch_size):
        group = blocks[first : first + batch_size]
        padded = np.full((len(group), len(group[0][1])), IGNORE, dtype=np.int64)
        for row, (_, block) in enumerate(group):
            padded[row, : len(block)] = block
        owners = [owner for owner, _ in group]
        rows_of = {owner: torch.tensor([r for r, o in enumerate(owners) if o == owner], device=device) for owner in dict.fromkeys(owners)}
        targets = torch.from_numpy(padded).to(device)  # (B, L), the longest row first
        inputs = targets.masked_fill(targets == IGNORE, model.config.pad_id)  # input t predicts target t+1
        hidden, state = model.backbone.start(len(group), direction)  # (B, O): predicts target 0
        add_per_stream(nll, rows_of, hidden, targets[:, 0], weight, bias)
        for t in range(1, targets.size(1), bptt):
            chunk = targets[:, t : t + bptt]  # (B, T)
            out = model.backbone(inputs[:, t - 1 : t - 1 + chunk.size(1)], state, direction)
            state = out.state
            add_per_stream(nll, rows_of, out.last_hidden_state, chunk, weight, bias)
    model.train(was_training)
    return [PerplexityResult(nll=total, tokens=len(tokens), words=words + int(np.count_nonzero(tokens == EOS_ID)))
            for total, tokens, (_, words) in zip(nll, arrays, streams)]


def add_per_stream(nll: list[float], rows_of: dict, hidden: torch.Tensor, targets: torch.Tensor, weight, bias) -> None:
    """Add to nll[stream] the summed NLL of that stream's rows of (hidden, targets); `rows_of`: stream -> row indices."""
    for owner, rows in rows_of.items():
        mine, wanted = (hidden, targets) if len(rows_of) == 1 else (hidden.index_select(0, rows), targets.index_select(0, rows))
        if len(rows_of) > 1 and bool((wanted == IGNORE).all()):  # this stream's blocks ended before this chunk
            continue
        nll[owner] += float(linear_cross_entropy(mine, weight, bias, wanted, ignore_index=IGNORE, reduction="sum"))


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
