"""File helpers: atomic writes, strict UTF-8 line reading, readable-file and output checks, hashing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nlp_apps.errors import DataError

LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # half of a UTF-16 pair: no character, and no tokenizer takes it
_SURROGATE_ESCAPE = re.compile(r"(\\+)u[dD]([89a-fA-F])[0-9a-fA-F]{2}(\\u[dD][c-fC-F][0-9a-fA-F]{2})?")


def read_lines(path: str | os.PathLike) -> Iterable[str]:
    """Yield the lines of a UTF-8 text file without their newline; bad input raises DataError."""
    path = Path(path)
    check_readable_file(path)
    with open(path, "rb") as handle:
        yield from decode_lines(handle, path)


def decode_lines(raw_lines: Iterable[bytes], name: str | os.PathLike) -> Iterator[str]:
    """Lines of bytes (a binary file, standard input's buffer) as text without their newline; a line that is
    not UTF-8 is a DataError naming `name` and the line."""
    for number, raw in enumerate(raw_lines, start=1):
        try:
            yield raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise DataError(name, f"not valid UTF-8 (byte {exc.start} of the line)", line=number) from None


def stdin_lines() -> Iterator[str]:
    """The lines of standard input, read as UTF-8 as a file is (not in the locale's encoding, which may turn
    bytes that are not UTF-8 into lone surrogates or into a UnicodeDecodeError)."""
    stdin = sys.stdin
    if hasattr(stdin, "buffer"):
        yield from decode_lines(stdin.buffer, "<stdin>")
    else:  # a text stream without bytes underneath (an io.StringIO in a test)
        yield from (line.rstrip("\r\n") for line in stdin)


def parse_json(text: str) -> Any:
    """json.loads, where every way `text` can fail to be JSON text is a json.JSONDecodeError (with a position).

    json.loads itself raises ValueError for an integer of more than 4,300 digits (Python's limit on
    converting text to int) and RecursionError for arrays or objects nested about a thousand deep, and
    it reads a \\u escape of half a surrogate pair ("\\ud800") into a string that no tokenizer takes.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:
        limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
        digits = re.search(rf"[0-9]{{{limit + 1},}}", text)
        raise json.JSONDecodeError(f"a number of more than {limit:,} digits", text, digits.start() if digits else 0) from None
    except RecursionError:
        raise json.JSONDecodeError("arrays or objects nested too deeply", text, len(text) - len(text.lstrip())) from None
    if "\\u" in text and _holds_lone_surrogate(value):
        lone = (m for m in _SURROGATE_ESCAPE.finditer(text) if len(m.group(1)) % 2 and not (m.group(2) in "89abAB" and m.group(3)))
        start = next((m.end(1) - 1 for m in lone), 0)
        raise json.JSONDecodeError("a \\u escape of half a surrogate pair, which is no character", text, start)
    return value


def _holds_lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in a JSON value (keys included) holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def read_text(path: str | os.PathLike) -> str:
    """The whole text of a UTF-8 file (a byte-order mark dropped); bytes that are not UTF-8 are a DataError naming the line."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(path, "not valid UTF-8", line=data[: exc.start].count(b"\n") + 1) from None


def check_readable_file(path: str | os.PathLike) -> None:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file")
    if path.is_dir():
        raise DataError(path, "is a directory, expected a text file")
    if not os.access(path, os.R_OK):
        raise DataError(path, "file is not readable (permission denied)")


def check_new_file(path: str | os.PathLike, option: str, overwrite: bool) -> None:
    """An output file named by `option` (e.g. --hyps) may replace an existing file only with --overwrite."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, f"{option} is a directory, expected a file")
    if path.exists() and not overwrite:
        raise DataError(path, f"{option} already exists; pass --overwrite to replace it")


def check_output_dir(path: str | os.PathLike, option: str, overwrite: bool) -> None:
    """An output folder named by `option` (e.g. --out) must be new or empty unless --overwrite is given."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(path, f"{option} exists and is a file, expected a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise DataError(path, f"{option} is a non-empty directory; pass --overwrite to write into it")


def read_json_record(path: str | os.PathLike) -> dict:
    """A run's record file (metrics.json, manifest.json, ...) as a dict; {} where it is missing or unreadable,
    for readers that show what a directory holds and must not fail on one damaged record."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that readers see either the old or the new content, never a torn one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file; for a directory, of its files' relative paths and contents in sorted order."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode("utf-8") + b"\0")
        with open(file, "rb") as handle:
            while block := handle.read(chunk_size):
                digest.update(block)
    return digest.hexdigest()
