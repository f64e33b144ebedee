"""Words and their case, the dataset adapter and the metric (no torch here).

Any cased text is training data: the input is the text lowercased, the label of each word is how
it was written: "lower", "title" (first letter capital: Paris, I, McDonald) or "upper" (BBC, U.S.).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from nlp_apps.data import readers
from nlp_apps.errors import DataError

TAGS = ("lower", "title", "upper")
WORD = re.compile(r"\S+")  # a word is what str.split() gives


@dataclass(frozen=True)
class Example:
    text: str  # the sentence as written
    source: str  # file:line, for messages


def case_of(word: str) -> str:
    letters = [c for c in word if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return "upper"
    return "title" if letters and letters[0].isupper() else "lower"


def recase(text: str, tags: list[str]) -> str:
    """`text` (lowercase) with its words put in the case of their tags; spacing is kept."""
    tags = iter(tags)

    def apply(match: re.Match) -> str:
        word, tag = match.group(), next(tags)
        if tag == "upper":
            return word.upper()
        first = next((i for i, c in enumerate(word) if c.isalpha()), None)
        return word if tag == "lower" or first is None else word[:first] + word[first].upper() + word[first + 1 :]

    return WORD.sub(apply, text)


def read_dataset(path: str | os.PathLike, *, text_field: str = "text") -> list[Example]:
    """Cased sentences: a plain text file (one a line, blank lines skipped), or CSV/TSV/JSONL with a text field."""
    if readers.detect_format(path) is None:
        lines = ((number, line) for number, line in readers.numbered_lines(path) if line.strip())
    else:
        fields = [readers.Field("text", aliases=(text_field,))]
        lines = ((record.line, record.values["text"]) for record in readers.read_records(path, fields))
    examples = []
    for number, text in lines:
        if not isinstance(text, str):  # JSONL: a number, list or object where the text should be
            raise DataError(path, f"the text must be a string, got {type(text).__name__}", line=number)
        if not any(c.isalpha() for c in text):
            raise DataError(path, f"nothing to truecase in {text.strip()[:40]!r} (no letters)", line=number)
        examples.append(Example(text.strip(), f"{path}:{number}"))
    if not examples:
        raise DataError(path, "no sentences (the file is empty)")
    return examples


def truecase_metrics(predictions: list[str], references: list[str]) -> dict:
    """Word-level scores from scikit-learn: F1 of the capitalised words (title and upper, micro-averaged:
    the headline, since most words are lowercase) and accuracy over all words."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted, true = [], []
    for prediction, reference in zip(predictions, references, strict=True):
        if len(prediction.split()) != len(reference.split()):
            raise ValueError(f"the prediction {prediction!r} does not have the words of {reference!r}")
        predicted += [case_of(w) for w in prediction.split()]
        true += [case_of(w) for w in reference.split()]
    return {
        "f1": float(f1_score(true, predicted, labels=["title", "upper"], average="micro", zero_division=1.0)),
        "accuracy": float(accuracy_score(true, predicted)),
        "words": len(true),
    }
