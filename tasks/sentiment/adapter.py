"""Reading labelled texts: CSV, TSV, JSONL, GLUE SST-2 and folder-per-label layouts.

Every reader returns `Example`s and raises DataError naming the file, the line (or file) and
the problem. Labels are kept as strings ("1" and 1 are the same label).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from nlp_apps.data.fileio import check_readable_file
from nlp_apps.errors import DataError

FORMATS = ("auto", "csv", "tsv", "jsonl", "sst2", "folder")
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
        check_readable_file(path)
        text = _read_text(path)
        if fmt == "jsonl":
            examples = read_jsonl(path, text, text_field, label_field, require_labels)
        else:
            examples = read_delimited(path, text, "," if fmt == "csv" else "\t", text_column, label_column,
                                      require_labels, sst2=fmt == "sst2")
    if not examples:
        raise DataError(path, "no examples (the file is empty)")
    return examples


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}.get(suffix, "tsv")


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(path, "not valid UTF-8", line=line) from None


def read_delimited(
    path: Path, text: str, delimiter: str, text_column: Column, label_column: Column, require_labels: bool, sst2: bool = False
) -> list[Example]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
    try:
        rows = list(reader)
    except csv.Error as exc:  # e.g. a runaway quote swallowing the rest of the file
        raise DataError(path, f"malformed {'CSV' if delimiter == ',' else 'TSV'}: {exc}", line=reader.line_num) from None
    rows = [(number, row) for number, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip() for cell in rows[0][1]]
    if sst2:
        text_column = "sentence" if text_column is None else text_column
        label_column = "label" if label_column is None else label_column
    has_header = _looks_like_header(header, text_column, label_column)
    text_index = _column_index(path, header if has_header else None, text_column, default=0, role="text")
    label_index = _column_index(path, header if has_header else None, label_column, default=1, role="label",
                                optional=not require_labels)
    examples = []
    for number, row in rows[1:] if has_header else rows:
        if text_index >= len(row):
            raise DataError(path, f"row has {len(row)} column(s), the text is in column {text_index}", line=number)
        label = None
        if label_index is not None:
            if label_index >= len(row) or not row[label_index].strip():
                raise DataError(path, "missing label", line=number)
            label = row[label_index].strip()
        examples.append(_example(path, number, row[text_index], label))
    return examples


def _looks_like_header(header: list[str], text_column: Column, label_column: Column) -> bool:
    names = {c for c in (text_column, label_column) if isinstance(c, str)}
    if names:
        return bool(names & set(header))
    return bool({"text", "label", "sentence", "review", "sentiment"} & {h.lower() for h in header})


def _column_index(path: Path, header: list[str] | None, column: Column, default: int, role: str, optional: bool = False) -> int | None:
    if column is None:
        if header is not None:
            for candidates in (("text", "sentence", "review", "content"),) if role == "text" else (("label", "sentiment", "class", "target"),):
                for i, name in enumerate(header):
                    if name.lower() in candidates:
                        return i
            if optional:
                return None
            raise DataError(path, f"no {role} column found (columns: {', '.join(header)}); name it with --{role}-column")
        if optional:
            return None
        return default
    if isinstance(column, int) or (isinstance(column, str) and column.isdigit()):
        return int(column)
    if header is None or column not in header:
        found = ", ".join(header) if header else "no header row"
        raise DataError(path, f"no {role} column named {column!r} (columns: {found})")
    return header.index(column)


def read_jsonl(path: Path, text: str, text_field: str, label_field: str, require_labels: bool) -> list[Example]:
    examples = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"malformed JSON ({exc.msg})", line=number) from None
        if not isinstance(record, dict):
            raise DataError(path, "expected a JSON object per line", line=number)
        if text_field not in record:
            raise DataError(path, f"no field {text_field!r} (fields: {', '.join(record)})", line=number)
        label = record.get(label_field)
        if label is None and require_labels:
            raise DataError(path, f"missing label field {label_field!r} (fields: {', '.join(record)})", line=number)
        examples.append(_example(path, number, str(record[text_field]), None if label is None else str(label)))
    return examples


def read_folder(path: Path) -> list[Example]:
    """aclImdb-style: one sub-directory per label holding one .txt file per example."""
    examples = []
    label_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    if not label_dirs:
        raise DataError(path, "folder layout needs one sub-directory per label (e.g. pos/, neg/)")
    for label_dir in label_dirs:
        for file in sorted(label_dir.glob("*.txt")):
            examples.append(_example(file, None, _read_text(file), label_dir.name))
    return examples


def _example(path: Path, line: int | None, text: str, label: str | None) -> Example:
    text = text.strip()
    source = f"{path}:{line}" if line is not None else str(path)
    if not text:
        raise DataError(path, "empty text", line=line)
    return Example(text=text, label=label, source=source)
