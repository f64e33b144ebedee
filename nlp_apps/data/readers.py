"""Record readers shared by the tasks: CSV, TSV and JSONL with named or numbered fields, and
line-aligned parallel text files.

Files are streamed line by line (generators), so large files are never loaded whole. Every
problem is a DataError naming the file and, where there is one, the line: bytes that are not
UTF-8, malformed JSON or CSV, a missing field (naming the fields that are there), a header
whose names are not recognised (naming the columns found), parallel files of different lengths.

A `Field` says what to read from each record: by `column` when the caller names one (a header
name or JSONL key, or a 0-based column number), else by the first of its `aliases` present.

Header rules for CSV/TSV, strict so that a header is never read as data:
- The first row is a header when one of its cells is an alias of a field (case-insensitive) or
  a column name the caller gave. Column names given must then be in it, a field with no column
  given takes its first alias found there, and column numbers count the header's columns.
- Otherwise the file has no header, which is only allowed when every required field has a
  column number; anything else is an error naming the columns found (the first row).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from nlp_apps.data.fileio import check_readable_file, parse_json
from nlp_apps.errors import DataError

FORMATS = ("csv", "tsv", "jsonl")
Column = Union[str, int]  # a header name / JSONL key, or a 0-based column number
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# The csv module refuses a field longer than 131,072 characters as an error; a long document is no error
# (and a CSV quote left open reads to the end of the file, where it is an error naming its first line).
_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


@dataclass(frozen=True)
class Field:
    """One value read from every record."""

    name: str  # the key in Record.values, and how messages call it ("text", "label")
    aliases: tuple[str, ...] = ()  # header names / JSONL keys accepted when no column is given
    column: Column | None = None  # the caller's choice; wins over the aliases
    required: bool = True  # else a missing value reads as None
    option: str | None = None  # the command-line option that sets `column`, for error messages


@dataclass(frozen=True)
class Record:
    values: dict[str, Any]  # field name -> value (str from CSV/TSV, any JSON value from JSONL, or None)
    path: str
    line: int  # where the record starts

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"

    def string(self, name: str, what: str | None = None) -> str | None:
        """values[name] where it is a string (or None); any other JSON value is a DataError naming `what` [the `name`]."""
        value = self.values[name]
        if value is not None and not isinstance(value, str):
            raise DataError(self.path, f"{what or 'the ' + name} must be a string, got {type(value).__name__}", line=self.line)
        return value


def detect_format(path: str | os.PathLike) -> str | None:
    """csv, tsv or jsonl from the file extension; None when the extension does not say."""
    return _EXTENSIONS.get(Path(path).suffix.lower())


def read_records(path: str | os.PathLike, fields: Sequence[Field], *, format: str | None = None) -> Iterator[Record]:
    """The records of a CSV, TSV or JSONL file (`format` None: by extension), streamed."""
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise DataError(path, f"cannot tell the format of {Path(path).name!r}; give it as one of {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return read_jsonl(path, fields)
    return read_delimited(path, fields, delimiter="," if fmt == "csv" else "\t")


def numbered_lines(path: str | os.PathLike, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line of a UTF-8 file, streamed; a byte-order mark is dropped."""
    check_readable_file(path)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(path, f"not valid UTF-8 (byte {exc.start} of the line)", line=number) from None
            yield number, line if keep_ends else line.rstrip("\r\n")


# ---- JSONL ---------------------------------------------------------------------------------

def read_jsonl(path: str | os.PathLike, fields: Sequence[Field]) -> Iterator[Record]:
    """One JSON object per line; blank lines are skipped."""
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            record = parse_json(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"malformed JSON ({exc.msg})", line=number) from None
        if not isinstance(record, dict):
            raise DataError(path, "expected a JSON object per line", line=number)
        values = {}
        for field in fields:
            keys = (str(field.column),) if field.column is not None else field.aliases
            key = next((k for k in keys if record.get(k) is not None), None)
            if key is None and field.required:
                wanted = " or ".join(repr(k) for k in keys)
                raise DataError(path, f"missing {field.name} field {wanted} (fields: {', '.join(record) or 'none'})", line=number)
            values[field.name] = None if key is None else record[key]
        yield Record(values, str(path), number)


# ---- CSV / TSV -----------------------------------------------------------------------------

def read_delimited(path: str | os.PathLike, fields: Sequence[Field], *, delimiter: str = ",") -> Iterator[Record]:
    """CSV (quoted fields may span lines) or TSV (delimiter "\\t", no quoting: quotes are text)."""
    rows = _rows(path, delimiter)
    first = next(rows, None)
    if first is None:
        return
    columns, has_header = _resolve_columns(path, fields, [cell.strip() for cell in first[1]])
    if not has_header:
        rows = itertools.chain([first], rows)
    for number, row in rows:
        values = {}
        for field in fields:
            index = columns[field.name]
            if index is not None and index < len(row):
                values[field.name] = row[index]
            elif index is not None and field.required:
                raise DataError(path, f"missing {field.name} (the row has {len(row)} column(s); "
                                      f"the {field.name} is column {index}, counting from 0)", line=number)
            else:
                values[field.name] = None
        yield Record(values, str(path), number)


def _rows(path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line of the row, cells) for each row that is not blank."""
    lines = (line for _, line in numbered_lines(path, keep_ends=True))
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True)  # strict: a runaway quote is an error
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            kind = "TSV" if delimiter == "\t" else "CSV"
            problem = str(exc)
            if problem.startswith("new-line character seen in unquoted field"):  # the csv module's advice is for programmers
                problem = "a carriage return (\\r) inside a line: save the file with \\n or \\r\\n line ends"
            raise DataError(path, f"malformed {kind} ({problem})", line=start) from None
        if any(cell.strip() for cell in row):
            yield start, row


def _resolve_columns(path, fields: Sequence[Field], first_row: list[str]) -> tuple[dict[str, int | None], bool]:
    """The column number of each field, and whether `first_row` is a header (see the module docstring)."""
    names = {f.column for f in fields if isinstance(f.column, str) and not f.column.isdecimal()}
    aliases = {a.lower() for f in fields for a in f.aliases}
    found = _describe(first_row)
    if any(cell in names or cell.lower() in aliases for cell in first_row):
        return {f.name: _header_column(path, f, first_row, found) for f in fields}, True
    for field in fields:
        if isinstance(field.column, str) and not field.column.isdecimal():
            raise DataError(path, f"no {field.name} column named {field.column!r} (the first row is not a header "
                                  f"with that name: {found})")
    unplaced = [f for f in fields if f.column is None and f.required]
    if unplaced:
        wanted = " and ".join(f"a {f.name} column ({', '.join(f.aliases)})" if f.aliases else f"a {f.name} column"
                              for f in fields if f.column is None)
        options = "/".join(f.option for f in unplaced if f.option)
        how = f"name the columns to use with {options}" if options else "say which columns to use"
        raise DataError(path, f"header not recognised (columns: {found}): expected {wanted}; {how} "
                              "(a header name, or a 0-based number for a file without header)")
    return {f.name: None if f.column is None else int(f.column) for f in fields}, False


def _header_column(path, field: Field, header: list[str], found: str) -> int | None:
    column = field.column
    if isinstance(column, str) and column in header:
        return header.index(column)
    if isinstance(column, int) or (isinstance(column, str) and column.isdecimal()):
        return int(column)
    if column is not None:
        raise DataError(path, f"no {field.name} column named {column!r} (columns: {found})")
    lowered = [cell.lower() for cell in header]
    for alias in field.aliases:
        if alias.lower() in lowered:
            return lowered.index(alias.lower())
    if not field.required:
        return None
    hint = f"; name it with {field.option}" if field.option else ""
    raise DataError(path, f"no {field.name} column found (columns: {found}){hint}")


def _describe(cells: list[str], width: int = 40) -> str:
    """Cells for a one-line message (a data row read as a header can hold long texts)."""
    short = [c if len(c) <= width else c[: width - 3] + "..." for c in cells]
    return ", ".join(repr(c) if not c or "\n" in c else c for c in short)


# ---- parallel text -------------------------------------------------------------------------

def read_parallel(source: str | os.PathLike, target: str | os.PathLike) -> Iterator[tuple[int, str, str]]:
    """(line number, source line, target line) of two line-aligned files, streamed.

    The line counts are compared before anything is read, so a mismatch never trains on half a file.
    """
    source_lines, target_lines = count_lines(source), count_lines(target)
    if source_lines != target_lines:
        raise DataError(source, f"has {source_lines} lines but {target} has {target_lines}; "
                                "parallel files need one line per pair")
    for (number, left), (_, right) in zip(numbered_lines(source), numbered_lines(target)):
        yield number, left, right


def count_lines(path: str | os.PathLike, block: int = 1 << 20) -> int:
    """Lines in a file (a last line without a newline counts), read in blocks."""
    check_readable_file(path)
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")
