"""Tokenizers: a trained subword model (sentencepiece, lossless) and a word-level vocabulary.

Both share the same special ids, so the backbone never needs to know which one it reads:

    0 <pad>   padding of batches; never produced by encode()
    1 <unk>   unknown word (word tokenizer; sentencepiece falls back to bytes instead)
    2 <s>     beginning of sequence (bos)
    3 </s>    end of sequence (eos): ends every line of a pretraining corpus, and is also SEP_ID,
              the separator of the two texts of a pair (question/passage, source/target)

The pair separator reuses </s> rather than adding an id: a model's embedding has one row per
vocabulary entry, so a new id would change the vocabulary size of tokenizers already trained and
shipped (nlp_apps/pretrained/default has 8000 pieces), and the backbone learned </s> in pretraining
as "one text ended, the next one starts", which is what a separator means. `join_pair` builds
`first </s> second`. encode() never produces a special id from text: the literal strings "<s>",
"</s>" and "<pad>" in a text become ordinary pieces (sentencepiece) or <unk> (word tokenizer).

Offsets: `encode_with_offsets(text)` also returns a (start, end) character span of the ORIGINAL
text for every id, so answers found in token positions map back to exact substrings:

- sentencepiece: a piece's span excludes the space that its leading "▁" stands for, exactly as
  decode() drops that space at the start of a sequence. So for any pieces i..j,
  `text[spans[i][0]:spans[j][1]] == decode(ids[i:j+1])`, and a whitespace-only "▁" piece has an
  empty span just after its space. A character unknown to the model is spelled as 2-4 byte pieces
  (byte fallback); each of them gets the span of the whole character, so no span splits a
  character. The spans are non-decreasing and inside the text.
- word tokenizer: the span of each whitespace-separated word (what `str.split` gives).
"""

from __future__ import annotations

import collections
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from nlp_apps.data.fileio import atomic_write_bytes, read_lines
from nlp_apps.errors import CheckpointError, DataError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SEP_ID = EOS_ID  # separates the two texts of a pair; see the module docstring
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")
TOKENIZER_KINDS = ("sentencepiece", "word")
Span = tuple[int, int]

# sentencepiece's messages for a vocabulary size the corpus cannot support
_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_LOW = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")
_WORD = re.compile(r"\S+")  # the same words as str.split()


def join_pair(first: Sequence[int], second: Sequence[int]) -> list[int]:
    """The ids of a pair of texts as one sequence: `first </s> second` (second starts at len(first) + 1)."""
    return [*first, SEP_ID, *second]


class _VocabTooLarge(Exception):
    def __init__(self, largest: int):
        super().__init__(largest)
        self.largest = largest


class SentencePieceTokenizer:
    """Subword tokenizer backed by the sentencepiece library.

    Trained with identity normalisation, kept whitespace and byte fallback, so that
    `decode(encode(line)) == line` for any line of UTF-8 text (except that sentencepiece reads a
    literal "▁", U+2581, as its space marker and decodes it as a space).
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
        shrink_to_fit: bool = False,
    ) -> SentencePieceTokenizer:
        """Train on a text file (a sentence per line).

        A corpus too small for `vocab_size` pieces is a DataError naming the largest size that works;
        with `shrink_to_fit` the tokenizer is trained at that size instead (see `.vocab_size`).
        """
        for _ in range(5):  # the largest size sentencepiece names works; retries are a safety net
            try:
                return cls._train_once(corpus, vocab_size, model_type, max_sentences, seed)
            except _VocabTooLarge as exc:
                if not shrink_to_fit or exc.largest >= vocab_size:
                    raise DataError(corpus, f"too little text for a tokenizer of {vocab_size} pieces: the largest size this "
                                            f"corpus supports is {exc.largest} (ask for {exc.largest} or fewer, or add text)") from None
                vocab_size = exc.largest
        raise DataError(corpus, f"could not find a tokenizer size this corpus supports (last tried {vocab_size})")

    @classmethod
    def _train_once(cls, corpus, vocab_size: int, model_type: str, max_sentences: int, seed: int) -> SentencePieceTokenizer:
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
                if match := _TOO_HIGH.search(str(exc)):
                    raise _VocabTooLarge(int(match.group(2))) from None
                if match := _TOO_LOW.search(str(exc)):
                    raise DataError(corpus, f"a tokenizer of {vocab_size} pieces is too small: this corpus needs at least "
                                            f"{match.group(2)} (its characters, the 256 bytes and the specials)") from None
                raise DataError(corpus, f"cannot train a {vocab_size}-piece tokenizer: {exc}") from None
            return cls(Path(prefix + ".model").read_bytes())

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._sp.encode(list(texts), num_threads=max(1, os.cpu_count() or 1))

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[Span]]:
        """The ids of `text` and each one's (start, end) span in `text`; see the module docstring."""
        ids, pieces, offsets = self._library_offsets(text)
        spans = []
        for piece, (start, end) in zip(pieces, offsets):
            # The library's span of a "▁x" piece includes the space that "▁" stands for, except for
            # the "▁" sentencepiece adds in front of a text (then the span is one shorter).
            if piece.startswith("▁") and text[start:end] == piece.replace("▁", " "):
                start += 1
            spans.append((start, end))
        # Byte fallback: the library gives a character's last byte piece its span and the others an
        # empty span at its start; give them all the whole character.
        for k in range(len(ids) - 2, -1, -1):
            if (self._sp.is_byte(ids[k]) and self._sp.is_byte(ids[k + 1])
                    and spans[k][0] == spans[k][1] == spans[k + 1][0]):
                spans[k] = spans[k + 1]
        return ids, spans

    def _library_offsets(self, text: str) -> tuple[list[int], list[str], list[Span]]:
        """Ids, pieces and character offsets as sentencepiece gives them."""
        if hasattr(self._sp, "EncodeAsOffsetMapping"):  # recent sentencepiece (0.2.3 has it)
            result = self._sp.encode(text, out_type="offset_mapping")
            return list(result["ids"]), list(result["pieces"]), [tuple(o) for o in result["offsets"]]
        proto = self._sp.encode(text, out_type="immutable_proto")  # older (0.2.0): the same character offsets
        return [p.id for p in proto.pieces], [p.piece for p in proto.pieces], [(p.begin, p.end) for p in proto.pieces]

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

    Out-of-vocabulary words map to <unk> (a literal "<unk>" in the text, as in PTB, maps there too,
    and so do the literal "<pad>", "<s>" and "</s>", which must not read as specials).
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
        return [self._word_id(w) for w in text.split()]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[Span]]:
        """The ids of `text` and the (start, end) span of each word in `text`."""
        spans = [match.span() for match in _WORD.finditer(text)]
        return [self._word_id(text[start:end]) for start, end in spans], spans

    def _word_id(self, word: str) -> int:
        token_id = self.index.get(word, UNK_ID)
        return UNK_ID if token_id in (PAD_ID, BOS_ID, EOS_ID) else token_id

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


def train_tokenizer(kind: str, corpus: str | os.PathLike, vocab_size: int, seed: int = 0, shrink_to_fit: bool = False) -> Tokenizer:
    """Train a tokenizer of `kind`. With `shrink_to_fit`, a corpus too small for `vocab_size` gets the
    largest size it supports (the word tokenizer always does: `vocab_size` is its cap)."""
    if kind == "sentencepiece":
        return SentencePieceTokenizer.train(corpus, vocab_size=vocab_size, seed=seed, shrink_to_fit=shrink_to_fit)
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

