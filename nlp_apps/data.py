"""Batching shared by all tasks: token files on disk, BPTT streams, padding.

A corpus is encoded once into a flat file of token ids (one </s> ends each line) and read
back through numpy.memmap, so a corpus larger than memory streams from disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from nlp_apps.errors import DataError
from nlp_apps.fileio import atomic_write_json, read_lines
from nlp_apps.tokenizer import EOS_ID, PAD_ID, Tokenizer


@dataclass
class CorpusStats:
    tokens: int  # token ids in the file, one </s> per line included
    lines: int
    words: int  # whitespace words (without the end-of-line marks)
    dtype: str


def encode_corpus(
    corpus: str | os.PathLike, tokenizer: Tokenizer, out_path: str | os.PathLike, chunk_lines: int = 20_000
) -> CorpusStats:
    """Encode a UTF-8 text file line by line into a flat token file at `out_path` (+ `.json` stats)."""
    return encode_documents(read_lines(corpus), tokenizer, out_path, source=corpus, chunk_lines=chunk_lines)


def encode_documents(
    documents: Iterable[str],
    tokenizer: Tokenizer,
    out_path: str | os.PathLike,
    *,
    source: str | os.PathLike,
    chunk_lines: int = 20_000,
    max_tokens: int | None = None,
) -> CorpusStats:
    """Encode documents (one line of text each) into a flat token file, one </s> after each.

    `max_tokens` stops at the first document end past that many tokens (a bounded validation set).
    `source` names the data in errors.
    """
    out_path = Path(out_path)
    dtype = np.uint16 if tokenizer.vocab_size <= np.iinfo(np.uint16).max else np.int32
    tmp = out_path.with_name(out_path.name + ".tmp")
    tokens = lines = words = 0
    with open(tmp, "wb") as out:
        buffer: list[str] = []

        def flush() -> int:
            ids = [piece + [EOS_ID] for piece in tokenizer.encode_batch(buffer)]
            if max_tokens is not None:  # keep whole documents up to the first one that crosses the limit
                kept, total = [], tokens
                for seq in ids:
                    if total >= max_tokens:
                        break
                    kept.append(seq)
                    total += len(seq)
                ids = kept
            flat = np.fromiter((i for seq in ids for i in seq), dtype=dtype)
            flat.tofile(out)
            nonlocal lines, words
            lines += len(ids)
            words += sum(len(text.split()) for text in buffer[: len(ids)])
            buffer.clear()
            return flat.size

        for document in documents:
            buffer.append(document)
            if len(buffer) >= chunk_lines:
                tokens += flush()
                if max_tokens is not None and tokens >= max_tokens:
                    break
        if buffer:
            tokens += flush()
    if words == 0:
        tmp.unlink()
        raise DataError(source, "corpus is empty (no words)")
    os.replace(tmp, out_path)
    stats = CorpusStats(tokens=tokens, lines=lines, words=words, dtype=np.dtype(dtype).name)
    atomic_write_json(out_path.with_name(out_path.name + ".json"), asdict(stats))
    return stats


def open_token_file(path: str | os.PathLike) -> tuple[np.ndarray, CorpusStats]:
    """Memory-map a token file written by `encode_corpus`."""
    path = Path(path)
    stats = CorpusStats(**json.loads(path.with_name(path.name + ".json").read_text()))
    return np.memmap(path, dtype=np.dtype(stats.dtype), mode="r", shape=(stats.tokens,)), stats


def encode_text(text: str, tokenizer: Tokenizer) -> tuple[np.ndarray, int]:
    """Encode an in-memory text like a corpus file; returns (token ids, whitespace words)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    ids = [i for piece in tokenizer.encode_batch(lines) for i in piece + [EOS_ID]]
    return np.asarray(ids, dtype=np.int64), sum(len(line.split()) for line in lines)


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


def scan_corpus(path: str | os.PathLike) -> tuple[int, int]:
    """Check a text corpus before any work is spent on it: (lines, words); empty or non-UTF-8 is an error."""
    lines = words = 0
    for line in read_lines(path):
        lines += 1
        words += len(line.split())
    if words == 0:
        raise DataError(path, "corpus is empty (no words)")
    return lines, words


def encode_corpus_in_memory(path: str | os.PathLike, tokenizer: Tokenizer) -> tuple[np.ndarray, int]:
    """Encode a (small) text file to token ids in memory: (ids, whitespace words)."""
    ids: list[int] = []
    words = 0
    lines = list(read_lines(path))
    for piece in tokenizer.encode_batch(lines):
        ids.extend(piece)
        ids.append(EOS_ID)
    words = sum(len(line.split()) for line in lines)
    if words == 0:
        raise DataError(path, "file is empty (no words)")
    return np.asarray(ids, dtype=np.int64), words
