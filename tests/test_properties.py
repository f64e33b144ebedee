"""Property-based tests (Hypothesis): every reader and adapter, and every `predict`, on hostile input.

Inputs: random bytes, truncated JSON, wrong or missing columns and fields, huge lines, bytes that are
not UTF-8 (encoded surrogates among them), lone surrogates ("\ud800" in JSON, surrogateescape'd standard
input, Python strings), NUL, right-to-left marks, combining characters, emoji, line separators, empty
input, and for `predict` values that are not text at all. The only outcomes allowed:

- readers (files and standard input): a valid result, or the project's user error (NlpAppsError:
  DataError and friends) whose message is one line and names the file;
- `predict`, `perplexity`, `generate`: a valid result, or the ValueError/TypeError their docstrings
  document (an empty QA context or question, a text without words, an empty prompt, a value that is
  not a string, a string holding a lone surrogate), in one line that says what was expected.

Any other exception fails the test. A bug these tests found stays pinned by an `@example`.

Examples per test: 25 by default (the file runs in seconds); NLP_APPS_HYPOTHESIS_EXAMPLES=500 runs
more. Under CI (the CI environment variable set) the examples are derandomized, so CI is deterministic.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import importlib.util
import io
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from nlp_apps.data import readers
from nlp_apps.data.corpora import CorpusSpec, iter_documents, read_corpora_file
from nlp_apps.data.fileio import LONE_SURROGATE, read_lines
from nlp_apps.data.readers import Field, Record
from nlp_apps.errors import NlpAppsError

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = settings(
    max_examples=int(os.environ.get("NLP_APPS_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    print_blob=True,
)

# ---- strategies -------------------------------------------------------------------------------

SPECIALS = ["\x00", "\t", "\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\ufeff", "\u200b",
            "\u200e", "\u200f", "\u202e", "\u2066", "\u0301", "e\u0301", "\u0338", "\U0001F600", "\U0001F469\u200d\U0001F467",
            "\U0001F1E9\U0001F1EA", "\u01c5", "\u00df", "\u0130", "\uffff", "\U0010ffff", "\u00b2", "\u0663", '"', "'", ",",
            "\\", "{", "}", "[", "]", ":", " ", "  ", "\u3000", "\u00a0", "\ud800", "\udcff"]
# (The last two are lone surrogates: a file holds them as bytes that are not UTF-8, JSON as "\ud800"; Python strings
# hold them after decoding bytes with errors="surrogateescape".)
# Names the readers look for (header columns, JSON keys), so that generated files sometimes get past the first check.
KEYS = ["text", "sentence", "review", "content", "label", "sentiment", "class", "target", "source", "src", "tgt",
        "translation", "document", "article", "body", "summary", "title", "subject", "highlights", "context", "question",
        "answers", "answer_start", "id", "is_impossible", "ann0", "ann1", "email_body", "subject_line", "name", "train",
        "valid", "weight", "holdout", "paragraphs", "text_field", "corpora", "data", "qas", "version", "Text", "LABEL"]
# Bytes that are not UTF-8: a lone continuation byte, a cut sequence, an encoded surrogate, an overlong "/", > U+10FFFF.
BAD_BYTES = [b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xfe\xff"]

odd_text = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(SPECIALS)), max_size=10).map("".join)
huge_text = st.builds(lambda piece, size: ((piece or "x") * size)[:size], odd_text, st.sampled_from([5_000, 140_000]))
cell = st.one_of(odd_text, odd_text, odd_text, st.sampled_from(KEYS), huge_text)
key = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS), odd_text)
scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), cell)
json_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key, inner, max_size=4), max_leaves=8)
# Texts that are JSON only in part, or JSON that Python's json module refuses in its own ways.
RAW_JSON = ["", " ", "{", '{"text": "x", "label"', "[]", "null", "NaN", '"text"', "[" * 3000 + "]" * 3000,
            '{"a": ' * 3000 + "1" + "}" * 3000, "1" * 5000, '{"text": ' + "9" * 5000 + "}", "\ufeff{}", "{}\x00",
            '{"text": "a\\ud800", "label": 1}', '{"text": "\\ud83d\\ude00 \\\\ud800", "label": 1}']


def rarely(draw, odds: int = 12) -> bool:
    """True about once in `odds` (a number in the middle of a range: Hypothesis favours a range's ends)."""
    return draw(st.integers(0, odds - 1)) == odds // 2


@st.composite
def jsonl_text(draw) -> str:
    lines = draw(st.lists(st.one_of(st.dictionaries(key, json_value, max_size=5).map(lambda r: json.dumps(r, ensure_ascii=False)),
                                    json_value.map(json.dumps), st.sampled_from(RAW_JSON), odd_text), max_size=5))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


@st.composite
def delimited_text(draw, delimiter: str) -> str:
    """A header (or not) and rows of odd cells; quoted with the csv module, or joined raw (stray quotes)."""
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(cell, min_size=0, max_size=width + 1), max_size=4))
    if draw(st.booleans()):
        rows.insert(0, draw(st.lists(key, min_size=1, max_size=width)))
    if draw(st.booleans()):
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE,
                   escapechar=None if delimiter == "," else "\\").writerows(rows)
        return out.getvalue()
    return "".join(delimiter.join(row) + "\n" for row in rows)


@st.composite
def mangled(draw, text, odds: int = 1) -> bytes:
    """`text`, maybe cut short, given bytes that are not UTF-8, a byte-order mark, CRLF, a huge line, or replaced by bytes
    (about one time in `odds`)."""
    try:
        data = draw(text).encode("utf-8", "surrogatepass")  # a lone surrogate: bytes that are not UTF-8
    except csv.Error:  # the csv module refuses some rows (QUOTE_NONE and a delimiter in a cell): use raw bytes
        data = draw(st.binary(max_size=100))
    how = "as is"
    if odds == 1 or rarely(draw, odds):
        how = draw(st.sampled_from(["as is", "cut", "bad bytes", "bom", "crlf", "huge line", "bytes", "empty"]))
    if how == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "bad bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]
    elif how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "crlf":
        data = data.replace(b"\n", b"\r\n")
    elif how == "huge line":
        data += b"a" * 140_000 + b"\n"
    elif how == "bytes":
        data = draw(st.binary(max_size=200))
    elif how == "empty":
        data = b""
    return data


any_text_file = st.one_of(mangled(jsonl_text()), mangled(delimited_text(",")), mangled(delimited_text("\t")), mangled(odd_text))
column = st.one_of(st.none(), st.none(), st.sampled_from(KEYS), st.integers(0, 3), st.integers(0, 3).map(str), odd_text)


def sometimes(strategy, odds: int = 3):
    """None mostly; about one time in `odds` a value of `strategy` (an option a caller may give)."""
    return st.integers(0, odds - 1).flatmap(lambda n: strategy if n == odds // 2 else st.none())


maybe_column = sometimes(column)
# Texts with words in them (so that a record is mostly usable), and labels as datasets write them.
words = st.builds(lambda head, tail: head + tail, st.sampled_from(["good ", "Ein Hund l\u00e4uft. ", "Paris? ", "x", "\u05e9\u05dc\u05d5\u05dd "]),
                  st.one_of(odd_text, odd_text, huge_text))
labels = st.one_of(st.sampled_from(["pos", "neg", "1", "0", " 1 ", "\u202epos"]), st.integers(-1, 2), odd_text)


@st.composite
def records_file(draw, columns) -> tuple[str, bytes]:
    """(suffix, bytes) of a plausible file of records, as JSONL, CSV (with or without header) or TSV:
    `columns` are (the names a reader accepts, a strategy for the values), one per column."""
    suffix = draw(st.sampled_from([".jsonl", ".csv", ".tsv"]))
    names = [draw(st.sampled_from(accepted)) for accepted, _ in columns]
    rows = [[draw(values) for _, values in columns] for _ in range(draw(st.integers(1, 4)))]
    if suffix == ".jsonl":
        text = "".join(json.dumps(dict(zip(names, row)), ensure_ascii=draw(st.booleans())) + "\n" for row in rows)
    else:
        rows = [[str(value) for value in row] for row in rows]
        if draw(st.sampled_from([True, True, False])):
            rows.insert(0, names)
        if suffix == ".csv":
            out = io.StringIO()
            csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(rows)
            text = out.getvalue()
        else:  # TSV cannot quote: cells keep their text, less tabs and line ends
            text = "".join("\t".join(re.sub(r"[\t\r\n]", " ", cell) for cell in row) + "\n" for row in rows)
    return suffix, draw(mangled(st.just(text), odds=4))


def aligned_files(lines: int):
    """Two files of `lines` lines each (mostly: a line may hold a line break, or a file be mangled)."""
    one = st.lists(words, min_size=lines, max_size=lines).map(lambda texts: "".join(t + "\n" for t in texts))
    return st.tuples(mangled(one, odds=4), mangled(one, odds=4))


parallel_files = st.one_of(st.integers(1, 4).flatmap(aligned_files), st.tuples(any_text_file, any_text_file))


def task_file(*columns):
    """(suffix, bytes): a plausible file of the task's records (mostly), or any file under any of the suffixes."""
    return st.one_of(records_file(columns), records_file(columns),
                     st.tuples(st.sampled_from([".tsv", ".csv", ".jsonl", ".txt"]), any_text_file))


# ---- checks -----------------------------------------------------------------------------------


@contextlib.contextmanager
def user_error_allowed(*paths):
    """A user error is an allowed outcome: its message is one line and names one of `paths`."""
    try:
        yield
        event("outcome: a result")
    except NlpAppsError as exc:
        event("outcome: a user error")
        message = str(exc)
        assert len(message.splitlines()) == 1, f"a message of several lines: {message!r}"
        assert any(str(p) in message for p in paths), f"the message names none of {paths}: {message!r}"


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("properties")


@contextlib.contextmanager
def fresh_folder(workdir: Path):
    """A new folder per example (@given runs many examples in one test call)."""
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        yield Path(folder)


def expected_lines(data: bytes, bom: bool) -> list[str] | int:
    """What reading `data` line by line gives: its lines, or the number of the first line that is not UTF-8."""
    segments = data.split(b"\n")
    if segments[-1] == b"":
        segments.pop()
    lines = []
    for number, segment in enumerate(segments, start=1):
        try:
            lines.append(segment.decode("utf-8-sig" if bom and number == 1 else "utf-8").rstrip("\r\n"))
        except UnicodeDecodeError:
            return number
    return lines


# ---- the core readers -------------------------------------------------------------------------


@SETTINGS
@given(data=any_text_file)
@example(data=b"")
@example(data=b"\xef\xbb\xbfa\r\nb\xff\n")
def test_line_readers_give_the_lines_or_name_the_first_bad_line(workdir, data):
    path = write(workdir, "lines.txt", data)
    for reader, bom in ((lambda p: list(read_lines(p)), False), (lambda p: [t for _, t in readers.numbered_lines(p)], True)):
        expected = expected_lines(data, bom)
        if isinstance(expected, int):
            with pytest.raises(NlpAppsError, match=rf"^{re.escape(str(path))}:{expected}: not valid UTF-8"):
                reader(path)
        else:
            assert reader(path) == expected
            assert readers.count_lines(path) == len(expected)


fields = st.lists(st.builds(Field, name=st.sampled_from(["text", "label", "extra"]), aliases=st.lists(key, max_size=3).map(tuple),
                            column=column, required=st.booleans(), option=st.sampled_from([None, "--text-column"])),
                  min_size=1, max_size=3, unique_by=lambda f: f.name)


@SETTINGS
@given(data=any_text_file, fields=fields, format=st.sampled_from(["csv", "tsv", "jsonl", None]))
@example(data=b"text\n", fields=[Field("text", column="\u00b2")], format="csv")  # "²".isdigit() but int("²") fails
@example(data=b'{"text": ' + b"9" * 5000 + b"}\n", fields=[Field("text", ("text",))], format="jsonl")  # int too long for Python
@example(data=b"[" * 3000 + b"\n", fields=[Field("text", ("text",))], format="jsonl")  # nested too deeply
@example(data=b"text\n" + b"x" * 140_000 + b"\n", fields=[Field("text", ("text",))], format="tsv")  # a long line is no error
@example(data=b'{"te\\nxt": 1}\n', fields=[Field("text", ("text",))], format="jsonl")  # a key with a line break, in the message
def test_read_records_gives_records_or_a_one_line_error(workdir, data, fields, format):
    path = write(workdir, "records.data", data)
    with user_error_allowed(path):
        records = list(readers.read_records(path, fields, format=format))
        last = 0
        for record in records:
            assert isinstance(record, Record) and set(record.values) == {f.name for f in fields}
            assert record.path == str(path) and record.line > last
            last = record.line
            for field in fields:
                value = record.values[field.name]
                assert value is not None or not field.required
                if format != "jsonl":
                    assert value is None or isinstance(value, str)


@SETTINGS
@given(files=parallel_files)
def test_parallel_files_pair_line_by_line_or_refuse(workdir, files):
    source, target = files
    left, right = write(workdir, "parallel.src", source), write(workdir, "parallel.tgt", target)
    with user_error_allowed(left, right):
        pairs = list(readers.read_parallel(left, right))
        assert [(s, t) for _, s, t in pairs] == list(zip(expected_lines(source, True), expected_lines(target, True)))


# ---- the task adapters ------------------------------------------------------------------------


SENTIMENT_COLUMNS = ((("text", "sentence", "review", "Text"), st.one_of(words, words, json_value)),
                     (("label", "sentiment", "class", "LABEL"), st.one_of(labels, labels, json_value)))


@SETTINGS
@given(file=task_file(*SENTIMENT_COLUMNS), format=st.sampled_from(["auto", "auto", "auto", "tsv", "csv", "jsonl", "sst2", "nope"]),
       text_column=maybe_column, label_column=maybe_column, require_labels=st.booleans())
@example(file=(".jsonl", b'{"text": ["a", "b"], "label": 1}\n'), format="auto", text_column=None, label_column=None,
         require_labels=True)  # a text that is a list
@example(file=(".tsv", b"text\tlabel\r\nold Mac line ends\r1\r"), format="auto", text_column=None, label_column=None,
         require_labels=True)  # a carriage return inside a TSV line
def test_sentiment_read_dataset(workdir, file, format, text_column, label_column, require_labels):
    from tasks.sentiment.adapter import Example, read_dataset

    suffix, data = file
    path = write(workdir, "sentiment" + suffix, data)
    with user_error_allowed(path):
        examples = read_dataset(path, format=format, text_column=text_column, label_column=label_column, require_labels=require_labels)
        assert isinstance(examples, list) and examples
        for item in examples:
            assert isinstance(item, Example) and isinstance(item.text, str) and item.text == item.text.strip() and item.text
            assert (item.label is None and not require_labels) or (isinstance(item.label, str) and item.label.strip())


@SETTINGS
@given(files=st.dictionaries(st.sampled_from(["pos", "neg", "neutral", "\u202eneg", "\U0001F600"]),
                             st.lists(mangled(words, odds=4), max_size=3), max_size=3),
       stray=st.lists(mangled(odd_text), max_size=2))
def test_sentiment_reads_a_folder_per_label(workdir, files, stray):
    from tasks.sentiment.adapter import read_dataset

    with fresh_folder(workdir) as folder:
        for label, texts in files.items():
            (folder / label).mkdir()
            for i, data in enumerate(texts):
                write(folder / label, f"{i}.txt", data)
        for i, data in enumerate(stray):
            write(folder, f"stray{i}.txt", data)
        with user_error_allowed(folder):
            examples = read_dataset(folder)
            assert examples and all(e.label in files and e.text == e.text.strip() and e.text for e in examples)


@SETTINGS
@given(file=task_file((("source", "src"), words), (("target", "tgt", "translation"), words)),
       format=st.sampled_from([None, None, None, "tsv", "csv", "jsonl"]), src_field=maybe_column, tgt_field=maybe_column,
       require_target=st.booleans())
def test_translation_reads_pairs(workdir, file, format, src_field, tgt_field, require_target):
    from tasks.translation.adapter import Pair, read_pairs

    suffix, data = file
    path = write(workdir, "pairs" + suffix, data)
    with user_error_allowed(path):
        result = read_pairs(path, format=format, src_field=src_field, tgt_field=tgt_field, require_target=require_target)
        assert result.pairs and result.skipped_empty >= 0
        for pair in result.pairs:
            assert isinstance(pair, Pair) and pair.source and pair.source == pair.source.strip()
            assert pair.target is None or (isinstance(pair.target, str) and pair.target == pair.target.strip())
            assert pair.target or not require_target


@SETTINGS
@given(files=st.one_of(parallel_files, st.tuples(any_text_file, st.none())))
def test_translation_reads_parallel_files(workdir, files):
    source, target = files
    from tasks.translation.adapter import read_pairs

    src = write(workdir, "pairs.de", source)
    tgt = None if target is None else write(workdir, "pairs.en", target)
    with user_error_allowed(src, *([tgt] if tgt else [])):
        result = read_pairs(src=src, tgt=tgt, require_target=tgt is not None)
        assert result.pairs and all(p.source and (p.target if tgt else p.target is None) for p in result.pairs)


@SETTINGS
@given(file=task_file((("text", "text", "document", "body"), words), (("summary", "summary", "title", "highlights"), words), (("ann0",), words)),
       format=st.sampled_from([None, None, None, "tsv", "csv", "jsonl"]), text_field=sometimes(key),
       summary_field=sometimes(key), ref_fields=st.sampled_from([[], [], ["ann0"], ["ann0", "nope"], ["text"]]),
       require_summary=st.booleans(), skip_empty=st.booleans())
def test_summarization_reads_documents(workdir, file, format, text_field, summary_field, ref_fields, require_summary, skip_empty):
    from tasks.summarization.adapter import Document, read_documents

    suffix, data = file
    path = write(workdir, "docs" + suffix, data)
    with user_error_allowed(path):
        result = read_documents(path, format=format, text_field=text_field, summary_field=summary_field, ref_fields=ref_fields,
                                require_summary=require_summary, skip_empty=skip_empty)
        assert result.documents
        for doc in result.documents:
            assert isinstance(doc, Document) and doc.text and doc.text == doc.text.strip()
            assert all(isinstance(r, str) and r for r in doc.references)
            assert doc.summary or doc.references or not require_summary


@SETTINGS
@given(files=st.one_of(parallel_files, st.tuples(any_text_file, st.none())), skip_empty=st.booleans())
def test_summarization_reads_line_aligned_files(workdir, files, skip_empty):
    source, target = files
    from tasks.summarization.adapter import read_documents

    src = write(workdir, "docs.txt", source)
    tgt = None if target is None else write(workdir, "sums.txt", target)
    with user_error_allowed(src, *([tgt] if tgt else [])):
        result = read_documents(src=src, tgt=tgt, require_summary=tgt is not None, skip_empty=skip_empty)
        assert result.documents and all(d.text for d in result.documents)


def broken(draw, value):
    """`value` mostly; now and then missing (the Ellipsis, which drop_missing drops) or any JSON value in its place."""
    return ... if rarely(draw, 30) else draw(json_value) if rarely(draw, 30) else value


def drop_missing(record: dict) -> dict:
    return {k: v for k, v in record.items() if v is not ...}


@st.composite
def qa_record(draw, with_context: bool) -> dict:
    """A question with its context and an answer found in it (answer_start right, off, or past the end), its fields
    now and then missing or of the wrong type."""
    context = draw(st.one_of(words, st.sampled_from(["The tower was finished in 1889.", "\u202eabc \U0001F600 e\u0301f", "x " * 3000])))
    start = draw(st.integers(0, len(context) - 1))
    text = context[start : start + draw(st.integers(1, 12))]
    answer_start = draw(st.sampled_from([start + 1, -1, 0, 10**30])) if rarely(draw, 4) else start
    answer = drop_missing({"text": broken(draw, text), "answer_start": broken(draw, answer_start)})
    answers = draw(st.sampled_from([[], [answer, answer], {"text": [text], "answer_start": [start]}])) if rarely(draw, 4) else [answer]
    qa = {"id": broken(draw, draw(st.one_of(st.none(), odd_text, st.integers(0, 3)))), "question": broken(draw, draw(words)),
          "answers": broken(draw, answers), "is_impossible": broken(draw, draw(st.booleans()) if rarely(draw, 4) else ...)}
    if with_context:
        qa["context"] = broken(draw, context)
        return drop_missing(qa)
    return {"context": context, "qa": drop_missing(qa)}


@st.composite
def squad_json(draw) -> str:
    items = draw(st.lists(qa_record(with_context=False), min_size=1, max_size=4))
    paragraphs = [drop_missing({"context": broken(draw, item["context"]), "qas": broken(draw, [item["qa"]])}) for item in items]
    data = [drop_missing({"title": broken(draw, "t"), "paragraphs": broken(draw, paragraphs)})]
    document = drop_missing({"version": broken(draw, draw(st.sampled_from(["1.1", "v2.0", 2]))), "data": broken(draw, data)})
    return json.dumps(document, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1])))


qa_jsonl = st.lists(qa_record(with_context=True).map(lambda r: json.dumps(r, ensure_ascii=False)), min_size=1, max_size=4).map("\n".join)
qa_file = st.one_of(st.tuples(st.sampled_from([".json", ".json", ".txt"]), mangled(squad_json(), odds=4)),
                    st.tuples(st.sampled_from([".jsonl", ".jsonl", ".txt"]), mangled(qa_jsonl, odds=4)),
                    st.tuples(st.sampled_from([".json", ".jsonl"]), mangled(st.one_of(squad_json(), qa_jsonl), odds=4)),
                    st.tuples(st.sampled_from([".json", ".jsonl", ".txt"]), any_text_file))


@SETTINGS
@given(file=qa_file, format=st.sampled_from(["auto", "auto", "auto", "squad", "jsonl", "csv"]))
@example(file=(".txt", b"[" * 3000), format="auto")  # format detection must not stumble on what json.loads refuses
@example(file=(".txt", b'{"data": [], "' + b"9" * 5000 + b'": 1}'), format="auto")
def test_qa_reads_squad_json_and_jsonl(workdir, file, format):
    from tasks.qa.adapter import QADataset, read_squad

    suffix, data = file
    path = write(workdir, "squad" + suffix, data)
    with user_error_allowed(path):
        dataset = read_squad(path, format=format)
        assert isinstance(dataset, QADataset) and dataset.examples and dataset.version in ("1.1", "2.0")
        assert len({e.id for e in dataset.examples}) == len(dataset.examples)
        for item in dataset.examples:
            assert item.question.strip() and item.context.strip()
            assert all(item.context[a.start : a.start + len(a.text)] == a.text and a.text.strip() for a in item.answers)


@SETTINGS
@given(file=qa_file)
def test_qa_predict_input_readers(workdir, file):
    from tasks.qa.cli import read_context, read_jsonl_inputs

    path = write(workdir, "questions.jsonl", file[1])
    with user_error_allowed(path):
        rows = read_jsonl_inputs(str(path))
        assert all(row is None or (isinstance(row["context"], str) and isinstance(row["question"], str)) for row in rows)
    with user_error_allowed(path):
        assert isinstance(read_context(str(path)), str)


@SETTINGS
@given(data=any_text_file)
def test_predict_commands_read_input_files(workdir, data):
    from nlp_apps.commands.options import read_inputs

    path = write(workdir, "inputs.txt", data)
    with user_error_allowed(path):
        assert read_inputs((), str(path)) == expected_lines(data, False)


@SETTINGS
@given(data=any_text_file, errors=st.sampled_from(["strict", "surrogateescape"]))
@example(data=b"fine\na\xff\n", errors="surrogateescape")  # (a C or POSIX locale reads standard input so)
@example(data=b"fine\na\xff\n", errors="strict")
def test_predict_commands_read_standard_input(data, errors):
    """Standard input is read as UTF-8, whatever the locale's decoder would make of bytes that are not."""
    from nlp_apps.commands.options import read_inputs
    from tasks.qa.cli import read_jsonl_inputs

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors=errors))
        with user_error_allowed("<stdin>"):
            assert read_inputs((), None) == expected_lines(data, False)
        patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors=errors))
        with user_error_allowed("<stdin>"):
            for row in read_jsonl_inputs(None):
                assert row is None or not any(LONE_SURROGATE.search(row[k]) for k in ("context", "question"))


# ---- pretraining corpora ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_variable():
    """The environment variable that listed paths name (${NLP_APPS_TEST_DATA}/c0.txt), set for this module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NLP_APPS_TEST_DATA", "/data")
        yield


@st.composite
def corpora_json(draw) -> str:
    """A corpora listing: entries with a train file (or list), a validation file or a holdout count, and optional
    settings, some of them out of range, missing or of the wrong type."""

    def entry(i: int) -> dict:
        train = draw(st.sampled_from([f"c{i}.txt", [f"c{i}.txt", f"d{i}.jsonl"], f"${{NLP_APPS_TEST_DATA}}/c{i}.txt"]))
        valid, holdout = draw(st.sampled_from([(f"v{i}.txt", ...), (..., 5)] if not rarely(draw) else [(..., ...), (f"v{i}.txt", 5)]))
        return drop_missing({
            "name": broken(draw, draw(st.sampled_from(["books", "bad name", ""])) if rarely(draw) else ...),
            "train": broken(draw, draw(st.sampled_from([[], "${NLP_APPS_NOT_SET_EVER}/x.txt", 3, [3]])) if rarely(draw) else train),
            "valid": broken(draw, valid), "holdout": broken(draw, holdout),
            "weight": broken(draw, draw(st.sampled_from([1, 0.5, 2.5])) if draw(st.booleans()) else ...),
            "paragraphs": broken(draw, draw(st.sampled_from([..., True]))), "text_field": broken(draw, ...),
        })

    entries = [entry(i) for i in range(draw(st.integers(1, 3)))]
    return json.dumps({"other": entries} if rarely(draw) else draw(st.sampled_from([entries, {"corpora": entries}])))


@SETTINGS
@given(data=st.integers(0, 3).flatmap(lambda n: any_text_file if n == 2 else mangled(corpora_json(), odds=4)))  # (not one_of:
# it would weigh corpora_json alike with each of the four kinds of any_text_file)
@example(data=b'[{"train": [], "valid": "v.txt"}]')  # an empty train list
@example(data=b'[{"train": 3, "valid": "v.txt"}]')  # a train that is no path
@example(data=b'[{"train": ["a.txt", 3], "valid": "v.txt"}]')
@example(data=b'\xef\xbb\xbf[{"train": "a.txt", "valid": "v.txt"}]')  # a byte-order mark (Windows editors write one)
@example(data=b'[{"train": "a.txt", "valid": "v.txt", "n\\nx": 1}]')  # an unknown key with a line break
def test_read_corpora_file(workdir, data, data_variable):
    path = write(workdir, "corpora.json", data)
    with user_error_allowed(path):
        specs = read_corpora_file(path)
        assert specs and all(isinstance(s, CorpusSpec) and s.train and all(isinstance(p, str) for p in s.train) for s in specs)
        assert all(s.valid is None or isinstance(s.valid, str) for s in specs)
        assert len({s.name for s in specs}) == len(specs)


@SETTINGS
@given(data=any_text_file, suffix=st.sampled_from([".txt", ".jsonl"]), paragraphs=st.booleans(), text_field=key)
@example(data=b'{"text": ' + b"9" * 5000 + b"}\n", suffix=".jsonl", paragraphs=False, text_field="text")
def test_corpus_documents(workdir, data, suffix, paragraphs, text_field):
    path = write(workdir, "corpus" + suffix, data)
    with user_error_allowed(path):
        documents = list(iter_documents(path, paragraphs=paragraphs, text_field=text_field))
        assert all(isinstance(d, str) and "\n" not in d for d in documents)


# ---- the example task (examples/truecase) -----------------------------------------------------


@pytest.fixture(scope="module")
def truecase_data():
    """examples/truecase/truecase_task/data.py on its own (the example package is not installed)."""
    name = "_truecase_task_data"
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples/truecase/truecase_task/data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@SETTINGS
@given(file=st.one_of(task_file((("text",), words)), st.tuples(st.just(".txt"), mangled(words, odds=4))),
       text_field=st.sampled_from(["text", "text", "text", "sentence"]))
@example(file=(".jsonl", b'{"text": ["Paris"]}\n'), text_field="text")  # a text that is a list
def test_truecase_read_dataset(workdir, truecase_data, file, text_field):
    suffix, data = file
    path = write(workdir, "truecase" + suffix, data)
    with user_error_allowed(path):
        examples = truecase_data.read_dataset(path, text_field=text_field)
        assert examples and all(isinstance(e.text, str) and any(c.isalpha() for c in e.text) for e in examples)


# ---- predict ----------------------------------------------------------------------------------

long_text = st.builds(lambda piece, size: ((piece or "a b ") * size)[:size], odd_text, st.integers(100, 5_000))
some_text = st.one_of(odd_text, odd_text, st.sampled_from(["", " ", "\n", "\t\u3000", "\x00", "\u200b", "\ufeff", "\u202e\u200f",
                                                           "e\u0301\u0301\u0301", "\U0001F469\u200d\U0001F467 ok", "A short text."]),
                      long_text)
texts = st.one_of(some_text, st.lists(some_text, max_size=4))


# Smaller than the defaults, for speed; QA's short windows also make long contexts span several of them.
SMALL_HEADS = {"qa": dict(hidden_size=16, max_passage_len=96, doc_stride=32)}


def task_spec(name: str):
    if name == "truecase":  # the example plug-in, from its folder (it is not installed)
        with pytest.MonkeyPatch.context() as patch:
            patch.syspath_prepend(str(ROOT / "examples" / "truecase"))
            return importlib.import_module("truecase_task").TASK
    return importlib.import_module(f"tasks.{name}").TASK


def saved_task_model(name: str, language_model: Path, folder: Path):
    """An untrained head of task `name` on the tiny language model, saved and loaded back (what users load)."""
    from nlp_apps.io.checkpoint import load_backbone, load_model_tokenizer

    spec = task_spec(name)
    train = list(spec.read_dataset(spec.demo_data()["train"]))
    torch.manual_seed(0)
    model = spec.build_head(load_backbone(language_model), spec.head_config(**SMALL_HEADS.get(name, {})), train)
    spec.save(model, load_model_tokenizer(language_model), folder)
    pipeline = spec.load(folder, device="cpu")
    pipeline.precision = "fp32"
    return pipeline


@pytest.fixture(scope="module")
def task_model(tiny_language_model, tmp_path_factory):
    built = {}

    def get(name: str):
        if name not in built:
            built[name] = saved_task_model(name, tiny_language_model, tmp_path_factory.mktemp(name))
        return built[name]

    return get


def as_list(value):
    return [value] if isinstance(value, str) else value


def lone_surrogate(*texts) -> bool:
    return any(LONE_SURROGATE.search(text) for text in texts)


@contextlib.contextmanager
def refused_if_not_text(texts):
    """A text holding a lone surrogate is refused with a ValueError that says so; other texts are answered."""
    if lone_surrogate(*as_list(texts)):
        with pytest.raises(ValueError, match="half a surrogate pair"):
            yield
    else:
        yield


@SETTINGS
@given(texts=texts)
@example(texts=[])
@example(texts=["fine", "a\udcff"])  # bytes that are not UTF-8, read with errors="surrogateescape"
def test_sentiment_predict(task_model, texts):
    classifier = task_model("sentiment")
    with refused_if_not_text(texts):
        results = classifier.predict(texts)
    if lone_surrogate(*as_list(texts)):
        return
    assert isinstance(results, list) and len(results) == len(as_list(texts))
    for result in results:
        probabilities = result["probabilities"]
        assert set(probabilities) == set(classifier.labels) and result["label"] == max(probabilities, key=probabilities.get)
        assert all(math.isfinite(p) and 0 <= p <= 1 for p in probabilities.values())
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("task", ["translation", "summarization"])
@SETTINGS
@given(texts=texts, beam_size=st.sampled_from([1, 2]))
@example(texts=[], beam_size=2)
def test_text_to_text_predict(task_model, task, texts, beam_size):
    with refused_if_not_text(texts):
        out = task_model(task).predict(texts, beam_size=beam_size, max_length=6)
    if lone_surrogate(*as_list(texts)):
        return
    if isinstance(texts, str):
        assert isinstance(out, str) and "\n" not in out
    else:
        assert isinstance(out, list) and len(out) == len(texts) and all(isinstance(o, str) and "\n" not in o for o in out)


@SETTINGS
@given(context=some_text, question=some_text, form=st.sampled_from(["kwargs", "dict", "list", "questions"]))
@example(context="\u200b", question="\u200b", form="dict")  # non-space text that the tokenizer may drop
@example(context="", question="", form="list")
def test_qa_predict(task_model, context, question, form):
    qa = task_model("qa")
    calls = {"kwargs": lambda: [qa.predict(context=context, question=question)],
             "dict": lambda: [qa.predict({"context": context, "question": question})],
             "list": lambda: qa.predict([{"context": context, "question": question}] * 2),
             "questions": lambda: qa.predict(context=context, question=[question, question + "?"])}
    if not context.strip() or not question.strip() or lone_surrogate(context, question):
        with pytest.raises(ValueError, match="must not be empty|half a surrogate pair"):
            calls[form]()
        return
    for answer in calls[form]():
        assert set(answer) >= {"answer", "start", "end", "score"} and math.isfinite(answer["score"])
        if answer["start"] is None:
            assert answer["answer"] == "" and answer["end"] is None
        else:
            assert 0 <= answer["start"] <= answer["end"] <= len(context) and context[answer["start"] : answer["end"]] == answer["answer"]


@SETTINGS
@given(texts=texts)
@example(texts=[])
@example(texts=["\u0130stanbul stra\u00dfe \ufb01le"])  # letters whose case changes their length
def test_truecase_predict(task_model, texts):
    with refused_if_not_text(texts):
        out = task_model("truecase").predict(texts)
    if lone_surrogate(*as_list(texts)):
        return
    assert isinstance(out, list) and len(out) == len(as_list(texts))
    assert [len(o.split()) for o in out] == [len(t.split()) for t in as_list(texts)]


@SETTINGS
@given(text=some_text.filter(lambda text: not lone_surrogate(text)))  # (the pipeline refuses those before encoding)
@example(text="a\x85b \u2028c  d\u3000e \U0001F600\u0301")  # words the tokenizer does not split as str.split() does
def test_truecase_finds_each_words_first_token_as_a_plain_search_does(task_model, text):
    from truecase_task.data import WORD
    from truecase_task.model import encode_words

    tokenizer = task_model("truecase").tokenizer
    _, spans = tokenizer.encode_with_offsets(text)
    plain = [next((k for k, (start, end) in enumerate(spans) if start < word.end() and end > word.start()), 0) for word in WORD.finditer(text)]
    assert encode_words(tokenizer, text)[1] == plain


def test_qa_predict_of_no_questions_is_no_answers(task_model):
    assert task_model("qa").predict([]) == []


@pytest.fixture(scope="module")
def language_model(tiny_language_model):
    import nlp_apps

    return nlp_apps.load(tiny_language_model, precision="fp32")


@SETTINGS
@given(text=some_text, direction=st.sampled_from(["forward", "backward"]))
def test_perplexity(language_model, text, direction):
    if not text.split() or lone_surrogate(text):
        with pytest.raises(ValueError, match="no words|half a surrogate pair"):
            language_model.perplexity(text, direction=direction)
        return
    result = language_model.perplexity(text, direction=direction)
    assert result.tokens >= 1 and result.words >= 1 and math.isfinite(result.nll) and result.token_perplexity >= 1


@SETTINGS
@given(prompt=some_text, temperature=st.sampled_from([0.0, 0.7, 1.0]), top_k=st.sampled_from([None, 0, 1, 5, 10_000]),
       top_p=st.sampled_from([None, 0.0, 2.2e-309, 1e-9, 0.5, 1.0]))
def test_generate(language_model, prompt, temperature, top_k, top_p):
    if not prompt.strip() or lone_surrogate(prompt):
        with pytest.raises(ValueError, match="prompt is empty|half a surrogate pair"):
            language_model.generate(prompt, max_tokens=3)
        return
    out = language_model.generate(prompt, max_tokens=3, temperature=temperature, top_k=top_k, top_p=top_p, seed=0)
    assert isinstance(out, str)


# ---- predict on what is not text ----------------------------------------------------------------

not_text = st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=4), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))
maybe_texts = st.one_of(not_text, st.lists(st.one_of(some_text, not_text), min_size=1, max_size=3))


@contextlib.contextmanager
def documented_error_allowed():
    """predict's documented refusal: a ValueError or TypeError whose one-line message says what was expected."""
    try:
        yield
        event("outcome: a result")
    except (TypeError, ValueError) as exc:
        event("outcome: refused")
        message = str(exc)
        assert len(message.splitlines()) == 1 and re.search(r"must be|must not be empty|holds no words|prompt is empty|give a|contexts for", message), message


PREDICT_CALLS = {
    "sentiment": lambda models, value: models.task("sentiment").predict(value),
    "translation": lambda models, value: models.task("translation").predict(value, beam_size=1, max_length=4),
    "summarization": lambda models, value: models.task("summarization").predict(value, beam_size=2, max_length=4),
    "qa inputs": lambda models, value: models.task("qa").predict(value),
    "qa input fields": lambda models, value: models.task("qa").predict([{"context": value, "question": "Who?"}]),
    "qa context": lambda models, value: models.task("qa").predict(context=value, question="Who?"),
    "qa question": lambda models, value: models.task("qa").predict(context="Anna sees the moon.", question=value),
    "truecase": lambda models, value: models.task("truecase").predict(value),
    "perplexity": lambda models, value: models.lm.perplexity(value),
    "generate": lambda models, value: models.lm.generate(value, max_tokens=2, seed=0),
}


@pytest.fixture(scope="module")
def models(task_model, language_model):
    class Models:
        task = staticmethod(task_model)
        lm = language_model

    return Models


@pytest.mark.parametrize("call", PREDICT_CALLS)
@SETTINGS
@given(value=maybe_texts)
@example(value=None)
@example(value=[None])
@example(value=b"bytes")
def test_predict_refuses_what_is_not_text_with_a_clear_error(models, call, value):
    with documented_error_allowed():
        PREDICT_CALLS[call](models, value)
