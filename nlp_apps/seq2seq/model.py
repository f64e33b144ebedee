"""An encoder-decoder on two backbones, with attention (Luong et al. 2015; Ramachandran et al. 2017).

    memory      = the encoder backbone's top layer, both directions concatenated   (B, S, M)
    h_t         = decoder backbone(y_{t-1} embedded [+ W_f h~_{t-1}: input feeding])
    c_t         = attention(h_t, memory)
    h~_t        = tanh(W_c [c_t; h_t])                                               (B, E)
    p(y_t | .)  = softmax(h~_t E^T + b)   E: the decoder's embedding (tied output layer)

Either backbone can come from a pretrained language model (the encoder from a source-language LM,
the decoder and its output bias from a target-language LM) or start random. The decoder follows
the backbone's start rule: it reads one </s> from a zero state first, so a pretrained LM decoder
starts exactly where it learned that a text begins; training inputs are </s> y_1 ... y_n and
targets y_1 ... y_n </s>. W_f starts at zero, so input feeding does not disturb a pretrained decoder
at first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nlp_apps.data.tokenizer import EOS_ID, PAD_ID
from nlp_apps.models.backbone import START_ID, RNNBackbone, StackState, map_state
from nlp_apps.seq2seq.attention import Attention
from nlp_apps.seq2seq.config import Seq2SeqConfig


@dataclass
class EncoderOutput:
    memory: torch.Tensor  # (B, S, M)
    keys: torch.Tensor  # (B, S, K) the attention's projection of the memory
    mask: torch.Tensor  # (B, S) True at real source tokens

    def select(self, index: torch.Tensor) -> EncoderOutput:
        """The rows `index` (beam reordering, repeats, finished examples leaving)."""
        return EncoderOutput(self.memory.index_select(0, index), self.keys.index_select(0, index), self.mask.index_select(0, index))


@dataclass
class DecoderState:
    rnn: StackState | None  # the decoder backbone's state (None: zeros, before the start token)
    feed: torch.Tensor  # (B, E) the previous step's attentional vector h~ (zeros at first)

    def select(self, index: torch.Tensor) -> DecoderState:
        rnn = map_state(self.rnn, lambda t: t.index_select(1, index)) if self.rnn is not None else None
        return DecoderState(rnn, self.feed.index_select(0, index))


class EncoderDecoder(nn.Module):
    """Owns its two backbones, named `encoder` and `decoder` (the parts of its model directory)."""

    def __init__(self, encoder: RNNBackbone, decoder: RNNBackbone, config: Seq2SeqConfig, output_bias: torch.Tensor | None = None):
        super().__init__()
        if not decoder.config.tie_weights:
            raise ValueError("the decoder backbone must tie its output layer to its embedding (tie_weights)")
        self.encoder, self.decoder, self.config = encoder, decoder, config
        memory_size = encoder.output_size * len(encoder.config.directions)
        width = decoder.config.emb_size
        self.attention = Attention(decoder.output_size, memory_size, config.attention)
        self.combine = nn.Linear(memory_size + decoder.output_size, width)
        self.feed = nn.Linear(width, width, bias=False) if config.input_feeding else None
        if self.feed is not None:
            nn.init.zeros_(self.feed.weight)
        bias = torch.zeros(decoder.config.vocab_size) if output_bias is None else output_bias.detach().clone().float()
        self.output_bias = nn.Parameter(bias)

    # ---- encoding -----------------------------------------------------------------------

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """source (B, S) right-padded ids, lengths (B,) -> the memory the decoder attends to."""
        outputs = self.encoder.encode(source, lengths)
        memory = torch.cat([outputs[d].last_hidden_state for d in self.encoder.config.directions], dim=-1)
        mask = torch.arange(source.size(1), device=source.device).unsqueeze(0) < lengths.to(source.device).unsqueeze(1)
        return EncoderOutput(memory, self.attention.prepare(memory), mask)

    # ---- decoding ---------------------------------------------------------------------------

    def initial_state(self, batch_size: int) -> DecoderState:
        device = self.output_bias.device
        return DecoderState(None, torch.zeros(batch_size, self.decoder.config.emb_size, device=device))

    def step(self, tokens: torch.Tensor, state: DecoderState, encoded: EncoderOutput) -> tuple[torch.Tensor, DecoderState, torch.Tensor]:
        """Read one target token per row -> logits (B, V) of the next one, the new state, attention (B, S)."""
        embedded = self.decoder.embed(tokens.unsqueeze(1))  # (B, 1, E)
        if self.feed is not None:
            embedded = embedded + self.feed(state.feed).unsqueeze(1)
        out = self.decoder.forward_embedded(embedded, state.rnn)
        attentional, weights = self._attend(out.last_hidden_state[:, 0], encoded)
        return self._logits(attentional), DecoderState(out.state, attentional), weights

    def forward(self, source: torch.Tensor, source_lengths: torch.Tensor, target_inputs: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: target_inputs (B, T) = </s> y_1 .. y_{T-1} -> logits (B, T, V)."""
        encoded = self.encode(source, source_lengths)
        if self.feed is None:  # every step at once: the decoder does not wait for the previous h~
            hidden = self.decoder(target_inputs, None).last_hidden_state  # (B, T, O)
            return self._logits(self._attend(hidden, encoded)[0])
        state, logits = self.initial_state(source.size(0)), []
        for t in range(target_inputs.size(1)):
            step_logits, state, _ = self.step(target_inputs[:, t], state, encoded)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    def loss(self, source: torch.Tensor, source_lengths: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Label-smoothed cross-entropy per target token (padding never scored); targets (B, T) are
        y_1 .. y_n </s> right-padded. -> (mean loss, number of scored tokens)."""
        inputs = torch.cat([torch.full_like(targets[:, :1], START_ID), targets[:, :-1]], dim=1)
        inputs = inputs.masked_fill(inputs.eq(PAD_ID), EOS_ID)  # past a row's end: any real id, never scored
        logits = self(source, source_lengths, inputs)
        scored = int(targets.ne(PAD_ID).sum())
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=PAD_ID,
                               label_smoothing=self.config.label_smoothing, reduction="sum")
        return loss / max(1, scored), scored

    def _attend(self, hidden: torch.Tensor, encoded: EncoderOutput) -> tuple[torch.Tensor, torch.Tensor]:
        context, weights = self.attention(hidden, encoded.keys, encoded.memory, encoded.mask)
        return torch.tanh(self.combine(torch.cat([context, hidden], dim=-1))), weights

    def _logits(self, attentional: torch.Tensor) -> torch.Tensor:
        attentional = F.dropout(attentional, self.config.dropout, self.training)
        return F.linear(attentional, self.decoder.embedding.weight, self.output_bias)
