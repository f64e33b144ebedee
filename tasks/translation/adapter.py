"""Reading sentence pairs: line-aligned source/target files, TSV/CSV (source, target columns) or JSONL.

    parallel files   train.de + train.en, line i of one translates line i of the other
    TSV / CSV        a header naming the columns (source/src, target/tgt), or no header: column 0 is
                     the source and column 1 the target (--src-field/--tgt-field name or number them)
    JSONL            one object per line; --src-field/--tgt-field name the keys [source, target]

Pairs with an empty side are skipped and counted; every error names the file and the line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nlp_apps.data import readers
from nlp_apps.data.readers import Field
from nlp_apps.errors import DataError

SOURCE_NAMES = ("source", "src")
TARGET_NAMES = ("target", "tgt", "translation")


@dataclass(frozen=True)
class Pair:
    source: str
    target: str | None  # None when there is no reference (input to translate)
    origin: str  # "file:line"


@dataclass
class PairSet:
    pairs: list[Pair] = field(default_factory=list)
    skipped_empty: int = 0


def read_pairs(
    path: str | os.PathLike | None = None,
    *,
    src: str | os.PathLike | None = None,
    tgt: str | os.PathLike | None = None,
    format: str | None = None,
    src_field: str | int | None = None,
    tgt_field: str | int | None = None,
    require_target: bool = True,
) -> PairSet:
    """Pairs from `src` + `tgt` (parallel files) or from one `path` (TSV, CSV or JSONL)."""
    result = PairSet()
    if src is not None:
        rows = readers.read_parallel(src, tgt) if tgt is not None else ((n, text, None) for n, text in readers.numbered_lines(src))
        for number, source, target in rows:
            _add(result, source, target, f"{src}:{number}", require_target)
    else:
        if path is None:
            raise DataError("(no file)", "give a dataset file, or --src and --tgt files")
        fmt = format or readers.detect_format(path) or "tsv"
        if fmt == "jsonl":
            fields = [Field("source", column=src_field or "source"),
                      Field("target", column=tgt_field or "target", required=require_target)]
        else:
            src_column = 0 if src_field is None and tgt_field is None and not _has_header(path, fmt) else src_field
            tgt_column = 1 if src_column == 0 and tgt_field is None else tgt_field
            fields = [Field("source", SOURCE_NAMES, src_column, option="--src-field"),
                      Field("target", TARGET_NAMES, tgt_column, required=require_target, option="--tgt-field")]
        for record in readers.read_records(path, fields, format=fmt):
            _add(result, record.string("source"), record.string("target"), record.source, require_target)
    if not result.pairs:
        raise DataError(path or src, "no sentence pairs (every line is empty)")
    return result


def _has_header(path, fmt: str) -> bool:
    """Whether the first line names known columns (else it is a pair, as in a plain source<TAB>target file)."""
    first = next(readers.numbered_lines(path), (0, ""))[1]
    cells = [c.strip().lower() for c in first.split("\t" if fmt == "tsv" else ",")]
    return any(c in SOURCE_NAMES + TARGET_NAMES for c in cells)


def _add(result: PairSet, source: str, target: str | None, origin: str, require_target: bool) -> None:
    if not source.strip() or (require_target and not (target or "").strip()):
        result.skipped_empty += 1
        return
    result.pairs.append(Pair(source.strip(), target.strip() if target is not None else None, origin))


def read_dataset(path, **options) -> list[Pair]:
    """The plug-in contract's adapter: the pairs of one file (TSV, CSV or JSONL)."""
    return read_pairs(Path(path), **options).pairs


def split_examples(pairs: list[Pair]) -> tuple[list[str], list[str | None]]:
    """(sources, references): what predict takes and what the metric compares against."""
    return [p.source for p in pairs], [p.target for p in pairs]
