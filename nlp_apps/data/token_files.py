"""Token files: a corpus is encoded once into a flat file of token ids (one </s> ends each line or
document) and read back through numpy.memmap, so a corpus larger than memory streams from disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nlp_apps.data.fileio import atomic_write_json, read_lines
from nlp_apps.data.tokenizer import EOS_ID, Tokenizer
from nlp_apps.errors import DataError


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
