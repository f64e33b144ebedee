"""Reading question-answering data: SQuAD JSON (v1.1 and v2.0) and JSONL.

    SQuAD JSON  {"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
                "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}
    JSONL       one {"context", "question", "answers": [{"text", "answer_start"}], "id", "is_impossible"}
                per line; "id" and "is_impossible" are optional, and "answers" may also be given in the
                column form {"text": [...], "answer_start": [...]}. An empty answer list means no answer
                (SQuAD v2).

Every problem is a one-line DataError naming the file and the record: its JSON path in a SQuAD file
(`data[3].paragraphs[1].qas[0]`) or its line in a JSONL file. An `answer_start` that does not point
at the answer text is not an error: the first occurrence of the text is used and the answer is
counted in `QADataset.moved_starts`. A question without an id gets its JSON path or line as id.
Contexts are kept exactly as given (answers are character offsets into them).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from nlp_apps.data.fileio import check_readable_file, parse_json, read_text
from nlp_apps.data.readers import numbered_lines
from nlp_apps.errors import DataError

FORMATS = ("auto", "squad", "jsonl")


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset of the answer in its context


@dataclass(frozen=True)
class QAExample:
    id: str
    question: str
    context: str
    answers: tuple[Answer, ...] = ()  # empty: the question has no answer in the context (SQuAD v2)
    source: str = ""  # "file: data[0].paragraphs[1].qas[2]" or "file:line", for messages


@dataclass
class QADataset:
    examples: list[QAExample]
    version: str  # "2.0" when questions may have no answer, else "1.1"
    moved_starts: list[str] = field(default_factory=list)  # answers whose answer_start missed the text (first occurrence used)

    def warning(self) -> str | None:
        if not self.moved_starts:
            return None
        return (f"{len(self.moved_starts):,} answer(s) whose answer_start does not point at the answer text: used the text's "
                f"first occurrence instead (first: {self.moved_starts[0]})")


def read_squad(path: str | os.PathLike, *, format: str = "auto") -> QADataset:
    """Read a SQuAD JSON or JSONL file (`format` auto: by extension, else by its first line)."""
    path = Path(path)
    check_readable_file(path)
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in FORMATS[1:]:
        raise DataError(path, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    reader = _Reader(path)
    dataset = reader.read_squad() if fmt == "squad" else reader.read_jsonl()
    if not dataset.examples:  # JSONL: only blank lines
        raise DataError(path, "no questions (the file is empty)" if fmt == "jsonl" else "no questions (the file holds none)")
    return dataset


def read_dataset(path: str | os.PathLike, **options) -> list[QAExample]:
    """The plug-in contract's adapter: the questions of `path`, warning about moved answer starts."""
    dataset = read_squad(path, **options)
    if dataset.warning():
        warnings.warn(f"{path}: {dataset.warning()}", stacklevel=2)
    return dataset.examples


def split_examples(examples: list[QAExample]) -> tuple[list[dict], list[list[str]]]:
    """(inputs {"context", "question"} for predict, the gold answer texts of each question: [] = no answer)."""
    return ([{"context": e.context, "question": e.question} for e in examples],
            [[a.text for a in e.answers] for e in examples])


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "squad"
    with open(path, "rb") as handle:
        first = next((line for line in handle if line.strip()), b"")
    try:
        record = parse_json(first.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "squad"  # a multi-line JSON document; the SQuAD reader names any real problem
    return "jsonl" if isinstance(record, dict) and "context" in record else "squad"


class _Reader:
    def __init__(self, path: Path):
        self.path = path
        self.moved: list[str] = []
        self.seen_ids: dict[str, str] = {}
        self.impossible = False
        self.line: int | None = None  # the JSONL line being read

    def fail(self, where: str, problem: str):
        raise DataError(self.path, f"{where}: {problem}" if where else problem, line=self.line)

    def locate(self, where: str) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else f"{self.path}: {where}"

    # ---- SQuAD JSON ------------------------------------------------------------------------

    def read_squad(self) -> QADataset:
        text = read_text(self.path)
        if not text.strip():
            self.fail("", "no questions (the file is empty)")
        try:
            document = parse_json(text)
        except json.JSONDecodeError as exc:
            raise DataError(self.path, f"malformed JSON ({exc.msg}, column {exc.colno})", line=exc.lineno) from None
        if not isinstance(document, dict) or not isinstance(document.get("data"), list):
            self.fail("", 'not SQuAD JSON: expected an object with a "data" list (for one question per line, use JSONL)')
        examples = []
        for a, article in enumerate(document["data"]):
            where = f"data[{a}]"
            paragraphs = self.value(article, "paragraphs", list, where)
            for p, paragraph in enumerate(paragraphs):
                where = f"data[{a}].paragraphs[{p}]"
                context = self.text(paragraph, "context", where)
                for q, qa in enumerate(self.value(paragraph, "qas", list, where)):
                    examples.append(self.example(qa, context, f"{where}.qas[{q}]"))
        version = str(document.get("version", ""))
        return QADataset(examples, "2.0" if self.impossible or version.lstrip("v").startswith("2") else "1.1", self.moved)

    def value(self, record, key: str, kind: type, where: str, required: bool = True):
        if not isinstance(record, dict):
            self.fail(where, f"expected a JSON object, got {type(record).__name__}")
        if key not in record or record[key] is None:
            if required:
                self.fail(where, f"missing {key!r} ({'it is null' if key in record else 'keys: ' + (', '.join(record) or 'none')})")
            return None
        value = record[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(where, f"{key!r} must be {_KIND_NAMES[kind]}, got {type(value).__name__}")
        return value

    def text(self, record, key: str, where: str) -> str:
        value = self.value(record, key, str, where)
        if not value.strip():
            self.fail(where, f"empty {key}")
        return value

    def example(self, qa, context: str, where: str) -> QAExample:
        """One question: a SQuAD qa object, or a JSONL record (which holds its context too)."""
        question = self.text(qa, "question", where)
        qid = qa.get("id")
        if qid is None or (isinstance(qid, str) and not qid.strip()):
            qid = where or f"line-{self.line}"
        elif not isinstance(qid, (str, int)) or isinstance(qid, bool):
            self.fail(where, f"'id' must be a string, got {type(qid).__name__}")
        qid = str(qid)
        if qid in self.seen_ids:
            self.fail(where, f"question id {qid!r} repeats (first at {self.seen_ids[qid]})")
        self.seen_ids[qid] = self.locate(where)
        impossible = self.value(qa, "is_impossible", bool, where, required=False) or False
        if self.line is not None and "answers" not in qa:
            self.fail(where, "missing 'answers' (an empty list means the question has no answer)")
        raw = _answer_list(qa.get("answers"), lambda problem: self.fail(where, problem))
        answers = () if impossible else tuple(self.answer(a, context, f"{where}.answers[{k}]".lstrip(".")) for k, a in enumerate(raw))
        if not answers:
            if self.line is None and not impossible:
                self.fail(where, 'no answers (SQuAD v2 marks an unanswerable question with "is_impossible": true)')
            self.impossible = True
        return QAExample(qid, question, context, answers, self.locate(where))

    def answer(self, answer, context: str, where: str) -> Answer:
        text = self.value(answer, "text", str, where)
        if not text.strip():
            self.fail(where, "empty answer text")
        start = self.value(answer, "answer_start", int, where)
        if start >= 0 and context[start : start + len(text)] == text:
            return Answer(text, start)
        first = context.find(text)
        if first < 0:
            self.fail(where, f"the answer text {_short(text)!r} does not occur in the context")
        self.moved.append(self.locate(where))
        return Answer(text, first)

    # ---- JSONL -----------------------------------------------------------------------------

    def read_jsonl(self) -> QADataset:
        examples = []
        for number, text in numbered_lines(self.path):
            if not text.strip():
                continue
            self.line = number
            try:
                record = parse_json(text)
            except json.JSONDecodeError as exc:
                self.fail("", f"malformed JSON ({exc.msg})")
            examples.append(self.example(record, self.text(record, "context", ""), ""))
        self.line = None
        return QADataset(examples, "2.0" if self.impossible else "1.1", self.moved)


_KIND_NAMES = {str: "a string", int: "an integer", list: "a list", bool: "true or false", dict: "an object"}


def _answer_list(answers, fail) -> list:
    """The answers as a list of {"text", "answer_start"} objects (the column form is turned into it)."""
    if answers is None:
        return []
    if isinstance(answers, dict):  # {"text": [...], "answer_start": [...]}
        texts, starts = answers.get("text"), answers.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            fail("'answers' in column form needs lists 'text' and 'answer_start' of the same length")
        return [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]
    if not isinstance(answers, list):
        fail(f"'answers' must be a list, got {type(answers).__name__}")
    return answers


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
