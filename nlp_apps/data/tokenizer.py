"""Tokenizers: a trained subword model (sentencepiece, lossless) and a word-level vocabulary.

Both share the same special ids, so the backbone never needs to know which one it reads:

    0 <pad>   1 <unk>   2 <s> (bos)   3 </s> (eos, also the end of every line of a corpus)
"""

from __future__ import annotations

import collections
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from nlp_apps.data.fileio import atomic_write_bytes, read_lines
from nlp_apps.errors import CheckpointError, DataError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")
TOKENIZER_KINDS = ("sentencepiece", "word")


class SentencePieceTokenizer:
    """Subword tokenizer backed by the sentencepiece library.

    Trained with identity normalisation, kept whitespace and byte fallback, so that
    `decode(encode(line)) == line` for any line of UTF-8 text.
    """

    kind = "sentencepiece"
    file_name = "tokenizer.model"

    def __init__(self, model_proto: bytes):
        import sentencepiece as spm

        self._proto = model_proto
        self._sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.vocab_size = self._sp.get_piece_size()

    @classmethod
    def train(
        cls,
        corpus: str | os.PathLike,
        vocab_size: int = 8000,
        model_type: str = "unigram",
        max_sentences: int = 1_000_000,
        seed: int = 0,
    ) -> SentencePieceTokenizer:
        import sentencepiece as spm

        spm.set_random_generator_seed(seed)  # input sampling is random; keep it reproducible
        with tempfile.TemporaryDirectory() as tmp:
            prefix = os.path.join(tmp, "spm")
            try:
                spm.SentencePieceTrainer.train(
                    input=str(corpus),
                    model_prefix=prefix,
                    vocab_size=vocab_size,
                    model_type=model_type,
                    character_coverage=0.9995,
                    normalization_rule_name="identity",
                    remove_extra_whitespaces=False,
                    byte_fallback=True,
                    split_digits=True,
                    input_sentence_size=max_sentences,
                    shuffle_input_sentence=True,
                    pad_id=PAD_ID,
                    unk_id=UNK_ID,
                    bos_id=BOS_ID,
                    eos_id=EOS_ID,
                    num_threads=max(1, os.cpu_count() or 1),
                    minloglevel=2,
                )
            except RuntimeError as exc:
                # sentencepiece reports e.g. "Vocabulary size too high" for a tiny corpus.
                raise DataError(corpus, f"cannot train a {vocab_size}-piece tokenizer: {exc}") from None
            return cls(Path(prefix + ".model").read_bytes())

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._sp.encode(list(texts), num_threads=max(1, os.cpu_count() or 1))

    def decode(self, ids: Iterable[int]) -> str:
        return self._sp.decode([int(i) for i in ids])

    def id_to_piece(self, token_id: int) -> str:
        return self._sp.id_to_piece(int(token_id))

    def save(self, directory: str | os.PathLike) -> dict:
        atomic_write_bytes(Path(directory) / self.file_name, self._proto)
        return {"kind": self.kind, "file": self.file_name, "vocab_size": self.vocab_size}

    @classmethod
    def load(cls, directory: str | os.PathLike, config: dict) -> SentencePieceTokenizer:
        path = Path(directory) / config.get("file", cls.file_name)
        if not path.is_file():
            raise CheckpointError(directory, f"tokenizer file {path.name} is missing")
        return cls(path.read_bytes())


class WordTokenizer:
    """Whitespace word vocabulary, as used by classic word-level benchmarks (PTB).

    Out-of-vocabulary words map to <unk> (a literal "<unk>" in the text, as in PTB, maps there too).
    Decoding joins words with single spaces, so it is lossless only for single-spaced text.
    """

    kind = "word"
    file_name = "vocab.txt"

    def __init__(self, tokens: Sequence[str]):
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"a word vocabulary must start with {SPECIAL_TOKENS}")
        self.tokens = list(tokens)
        self.index = {tok: i for i, tok in enumerate(self.tokens)}
        self.vocab_size = len(self.tokens)

    @classmethod
    def train(cls, corpus: str | os.PathLike, vocab_size: int = 10_000, min_freq: int = 1) -> WordTokenizer:
        counts: collections.Counter[str] = collections.Counter()
        for line in read_lines(corpus):
            counts.update(line.split())
        for special in SPECIAL_TOKENS:
            counts.pop(special, None)
        ranked = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls(list(SPECIAL_TOKENS) + ranked[: max(0, vocab_size - len(SPECIAL_TOKENS))])

    def encode(self, text: str) -> list[int]:
        return [self.index.get(w, UNK_ID) for w in text.split()]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.tokens[int(i)] for i in ids if int(i) not in (PAD_ID, BOS_ID, EOS_ID))

    def id_to_piece(self, token_id: int) -> str:
        return self.tokens[int(token_id)]

    def save(self, directory: str | os.PathLike) -> dict:
        atomic_write_bytes(Path(directory) / self.file_name, ("\n".join(self.tokens) + "\n").encode("utf-8"))
        return {"kind": self.kind, "file": self.file_name, "vocab_size": self.vocab_size}

    @classmethod
    def load(cls, directory: str | os.PathLike, config: dict) -> WordTokenizer:
        path = Path(directory) / config.get("file", cls.file_name)
        if not path.is_file():
            raise CheckpointError(directory, f"tokenizer file {path.name} is missing")
        return cls(path.read_text(encoding="utf-8").rstrip("\n").split("\n"))


Tokenizer = SentencePieceTokenizer | WordTokenizer


def train_tokenizer(kind: str, corpus: str | os.PathLike, vocab_size: int, seed: int = 0) -> Tokenizer:
    if kind == "sentencepiece":
        return SentencePieceTokenizer.train(corpus, vocab_size=vocab_size, seed=seed)
    if kind == "word":
        return WordTokenizer.train(corpus, vocab_size=vocab_size)
    raise ValueError(f"unknown tokenizer kind {kind!r}; choose one of {', '.join(TOKENIZER_KINDS)}")


def load_tokenizer(directory: str | os.PathLike, config: dict) -> Tokenizer:
    kind = config.get("kind")
    if kind == "sentencepiece":
        return SentencePieceTokenizer.load(directory, config)
    if kind == "word":
        return WordTokenizer.load(directory, config)
    raise CheckpointError(directory, f"unknown tokenizer kind {kind!r} in config.json")

