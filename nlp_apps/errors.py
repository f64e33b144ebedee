"""Errors a user can fix. The CLI prints them as one line and exits non-zero."""

from __future__ import annotations

import os

# What str.splitlines() breaks a line at; a message shows them as escapes (\n), so that it stays one line.
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """`text` with its line breaks written as escapes: file contents quoted in a message (a JSON key, a CSV
    cell) or a file name can hold them, and a user error is printed as one line."""
    return text.translate(_LINE_BREAKS)


class NlpAppsError(Exception):
    """Base class for errors caused by bad input rather than by a bug."""


class DataError(NlpAppsError):
    """A data file is missing, unreadable or malformed. Names the file and, when known, the line."""

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(one_line(f"{where}: {problem}"))


class CheckpointError(NlpAppsError):
    """A model directory cannot be loaded (missing files, bad config, newer format, ...)."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(one_line(f"{self.path}: {problem}"))


class TrainingError(NlpAppsError):
    """Training cannot go on (for example a NaN or infinite loss)."""


class SetupError(NlpAppsError):
    """Options that cannot work together in this setup (for example more processes than batch rows)."""
