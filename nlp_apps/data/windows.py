"""Fitting sequences to a model: sliding windows over long token sequences, and length buckets of
(source, target) pairs.

Windows: a passage longer than the model window is read as overlapping windows,

    tokens   a b c d e f g h i j          size 4, stride 2 (the overlap of neighbours)
    window 0 a b c d                      start 0
    window 1     c d e f                  start 2
    window 2         e f g h              start 4
    window 3             g h i j          start 6

so every token is in a window, and each window knows its `start` in the whole sequence
(token k of a window is token start + k of the sequence). The last window may be shorter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    start: int  # offset of the window's first token in the whole sequence
    tokens: Sequence[int]

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)


def sliding_windows(tokens: Sequence[int], size: int, stride: int) -> list[Window]:
    """Windows of at most `size` tokens covering all of `tokens`, neighbours sharing `stride` tokens.

    An empty sequence has no window.
    """
    if size < 1 or not 0 <= stride < size:
        raise ValueError(f"window size must be at least 1 and the stride (overlap) in [0, size), got size {size}, stride {stride}")
    step = size - stride
    windows = []
    for start in range(0, len(tokens), step):
        windows.append(Window(start, tokens[start : start + size]))
        if start + size >= len(tokens):
            break
    return windows


def bucket_pair_batches(
    source_lengths: Sequence[int],
    target_lengths: Sequence[int],
    batch_size: int,
    *,
    shuffle: bool,
    generator: np.random.Generator | None = None,
) -> Iterator[list[int]]:
    """Batches of indices of (source, target) pairs of similar lengths, so both sides pad little.

    As `batching.bucket_batches` for single lengths: pairs are sorted by (source, target) length
    inside windows of 50 batches, and the batch order is shuffled if asked. Every index is in
    exactly one batch.
    """
    if len(source_lengths) != len(target_lengths):
        raise ValueError(f"{len(source_lengths)} source lengths but {len(target_lengths)} target lengths")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    rng = generator or np.random.default_rng()
    order = rng.permutation(len(source_lengths)) if shuffle else np.arange(len(source_lengths))
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: (source_lengths[i], target_lengths[i]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    yield from ([int(i) for i in batch] for batch in batches)
