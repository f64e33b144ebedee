"""Reading labelled texts: CSV, TSV, JSONL, GLUE SST-2 and folder-per-label layouts.

CSV, TSV and JSONL go through the shared readers (nlp_apps.data.readers), with their strict
header rules: a CSV/TSV header must name a text column (text, sentence, review or content) and,
for training, a label column (label, sentiment, class or target), unless --text-column and
--label-column say which columns to use (a header name, or a 0-based number for a file without
header). A header it does not recognise is an error naming the columns found, never an example.

Every reader returns `Example`s and raises DataError naming the file, the line (or file) and
the problem. Labels are kept as strings ("1" and 1 are the same label).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from nlp_apps.data import readers
from nlp_apps.data.fileio import read_text
from nlp_apps.data.readers import Field, Record
from nlp_apps.errors import DataError

FORMATS = ("auto", "csv", "tsv", "jsonl", "sst2", "folder")
TEXT_NAMES = ("text", "sentence", "review", "content")
LABEL_NAMES = ("label", "sentiment", "class", "target")
Column = Union[str, int, None]


@dataclass(frozen=True)
class Example:
    text: str
    label: str | None  # None when the file has no labels (prediction input)
    source: str  # "file:line" or a file path, for error messages


def read_dataset(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    text_column: Column = None,
    label_column: Column = None,
    text_field: str = "text",
    label_field: str = "label",
    require_labels: bool = True,
) -> list[Example]:
    """Read a labelled dataset; `format="auto"` picks by extension (a directory is folder-per-label)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or directory")
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in FORMATS:
        raise DataError(path, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "folder":
        examples = read_folder(path)
    else:
        if fmt == "jsonl":
            fields = [Field("text", column=text_field), Field("label", column=label_field, required=require_labels)]
        else:
            if fmt == "sst2":
                text_column = "sentence" if text_column is None else text_column
                label_column = "label" if label_column is None else label_column
            fields = [Field("text", TEXT_NAMES, text_column, option="--text-column"),
                      Field("label", LABEL_NAMES, label_column, required=require_labels, option="--label-column")]
        records = readers.read_records(path, fields, format={"csv": "csv", "jsonl": "jsonl"}.get(fmt, "tsv"))
        examples = [_from_record(record, require_labels) for record in records]
    if not examples:
        raise DataError(path, "no examples (the file is empty)")
    return examples


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}.get(suffix, "tsv")


def _from_record(record: Record, require_labels: bool) -> Example:
    text, label = record.string("text"), record.values["label"]  # JSONL: a label may be a number, the text only a string
    if isinstance(label, (list, dict)):
        raise DataError(record.path, f"the label must be a string or a number, got {type(label).__name__}", line=record.line)
    label = None if label is None else str(label).strip()
    if not label:
        if require_labels:
            raise DataError(record.path, "missing label", line=record.line)
        label = None
    return _example(Path(record.path), record.line, text, label)


def read_folder(path: Path) -> list[Example]:
    """aclImdb-style: one sub-directory per label holding one .txt file per example."""
    examples = []
    label_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    if not label_dirs:
        raise DataError(path, "folder layout needs one sub-directory per label (e.g. pos/, neg/)")
    for label_dir in label_dirs:
        for file in sorted(label_dir.glob("*.txt")):
            examples.append(_example(file, None, read_text(file), label_dir.name))
    return examples


def _example(path: Path, line: int | None, text: str, label: str | None) -> Example:
    text = text.strip()
    source = f"{path}:{line}" if line is not None else str(path)
    if not text:
        raise DataError(path, "empty text", line=line)
    return Example(text=text, label=label, source=source)


def split_examples(examples: Sequence[Example]) -> tuple[list[str], list[str | None]]:
    """(texts, labels): what predict takes and what the metric compares against."""
    return [e.text for e in examples], [e.label for e in examples]
