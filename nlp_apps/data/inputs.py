"""What `predict` takes from Python callers: strings, checked once, so that anything else is a TypeError
that says what was expected (not an AttributeError from deep inside a tokenizer)."""

from __future__ import annotations

from collections.abc import Iterable

from nlp_apps.data.fileio import LONE_SURROGATE


def check_text(value, name: str = "text") -> str:
    """`value` when it is a string; else a TypeError naming `name` (a ValueError for a string that holds half a
    surrogate pair: what Python makes of bytes that are not UTF-8 with errors="surrogateescape", or of "\\ud800" in JSON)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    lone = LONE_SURROGATE.search(value)
    if lone:
        raise ValueError(f"{name} must be text: it holds half a surrogate pair ({lone.group()!r} at character {lone.start()}), "
                         "which is no character (bytes that are not UTF-8?)")
    return value


def text_list(texts, name: str = "texts") -> tuple[list[str], bool]:
    """(the texts as a list, whether a single string was given): a string, or a list (any iterable) of strings."""
    if isinstance(texts, str):
        return [check_text(texts, name)], True
    if isinstance(texts, (bytes, bytearray, dict)) or not isinstance(texts, Iterable):
        raise TypeError(f"{name} must be a string or a list of strings, got {type(texts).__name__}")
    texts = list(texts)
    for index, text in enumerate(texts):
        check_text(text, f"{name}[{index}]")
    return texts, False
