"""Decoding an EncoderDecoder: greedy or batched beam search, one encoder pass per batch.

The search objects (beam_search.py) never call the model; this module owns the loop: it feeds the
search's tokens to `model.step`, hands back log-probabilities, and reorders the decoder state and
the encoder memory by the search's `select_indices` (which also drops finished examples).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nlp_apps.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from nlp_apps.models.backbone import START_ID
from nlp_apps.seq2seq.beam_search import BeamSearch, greedy_search

NEVER_GENERATED = (PAD_ID, UNK_ID, BOS_ID)


@dataclass
class DecodeConfig:
    beam_size: int = 5
    n_best: int = 1
    alpha: float = 0.6  # GNMT length penalty
    min_length: int = 0
    max_length: int = 100  # tokens
    block_ngram_repeat: int = 0

    def __post_init__(self) -> None:
        if self.beam_size < 1 or not 1 <= self.n_best <= self.beam_size:
            raise ValueError(f"need beam_size >= 1 and 1 <= n_best <= beam_size (got {self.beam_size}, {self.n_best})")
        if self.max_length < 1 or self.min_length > self.max_length:
            raise ValueError(f"need 0 <= min_length <= max_length (got {self.min_length}, {self.max_length})")


@torch.no_grad()
def decode(model, source: torch.Tensor, lengths: torch.Tensor, config: DecodeConfig, source_ids: torch.Tensor | None = None,
           extra_words: int = 0) -> list[list[tuple[float, list[int]]]]:
    """For each source row, config.n_best (score, target ids) best first (without </s>); with copy,
    ids past the vocabulary are copied source words (`source_ids`, see EncoderDecoder.encode).

    beam_size 1 is greedy search (its score is the summed log-probability).
    """
    model.eval()
    encoded = model.encode(source, lengths, source_ids, extra_words)
    batch = source.size(0)
    if config.beam_size == 1 and config.n_best == 1 and config.block_ngram_repeat == 0:
        return _greedy(model, encoded, batch, config)
    search = BeamSearch(batch, config.beam_size, bos_id=START_ID, eos_id=EOS_ID, n_best=config.n_best, alpha=config.alpha,
                        min_length=config.min_length, max_length=config.max_length,
                        block_ngram_repeat=config.block_ngram_repeat, banned_ids=NEVER_GENERATED, device=source.device)
    rows = torch.arange(batch, device=source.device).repeat_interleave(config.beam_size)
    encoded = encoded.select(rows)
    state = model.start(encoded)
    while not search.done:
        log_probs, state, _ = model.step(search.current_tokens, state, encoded)
        search.advance(log_probs)
        if not search.done:
            encoded, state = encoded.select(search.select_indices), state.select(search.select_indices)
    return search.hypotheses


def _greedy(model, encoded, batch: int, config: DecodeConfig) -> list[list[tuple[float, list[int]]]]:
    live = {"encoded": encoded}  # the encoder rows of the examples still decoding

    def step(tokens, state):
        log_probs, state, _ = model.step(tokens, state, live["encoded"])
        return log_probs, state

    def reorder(state, index):
        live["encoded"] = live["encoded"].select(index)
        return state.select(index)

    outputs = greedy_search(step, model.start(encoded), batch, bos_id=START_ID, eos_id=EOS_ID,
                            max_length=config.max_length, min_length=config.min_length, banned_ids=NEVER_GENERATED,
                            reorder=reorder, device=encoded.memory.device)
    return [[hypothesis] for hypothesis in outputs]


def decode_all(model, sources: list[list[int]], config: DecodeConfig, *, batch_size: int = 64,
               device: torch.device | str = "cpu") -> list[list[tuple[float, list[int]]]]:
    """`decode` over many sources (token ids), in batches of similar length; results in input order."""
    from nlp_apps.data.batching import pad_sequences

    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    results: list = [None] * len(sources)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        tokens, lengths = pad_sequences([sources[i] or [EOS_ID] for i in index])
        for i, hypotheses in zip(index, decode(model, tokens.to(device), lengths.to(device), config)):
            results[i] = hypotheses
    return results
