"""An encoder-decoder on two backbones, with attention (Luong et al. 2015; Ramachandran et al. 2017),
and optionally copy and coverage (the pointer-generator of See et al. 2017).

    memory      = the encoder backbone's top layer, both directions concatenated   (B, S, M)
    h_t         = decoder backbone(y_{t-1} embedded [+ W_f h~_{t-1}: input feeding])
    a_t, c_t    = attention(h_t, memory [, coverage_t = sum of a_1 .. a_{t-1}])
    h~_t        = tanh(W_c [c_t; h_t])                                               (B, E)
    P_vocab     = softmax(h~_t E^T + b)   E: the decoder's embedding (tied output layer)
    with copy:  P(w) = p_gen P_vocab(w) + (1 - p_gen) sum of a_t,i over source positions i holding w,
                p_gen = sigmoid(w^T [c_t; h_t; x_t] + b); a source word outside the vocabulary gets
                an extended id (vocab_size + k), so it can be copied although it cannot be generated.
    coverage loss (with coverage): sum_i min(a_t,i, coverage_t,i) per step, times coverage_weight.

Either backbone can come from a pretrained language model (the encoder from a source-language LM,
the decoder and its output bias from a target-language LM) or start random. The decoder follows
the backbone's start rule: it reads one </s> from a zero state first, so a pretrained LM decoder
starts exactly where it learned that a text begins; training inputs are </s> y_1 ... y_n and
targets y_1 ... y_n </s>. W_f starts at zero, so input feeding does not disturb a pretrained decoder
at first.

A late coverage phase (config.coverage_from > 0): the coverage feature's weight starts at zero and the
model trains as one without coverage (no feature, no loss: `coverage_active` False, set by Seq2SeqTask)
until the phase begins; decoding with the zero weight gives exactly what decoding without coverage gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nlp_apps.data.tokenizer import EOS_ID, PAD_ID, UNK_ID
from nlp_apps.models.backbone import START_ID, RNNBackbone, StackState, map_state
from nlp_apps.seq2seq.attention import Attention
from nlp_apps.seq2seq.config import Seq2SeqConfig


@dataclass
class EncoderOutput:
    memory: torch.Tensor  # (B, S, M)
    keys: torch.Tensor  # (B, S, K) the attention's projection of the memory
    mask: torch.Tensor  # (B, S) True at real source tokens
    source_ids: torch.Tensor | None = None  # (B, S) extended ids of the source tokens (copy)
    extra_words: int = 0  # extended vocabulary beyond the decoder's (copy)

    def select(self, index: torch.Tensor) -> EncoderOutput:
        """The rows `index` (beam reordering, repeats, finished examples leaving)."""
        ids = self.source_ids.index_select(0, index) if self.source_ids is not None else None
        return EncoderOutput(self.memory.index_select(0, index), self.keys.index_select(0, index), self.mask.index_select(0, index),
                             ids, self.extra_words)


@dataclass
class DecoderState:
    rnn: StackState | None  # the decoder backbone's state (None: zeros, before the start token)
    feed: torch.Tensor  # (B, E) the previous step's attentional vector h~ (zeros at first)
    coverage: torch.Tensor | None = None  # (B, S) attention received so far (coverage)

    def select(self, index: torch.Tensor) -> DecoderState:
        rnn = map_state(self.rnn, lambda t: t.index_select(1, index)) if self.rnn is not None else None
        coverage = self.coverage.index_select(0, index) if self.coverage is not None else None
        return DecoderState(rnn, self.feed.index_select(0, index), coverage)


class EncoderDecoder(nn.Module):
    """Owns its two backbones, named `encoder` and `decoder` (the parts of its model directory)."""

    def __init__(self, encoder: RNNBackbone, decoder: RNNBackbone, config: Seq2SeqConfig, output_bias: torch.Tensor | None = None):
        super().__init__()
        if not decoder.config.tie_weights:
            raise ValueError("the decoder backbone must tie its output layer to its embedding (tie_weights)")
        self.encoder, self.decoder, self.config = encoder, decoder, config
        memory_size = encoder.output_size * len(encoder.config.directions)
        width = decoder.config.emb_size
        self.attention = Attention(decoder.output_size, memory_size, config.attention, coverage=config.coverage)
        self.combine = nn.Linear(memory_size + decoder.output_size, width)
        self.feed = nn.Linear(width, width, bias=False) if config.input_feeding else None
        if self.feed is not None:
            nn.init.zeros_(self.feed.weight)
        if config.coverage and config.coverage_from > 0:  # joins late: the attention is unchanged until it learns
            nn.init.zeros_(self.attention.coverage_projection.weight)
        self.coverage_active = True  # False: train as without coverage, before a late coverage phase (Seq2SeqTask)
        self.copy_switch = nn.Linear(memory_size + decoder.output_size + width, 1) if config.copy else None
        bias = torch.zeros(decoder.config.vocab_size) if output_bias is None else output_bias.detach().clone().float()
        self.output_bias = nn.Parameter(bias)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Bottom to top for discriminative rates and gradual unfreezing: the encoder, the decoder's embedding
        and layers, then what sits on them (attention, copy, output)."""
        head = [p for name, p in self.named_parameters() if not name.startswith(("encoder.", "decoder."))]
        return [list(self.encoder.parameters())] + self.decoder.layer_groups() + [head]

    @property
    def stepwise(self) -> bool:
        """Whether teacher forcing must run one step at a time (each step needs the previous one's output)."""
        return self.feed is not None or self.covering

    @property
    def covering(self) -> bool:
        """Whether coverage (the attention feature and the loss) is on now: configured, and not held back."""
        return self.config.coverage and self.coverage_active

    # ---- encoding -----------------------------------------------------------------------

    def encode(self, source: torch.Tensor, lengths: torch.Tensor, source_ids: torch.Tensor | None = None,
               extra_words: int = 0) -> EncoderOutput:
        """source (B, S) right-padded ids, lengths (B,) -> the memory the decoder attends to.

        With copy, `source_ids` (B, S) are the source tokens' ids in the decoder's extended vocabulary
        (default: `source` itself, when both sides share a tokenizer) and `extra_words` its size beyond
        the decoder's vocabulary.
        """
        outputs = self.encoder.encode(source, lengths, final_state=False)  # only the outputs are attended to
        memory = torch.cat([outputs[d].last_hidden_state for d in self.encoder.config.directions], dim=-1)
        mask = torch.arange(source.size(1), device=source.device).unsqueeze(0) < lengths.to(source.device).unsqueeze(1)
        if self.config.copy and source_ids is None:
            source_ids = source
        return EncoderOutput(memory, self.attention.prepare(memory), mask, source_ids if self.config.copy else None, extra_words)

    # ---- decoding ---------------------------------------------------------------------------

    def initial_state(self, batch_size: int, source_length: int = 0) -> DecoderState:
        device = self.output_bias.device
        coverage = torch.zeros(batch_size, source_length, device=device) if self.covering else None
        return DecoderState(None, torch.zeros(batch_size, self.decoder.config.emb_size, device=device), coverage)

    def start(self, encoded: EncoderOutput) -> DecoderState:
        return self.initial_state(encoded.memory.size(0), encoded.memory.size(1))

    def step(self, tokens: torch.Tensor, state: DecoderState, encoded: EncoderOutput) -> tuple[torch.Tensor, DecoderState, torch.Tensor]:
        """Read one target token per row -> log-probabilities (B, V [+ extra words]) of the next one,
        the new state, and the attention (B, S). Extended ids (copied words) are read as <unk>."""
        tokens = tokens.masked_fill(tokens >= self.decoder.config.vocab_size, UNK_ID)
        embedded = self.decoder.embed(tokens.unsqueeze(1))  # (B, 1, E)
        if self.feed is not None:
            embedded = embedded + self.feed(state.feed).unsqueeze(1)
        out = self.decoder.forward_embedded(embedded, state.rnn)
        hidden = out.last_hidden_state[:, 0]
        context, weights = self.attention(hidden, encoded.keys, encoded.memory, encoded.mask, state.coverage)
        attentional = torch.tanh(self.combine(torch.cat([context, hidden], dim=-1)))
        log_probs = self._log_probs(attentional, context, hidden, embedded[:, 0], weights, encoded)
        coverage = state.coverage + weights if state.coverage is not None else None
        return log_probs, DecoderState(out.state, attentional, coverage), weights

    def forward(self, source: torch.Tensor, source_lengths: torch.Tensor, target_inputs: torch.Tensor,
                source_ids: torch.Tensor | None = None, extra_words: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: target_inputs (B, T) = </s> y_1 .. y_{T-1} -> log-probabilities (B, T, V [+ extra])
        and, with coverage, the coverage loss per step (B, T)."""
        encoded = self.encode(source, source_lengths, source_ids, extra_words)
        if not self.stepwise:  # every step at once: no step waits for the previous one's output
            embedded = self.decoder.embed(target_inputs.masked_fill(target_inputs >= self.decoder.config.vocab_size, UNK_ID))
            hidden = self.decoder.forward_embedded(embedded, None).last_hidden_state  # (B, T, O)
            context, weights = self.attention(hidden, encoded.keys, encoded.memory, encoded.mask)
            attentional = torch.tanh(self.combine(torch.cat([context, hidden], dim=-1)))
            return self._log_probs(attentional, context, hidden, embedded, weights, encoded), None
        state, steps, penalties = self.start(encoded), [], []
        for t in range(target_inputs.size(1)):
            before = state.coverage
            log_probs, state, weights = self.step(target_inputs[:, t], state, encoded)
            steps.append(log_probs)
            if before is not None:
                penalties.append(torch.minimum(weights, before).sum(-1))
        return torch.stack(steps, dim=1), torch.stack(penalties, dim=1) if penalties else None

    def loss(self, source: torch.Tensor, source_lengths: torch.Tensor, targets: torch.Tensor,
             source_ids: torch.Tensor | None = None, extra_words: int = 0) -> tuple[torch.Tensor, int]:
        """Label-smoothed negative log-likelihood per target token (padding never scored), plus the
        coverage loss; targets (B, T) are y_1 .. y_n </s> right-padded (extended ids with copy).
        -> (mean loss, number of scored tokens)."""
        nll, coverage, scored = self.loss_terms(source, source_lengths, targets, source_ids, extra_words)
        loss = nll
        if coverage is not None:
            loss = loss + self.config.coverage_weight * coverage
        return loss / max(1, scored), scored

    def loss_terms(self, source: torch.Tensor, source_lengths: torch.Tensor, targets: torch.Tensor,
                   source_ids: torch.Tensor | None = None, extra_words: int = 0) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        """`loss`'s parts, summed over the scored tokens: (label-smoothed NLL, coverage loss before its weight, or
        None while coverage is off, number of scored tokens)."""
        inputs = torch.cat([torch.full_like(targets[:, :1], START_ID), targets[:, :-1]], dim=1)
        inputs = inputs.masked_fill(inputs.eq(PAD_ID), EOS_ID)  # past a row's end: any real id, never scored
        log_probs, coverage_loss = self(source, source_lengths, inputs, source_ids, extra_words)
        real = targets.ne(PAD_ID)
        scored = int(real.sum())
        nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
        smoothing = self.config.label_smoothing
        if smoothing:
            uniform = -log_probs[..., : self.decoder.config.vocab_size].mean(-1)
            nll = (1 - smoothing) * nll + smoothing * uniform
        coverage = coverage_loss.masked_fill(~real, 0.0).sum() if coverage_loss is not None else None
        return nll.masked_fill(~real, 0.0).sum(), coverage, scored

    def _log_probs(self, attentional, context, hidden, embedded, weights, encoded: EncoderOutput) -> torch.Tensor:
        """log P over the decoder's vocabulary, extended by the copied source words when copy is on."""
        logits = F.linear(F.dropout(attentional, self.config.dropout, self.training), self.decoder.embedding.weight, self.output_bias)
        if self.copy_switch is None:
            return torch.log_softmax(logits.float(), dim=-1)
        p_gen = torch.sigmoid(self.copy_switch(torch.cat([context, hidden, embedded], dim=-1))).float()  # (B, [T,] 1)
        vocab = torch.softmax(logits.float(), dim=-1) * p_gen
        if encoded.extra_words:
            vocab = torch.cat([vocab, vocab.new_zeros(*vocab.shape[:-1], encoded.extra_words)], dim=-1)
        ids = encoded.source_ids if weights.dim() == 2 else encoded.source_ids.unsqueeze(1).expand(-1, weights.size(1), -1)
        mixed = vocab.scatter_add(-1, ids, weights.float() * (1 - p_gen))
        return torch.log(mixed.clamp_min(1e-12))


def forward_only(backbone: RNNBackbone) -> RNNBackbone:
    """A decoder reads left to right: the backbone without its backward stack (same forward weights)."""
    import dataclasses

    if not backbone.config.bidirectional:
        return backbone
    decoder = RNNBackbone(dataclasses.replace(backbone.config, bidirectional=False))
    decoder.load_state_dict({k: v for k, v in backbone.state_dict().items() if not k.startswith("stacks.bwd.")})
    return decoder


RANDOM_DECODER_EMBEDDING_STD = 0.5


def init_random_decoder(decoder: RNNBackbone, std: float = RANDOM_DECODER_EMBEDDING_STD) -> RNNBackbone:
    """A decoder with no pretrained backbone behind it: its embedding, which is also the output layer (tied),
    drawn from N(0, std^2) instead of the backbone's U(-0.1, 0.1) (padding row kept at zero); in place.

    With the backbone's small init the logits h~ E^T start near zero and a random decoder stalls at the
    target unigram distribution for hundreds of steps (a dozen sentence pairs, the default shape and the
    translation defaults: nothing reproduced after 200 steps; with std 0.5, every pair after 60;
    tests/test_seq2seq_v2.py). A pretrained decoder never comes here: its embedding is the language model's.
    """
    with torch.no_grad():
        nn.init.normal_(decoder.embedding.weight, 0.0, std)
        decoder.embedding.weight[decoder.config.pad_id].zero_()
    return decoder
