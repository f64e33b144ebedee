"""Batching shared by all tasks: BPTT streams for language models, padding and length buckets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from nlp_apps.data.tokenizer import EOS_ID, PAD_ID


class BPTTBatcher:
    """Cuts a token stream into `batch_size` rows and walks them left to right in BPTT segments.

        stream  a b c d e f g h i j k l m n o p q r s t u v w x      (batch_size = 4)

        row 0   a b c d e f       a batch is the next `seq_len` columns as inputs
        row 1   g h i j k l       and the same columns moved one step right as targets,
        row 2   m n o p q r       so each row's recurrent state carries over from one
        row 3   s t u v w x       batch to the next (truncated backpropagation through time)

    With `bidirectional`, each batch also carries the reversed stream cut the same way, for a
    backward LM. With `variable_length` the segment length is drawn around `bptt` each step
    (AWD-LSTM), so that every token is not always cut at the same offset.
    """

    def __init__(
        self,
        tokens: np.ndarray,
        batch_size: int,
        bptt: int,
        *,
        variable_length: bool = True,
        bidirectional: bool = False,
        seed: int = 0,
        shard: slice = slice(None),
    ):
        if batch_size < 1 or bptt < 1:
            raise ValueError(f"batch size and bptt must be at least 1 (got {batch_size} and {bptt})")
        rows = len(tokens) // batch_size
        if rows < 2:
            raise ValueError(f"{len(tokens)} tokens are too few for batch size {batch_size}")
        usable = tokens[: rows * batch_size]
        # shard: the batch rows this process trains on (all of them unless data-parallel)
        self.shard = shard
        self.forward_rows = usable.reshape(batch_size, rows)[shard]  # (B, L), a view: no copy of the memmap
        self.backward_rows = usable[::-1].reshape(batch_size, rows)[shard] if bidirectional else None
        if len(self.forward_rows) == 0:
            raise ValueError(f"batch size {batch_size} leaves this process no rows; use at least one row per process")
        self.batch_size, self.bptt, self.rows = batch_size, bptt, rows
        self.variable_length = variable_length
        self.rng = np.random.default_rng(seed)
        self.position = 0

    def steps_per_epoch(self) -> int:
        # A variable segment averages 0.975 * bptt (bptt 95% of the time, bptt / 2 otherwise).
        mean_length = 0.975 * self.bptt if self.variable_length else self.bptt
        return max(1, round((self.rows - 1) / mean_length))

    def tokens_per_epoch(self) -> int:
        return self.batch_size * (self.rows - 1)

    def next_segment_length(self) -> int:
        if not self.variable_length:
            return self.bptt
        base = self.bptt if self.rng.random() < 0.95 else self.bptt / 2
        return max(5, int(self.rng.normal(base, 5)))

    def next_batch(self) -> dict[str, torch.Tensor] | None:
        """The next segment as {"forward": (x, y)[, "backward": (x, y)]}; None at the end of an epoch."""
        if self.position >= self.rows - 1:
            return None
        length = min(self.next_segment_length(), self.rows - 1 - self.position)
        start, stop = self.position, self.position + length
        self.position = stop
        batch = {"forward": _segment(self.forward_rows, start, stop)}
        if self.backward_rows is not None:
            batch["backward"] = _segment(self.backward_rows, start, stop)
        return batch

    def reset(self) -> None:
        self.position = 0

    def state_dict(self) -> dict:
        return {"position": self.position, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])
        self.rng.bit_generator.state = state["rng"]


def _segment(rows: np.ndarray, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    window = torch.from_numpy(np.ascontiguousarray(rows[:, start : stop + 1], dtype=np.int64))  # (B, T+1)
    return window[:, :-1], window[:, 1:]  # inputs (B, T), targets (B, T)


def evaluation_rows(tokens: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Split a stream for scoring: up to `batch_size` equal rows, plus the leftover tail as its own row.

    A </s> is put in front (the previous line ended), so every token of the stream is predicted.
    """
    stream = np.concatenate([[EOS_ID], np.asarray(tokens, dtype=np.int64)])
    batch_size = max(1, min(batch_size, (len(stream) - 1) // 2 or 1))
    rows = (len(stream) - 1) // batch_size
    main = stream[: rows * batch_size + 1]
    # Row b covers targets main[b*rows+1 : (b+1)*rows+1] and starts from the token before them.
    blocks = [main[b * rows : (b + 1) * rows + 1] for b in range(batch_size)]
    tail = stream[rows * batch_size :]
    parts = [np.stack(blocks)]
    if len(tail) > 1:
        parts.append(tail[None, :])
    return parts


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists into (B, T) tokens plus (B,) lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    tokens = torch.full((len(sequences), int(lengths.max()) if len(sequences) else 0), pad_id, dtype=torch.long)
    for i, seq in enumerate(sequences):
        tokens[i, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
    return tokens, lengths


def bucket_batches(
    lengths: Sequence[int], batch_size: int, *, shuffle: bool, generator: np.random.Generator | None = None
) -> Iterator[list[int]]:
    """Batches of example indices of similar length (less padding); shuffled batch order if asked.

    Examples are sorted by length inside windows of 50 batches, so batches stay varied.
    """
    order = np.arange(len(lengths))
    if shuffle:
        order = (generator or np.random.default_rng()).permutation(order)
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    if shuffle:
        batches = [batches[i] for i in (generator or np.random.default_rng()).permutation(len(batches))]
    yield from ([int(i) for i in batch] for batch in batches)
