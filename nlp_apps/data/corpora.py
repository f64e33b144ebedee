"""Pretraining corpora: several named text sources mixed into one token stream.

A corpus is one or more files of one domain (text: a document per line, or per blank-line-separated
paragraph with `paragraphs`; `.jsonl`: a document per record's `text_field`), a validation file of the
same kind (or `holdout` documents taken from the end of its training files) and a sampling `weight`:
the number of times its text appears per epoch of the mix (2 = twice, 0.5 = a random half).

The mix is cut into blocks of whole documents (about `BLOCK_TOKENS` tokens each) and the blocks of
all corpora are shuffled together, so every row of a BPTT batch sees every domain, while the text
inside a block keeps its order.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from nlp_apps.data.fileio import parse_json, read_lines
from nlp_apps.errors import DataError

BLOCK_TOKENS = 2048
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LINE_BREAKS = re.compile(r"\s*[\n\r\u2028\u2029\x85]+\s*")


@dataclass
class CorpusSpec:
    name: str
    train: list[str]
    valid: str | None = None
    weight: float = 1.0
    paragraphs: bool = False  # a document is a blank-line-separated paragraph, its lines joined
    holdout: int = 0  # without a valid file: this many documents from the end of train validate instead
    text_field: str = "text"  # the field read from .jsonl files

    def __post_init__(self) -> None:
        if isinstance(self.train, (str, os.PathLike)):
            self.train = [self.train]
        self.train = [str(p) for p in self.train]
        self.valid = str(self.valid) if self.valid is not None else None
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ValueError(f"corpus name {self.name!r} must be letters, digits, '.', '_' or '-'")
        if not self.train:
            raise ValueError(f"corpus {self.name!r} has no training file")
        # A corpora file is JSON: a weight of "2" or a holdout of 1.5 is refused here, not by a comparison further on.
        if not (_is_number(self.weight, float) and self.weight > 0 and math.isfinite(self.weight)):
            raise ValueError(f"corpus {self.name!r}: weight must be a positive number, got {self.weight!r}")
        if not _is_number(self.holdout, int):
            raise ValueError(f"corpus {self.name!r}: holdout must be a whole number of documents, got {self.holdout!r}")
        if self.holdout < 0:
            raise ValueError(f"corpus {self.name!r}: holdout must not be negative, got {self.holdout}")
        if self.valid is None and self.holdout == 0:
            raise ValueError(f"corpus {self.name!r} has no validation file (give one, or a holdout count)")
        if self.valid is not None and self.holdout:
            raise ValueError(f"corpus {self.name!r}: give a validation file or a holdout count, not both")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict, source: str = "corpora") -> CorpusSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{source}: unknown corpus key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)


def _is_number(value, kind: type) -> bool:
    """An int (kind int), or an int or float (kind float); never a bool (JSON true is no number)."""
    return isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)


def specs_from_options(train: Sequence[str], valid: Sequence[str], weights: Sequence[float], paragraphs: bool) -> list[CorpusSpec]:
    """Corpora given as repeated --train / --valid / --weight options, paired in order."""
    if len(valid) != len(train):
        raise ValueError(f"{len(train)} --train file(s) need as many --valid files, one per corpus in the same order; "
                         f"got {len(valid)}")
    if weights and len(weights) != len(train):
        raise ValueError(f"{len(weights)} --weight value(s) for {len(train)} corpora; give one per --train or none")
    names = unique_names([corpus_name(p) for p in train])
    return [
        CorpusSpec(name=name, train=[t], valid=v, weight=weights[i] if weights else 1.0, paragraphs=paragraphs)
        for i, (name, t, v) in enumerate(zip(names, train, valid))
    ]


def read_corpora_file(path: str | os.PathLike) -> list[CorpusSpec]:
    """A JSON list of corpora ({"corpora": [...]} or a bare list); relative paths are relative to the file."""
    path = Path(path)
    try:
        values = parse_json("\n".join(read_lines(path)).removeprefix("\ufeff"))  # a byte-order mark (Windows editors) is dropped
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    entries = values.get("corpora") if isinstance(values, dict) else values
    if not isinstance(entries, list) or not entries:
        raise DataError(path, 'expected a non-empty list of corpora, or {"corpora": [...]}')
    base = path.resolve().parent
    specs = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DataError(path, f"corpora[{index}] is not an object")
        entry = dict(entry)
        train, valid = entry.get("train"), entry.get("valid")
        if not (isinstance(train, str) or (isinstance(train, list) and train and all(isinstance(p, str) for p in train))):
            raise DataError(path, f"corpora[{index}]: 'train' must be a file path or a non-empty list of file paths, got {_shown(train)}")
        if valid is not None and not isinstance(valid, str):
            raise DataError(path, f"corpora[{index}]: 'valid' must be a file path, got {_shown(valid)}")
        entry.setdefault("name", corpus_name(train if isinstance(train, str) else train[0]))
        for key in ("train", "valid"):
            if isinstance(entry.get(key), str):
                entry[key] = str(base / expand_variables(entry[key], path, index))
            elif isinstance(entry.get(key), list):
                entry[key] = [str(base / expand_variables(p, path, index)) for p in entry[key]]
        try:
            specs.append(CorpusSpec.from_dict(entry, f"corpora[{index}]"))
        except (TypeError, ValueError) as exc:
            raise DataError(path, f"corpora[{index}]: {exc}") from None
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(path, f"corpus name(s) used twice: {', '.join(duplicates)}")
    return specs


def _shown(value, width: int = 40) -> str:
    """A JSON value for a one-line message, cut to `width` characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def expand_variables(value: str, listing: Path, index: int) -> str:
    """`${NAME}` or `$NAME` in a listed path is the environment variable's value (e.g. ${NLP_APPS_DATA}),
    so one corpora file serves machines that keep the data in different places."""
    if not isinstance(value, str):
        return value
    expanded = os.path.expandvars(value)
    unset = re.search(r"\$\{?(\w+)", expanded)
    if unset:
        raise DataError(listing, f"corpora[{index}]: {value!r} names the environment variable {unset.group(1)}, which is not set")
    return expanded


def corpus_name(path: str) -> str:
    """A readable name for a corpus file: its folder for train.txt-like names, else its stem."""
    p = Path(path)
    stem = p.name.split(".")[0] or "corpus"
    generic = {"train", "valid", "test", "input", "data", "text", "corpus"}
    name = p.parent.name if stem in generic and p.parent.name else stem
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", name).lstrip("-._") or "corpus"
    return name


def unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if names.count(name) == 1 else f"{name}-{seen[name]}")
    return result


# ---- reading documents ------------------------------------------------------------------


def iter_documents(path: str | os.PathLike, *, paragraphs: bool = False, text_field: str = "text") -> Iterator[str]:
    """The documents of one file, as single lines of text (see the module docstring)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        yield from _jsonl_documents(path, text_field)
    elif paragraphs:
        yield from _paragraphs(read_lines(path))
    else:
        yield from read_lines(path)


def _jsonl_documents(path: Path, text_field: str) -> Iterator[str]:
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = parse_json(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"not valid JSON: {exc.msg}", line=number) from None
        if not isinstance(record, dict) or text_field not in record:
            found = ", ".join(sorted(record)) if isinstance(record, dict) else type(record).__name__
            raise DataError(path, f"no field {text_field!r} (found: {found})", line=number)
        yield _LINE_BREAKS.sub(" ", str(record[text_field])).strip()


def _paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """Join the lines of each blank-line-separated paragraph with single spaces (hard-wrapped books)."""
    paragraph: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped:
            paragraph.append(stripped)
        elif paragraph:
            yield " ".join(paragraph)
            paragraph = []
    if paragraph:
        yield " ".join(paragraph)


def count_documents(spec: CorpusSpec) -> list[int]:
    """Documents per training file (one pass; also checks every file is readable UTF-8)."""
    return [sum(1 for _ in iter_documents(p, paragraphs=spec.paragraphs, text_field=spec.text_field)) for p in spec.train]


def split_documents(spec: CorpusSpec, counts: list[int]) -> tuple[Iterator[str], Iterator[str] | None]:
    """(training documents, validation documents) of a corpus; a holdout takes the last documents of train."""
    total = sum(counts)
    if spec.holdout and spec.holdout >= total:
        raise DataError(spec.train[-1], f"corpus {spec.name!r}: holdout {spec.holdout} leaves no training documents "
                                        f"(it has {total})")
    keep = total - spec.holdout

    def train_docs() -> Iterator[str]:
        index = 0
        for path in spec.train:
            for doc in iter_documents(path, paragraphs=spec.paragraphs, text_field=spec.text_field):
                if index < keep:
                    yield doc
                index += 1

    def held_out() -> Iterator[str]:
        index = 0
        for path in spec.train:
            for doc in iter_documents(path, paragraphs=spec.paragraphs, text_field=spec.text_field):
                if index >= keep:
                    yield doc
                index += 1

    if spec.holdout:
        return train_docs(), held_out()
    return train_docs(), None


def valid_documents(spec: CorpusSpec) -> Iterator[str]:
    return iter_documents(spec.valid, paragraphs=spec.paragraphs, text_field=spec.text_field)


# ---- the tokenizer sample and the mixed stream ------------------------------------------------


def tokenizer_sample(
    specs: Sequence[CorpusSpec], counts: dict[str, list[int]], out_path: Path, *, words: int = 5_000_000, seed: int = 0
) -> dict[str, int]:
    """Write a sample of the weighted mix (about `words` words) for tokenizer training; words per corpus."""
    sizes = {}
    for spec in specs:
        train, _ = split_documents(spec, counts[spec.name])
        sizes[spec.name] = sum(len(doc.split()) for doc in train)
    total = sum(sizes[s.name] * s.weight for s in specs)
    rng = np.random.default_rng(seed)
    written = {}
    with open(out_path, "w", encoding="utf-8") as out:
        for spec in specs:
            share = sizes[spec.name] * spec.weight / total
            keep = min(1.0, words * share / max(1, sizes[spec.name]))
            written[spec.name] = 0
            train, _ = split_documents(spec, counts[spec.name])
            for doc in train:
                if doc.strip() and rng.random() < keep:
                    out.write(doc + "\n")
                    written[spec.name] += len(doc.split())
    return written


def document_blocks(tokens: np.ndarray, eos_id: int, block_tokens: int = BLOCK_TOKENS) -> np.ndarray:
    """(start, stop) rows cutting a token stream after an </s>, each block about `block_tokens` long."""
    ends = np.flatnonzero(np.asarray(tokens) == eos_id) + 1
    n = len(tokens)
    if len(ends) == 0 or ends[-1] != n:
        ends = np.append(ends, n)
    targets = np.arange(block_tokens, n, block_tokens)
    cut = np.unique(ends[np.minimum(np.searchsorted(ends, targets), len(ends) - 1)])
    cut = np.union1d(cut, [n])
    starts = np.concatenate([[0], cut[:-1]])
    return np.stack([starts, cut], axis=1)


def mix_blocks(block_counts: Sequence[int], weights: Sequence[float], seed: int) -> list[tuple[int, int]]:
    """The shuffled (corpus, block) order of one epoch of the mix; weight w repeats a corpus w times."""
    rng = np.random.default_rng(seed)
    order: list[tuple[int, int]] = []
    for corpus, (count, weight) in enumerate(zip(block_counts, weights)):
        whole, fraction = int(weight), weight - int(weight)
        for _ in range(whole):
            order.extend((corpus, b) for b in range(count))
        extra = round(fraction * count)
        order.extend((corpus, int(b)) for b in np.sort(rng.choice(count, size=extra, replace=False)))
    permutation = rng.permutation(len(order))
    return [order[i] for i in permutation]


def write_mixed_stream(parts: Sequence[np.ndarray], weights: Sequence[float], eos_id: int, out_path: Path, seed: int) -> dict:
    """Write one epoch of the mix as a flat token file; returns the tokens each corpus contributed."""
    blocks = [document_blocks(p, eos_id) for p in parts]
    order = mix_blocks([len(b) for b in blocks], weights, seed)
    dtype = parts[0].dtype
    tmp = out_path.with_name(out_path.name + ".tmp")
    contributed = [0] * len(parts)
    with open(tmp, "wb") as out:
        for corpus, block in order:
            start, stop = blocks[corpus][block]
            np.asarray(parts[corpus][start:stop], dtype=dtype).tofile(out)
            contributed[corpus] += int(stop - start)
    os.replace(tmp, out_path)
    return {"tokens": sum(contributed), "per_corpus": contributed}
