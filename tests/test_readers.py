"""Record readers (CSV, TSV, JSONL, parallel text), sliding windows and pair buckets, on tiny files."""

import itertools
import random
import types

import numpy as np
import pytest

from nlp_apps.data.readers import Field, count_lines, read_parallel, read_records
from nlp_apps.data.windows import Window, bucket_pair_batches, sliding_windows
from nlp_apps.errors import DataError

TEXT = Field("text", ("text", "sentence"), option="--text-column")
LABEL = Field("label", ("label", "class"), option="--label-column")


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def values(records, *names):
    return [tuple(r.values[n] for n in names) for r in records]


def error(call):
    with pytest.raises(DataError) as err:
        list(call())
    return str(err.value)


# ---- CSV / TSV -----------------------------------------------------------------------------

def test_csv_with_header_finds_fields_by_alias_and_keeps_record_lines(tmp_path):
    path = write(tmp_path / "a.csv", 'id,Sentence,CLASS\n1,"two\nlines, quoted",pos\n\n2,plain,neg\n')
    records = list(read_records(path, [TEXT, LABEL]))
    assert values(records, "text", "label") == [("two\nlines, quoted", "pos"), ("plain", "neg")]
    assert [r.source for r in records] == [f"{path}:2", f"{path}:5"]  # a record's first line; blank lines skipped


def test_tsv_keeps_quotes_as_text_and_numbers_count_the_header_columns(tmp_path):
    path = write(tmp_path / "a.tsv", 'label\ttext\npos\tsaid "hi\n')
    assert values(read_records(path, [TEXT, LABEL]), "text", "label") == [('said "hi', "pos")]
    by_number = [Field("text", TEXT.aliases, 1), Field("label", LABEL.aliases, "0")]  # "0" from a command line is a number
    assert values(read_records(path, by_number), "text", "label") == [('said "hi', "pos")]


def test_file_without_header_needs_column_numbers(tmp_path):
    path = write(tmp_path / "a.csv", "good film,1\nbad film,0\n")
    fields = [Field("text", column=0), Field("label", column=1), Field("extra", required=False)]
    assert values(read_records(path, fields), "text", "label", "extra") == [("good film", "1", None), ("bad film", "0", None)]
    message = error(lambda: read_records(path, [TEXT, LABEL]))
    assert message.startswith(f"{path}: header not recognised (columns: good film, 1)")
    assert "--text-column/--label-column" in message


@pytest.mark.parametrize("header", ["foo,bar", "body,stars", "content,target"])
def test_unrecognised_header_is_an_error_naming_the_columns(tmp_path, header):
    path = write(tmp_path / "a.csv", f"{header}\nnice,1\n")
    assert f"header not recognised (columns: {header.replace(',', ', ')})" in error(lambda: read_records(path, [TEXT, LABEL]))
    body, stars = header.split(",")
    named = [Field("text", TEXT.aliases, body), Field("label", LABEL.aliases, stars)]
    assert values(read_records(path, named), "text", "label") == [("nice", "1")]


def test_named_columns_must_be_in_the_header(tmp_path):
    path = write(tmp_path / "a.csv", "text,label\nnice,1\n")
    assert "no text column named 'body' (columns: text, label)" in error(
        lambda: read_records(path, [Field("text", TEXT.aliases, "body"), LABEL]))
    assert "no label column found (columns: text, review); name it with --label-column" in error(
        lambda: read_records(write(tmp_path / "b.csv", "text,review\nx,y\n"), [TEXT, LABEL]))
    assert "no text column named 'body' (the first row is not a header with that name: x, y)" in error(
        lambda: read_records(write(tmp_path / "c.csv", "x,y\n"), [Field("text", column="body")]))


def test_short_rows_and_optional_fields(tmp_path):
    path = write(tmp_path / "a.tsv", "text\tlabel\nfine\tpos\nno label here\n")
    assert error(lambda: read_records(path, [TEXT, LABEL])).startswith(f"{path}:3: missing label (the row has 1 column(s)")
    optional = Field("label", LABEL.aliases, required=False)
    assert values(read_records(path, [TEXT, optional]), "label") == [("pos",), (None,)]
    assert values(read_records(path, [TEXT, Field("score", ("score",), required=False)]), "score") == [(None,), (None,)]


def test_malformed_csv_names_the_line(tmp_path):
    path = write(tmp_path / "a.csv", 'text,label\nok,1\n"runaway,0\nmore,1\n')
    assert error(lambda: read_records(path, [TEXT, LABEL])).startswith(f"{path}:3: malformed CSV")


def test_non_utf8_names_the_line_and_reading_is_streamed(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_bytes(b"\xef\xbb\xbftext\tlabel\nfine\tpos\nbad \xff\tneg\n")  # with a byte-order mark
    records = read_records(path, [TEXT, LABEL])
    assert isinstance(records, types.GeneratorType)
    assert next(records).values == {"text": "fine", "label": "pos"}  # read before the bad line is reached
    with pytest.raises(DataError, match=r"a.tsv:3: not valid UTF-8"):
        next(records)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot tell the format of 'a.txt'"):
        read_records(write(tmp_path / "a.txt", "x\n"), [TEXT])
    with pytest.raises(DataError, match="no such file"):
        list(read_records(tmp_path / "missing.csv", [TEXT]))


# ---- JSONL ---------------------------------------------------------------------------------

def test_jsonl_fields_by_key_or_alias_keep_json_values(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"sentence": "nice", "y": 1, "answers": {"text": ["a"]}}\n\n{"text": "meh", "y": 0}\n')
    fields = [TEXT, Field("label", column="y"), Field("answers", ("answers",), required=False)]
    records = list(read_records(path, fields))
    assert values(records, "text", "label", "answers") == [("nice", 1, {"text": ["a"]}), ("meh", 0, None)]
    assert [r.line for r in records] == [1, 3]


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"body": "x", "y": 1}\n', "a.jsonl:1: missing text field 'text' or 'sentence' (fields: body, y)"),
        ('{"text": "x", "label": 1}\n{"text": "y", "label": null}\n', "a.jsonl:2: missing label field 'label' or 'class' (fields: text, label)"),
        ('{"text": "x", "label": 1}\n{"text": "y", "label"\n', "a.jsonl:2: malformed JSON"),
        ('["text", "label"]\n', "a.jsonl:1: expected a JSON object per line"),
    ],
)
def test_jsonl_errors_name_the_line_and_the_fields_found(tmp_path, content, message):
    assert message in error(lambda: read_records(write(tmp_path / "a.jsonl", content), [TEXT, LABEL]))


def test_jsonl_non_utf8(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "ok", "label": 1}\n{"text": "\xc3\x28", "label": 0}\n')
    assert "a.jsonl:2: not valid UTF-8" in error(lambda: read_records(tmp_path / "a.jsonl", [TEXT, LABEL]))


# ---- parallel text -------------------------------------------------------------------------

def test_parallel_files_are_read_line_by_line(tmp_path):
    source = write(tmp_path / "src.txt", "ein Haus\n\nzwei\r\n")
    target = write(tmp_path / "tgt.txt", "a house\n\ntwo")  # a last line without newline counts
    assert list(read_parallel(source, target)) == [(1, "ein Haus", "a house"), (2, "", ""), (3, "zwei", "two")]


def test_parallel_files_of_different_lengths_are_refused_before_reading(tmp_path):
    source = write(tmp_path / "src.txt", "a\nb\nc\n")
    target = write(tmp_path / "tgt.txt", "x\ny\n")
    pairs = read_parallel(source, target)
    with pytest.raises(DataError) as err:
        next(pairs)
    assert str(err.value) == f"{source}: has 3 lines but {target} has 2; parallel files need one line per pair"
    (tmp_path / "bad.txt").write_bytes(b"x\n\xff\n")
    with pytest.raises(DataError, match="bad.txt:2: not valid UTF-8"):
        list(read_parallel(tmp_path / "bad.txt", target))


def test_count_lines_across_blocks(tmp_path):
    path = write(tmp_path / "a.txt", "abc\n" * 10 + "tail")
    assert count_lines(path, block=3) == 11
    assert count_lines(write(tmp_path / "empty.txt", "")) == 0


# ---- sliding windows -----------------------------------------------------------------------

def test_windows_cover_every_token_with_the_given_overlap():
    for length, size, stride in itertools.product(range(23), range(1, 8), range(7)):
        if stride >= size:
            continue
        tokens = list(range(100, 100 + length))
        windows = sliding_windows(tokens, size, stride)
        covered = set()
        for window in windows:
            assert 0 < len(window.tokens) <= size
            assert list(window.tokens) == tokens[window.start : window.end]
            covered.update(range(window.start, window.end))
        assert covered == set(range(length))
        assert [w.start for w in windows] == list(range(0, len(windows) * (size - stride), size - stride))
        for a, b in itertools.pairwise(windows):
            assert a.end - b.start == stride and a.end == a.start + size  # only the last one may be short
        assert not windows or windows[-1].end == length


def test_windows_of_arrays_and_bad_arguments():
    windows = sliding_windows(np.arange(10), 4, 2)
    assert [(w.start, w.tokens.tolist()) for w in windows] == [(0, [0, 1, 2, 3]), (2, [2, 3, 4, 5]), (4, [4, 5, 6, 7]), (6, [6, 7, 8, 9])]
    assert sliding_windows([1, 2], 5, 1) == [Window(0, [1, 2])]
    for size, stride in ((0, 0), (4, 4), (4, -1)):
        with pytest.raises(ValueError):
            sliding_windows([1, 2, 3], size, stride)


# ---- pair buckets --------------------------------------------------------------------------

def test_pair_buckets_partition_the_dataset_and_group_similar_lengths():
    rng = random.Random(0)
    sources = [rng.randint(1, 60) for _ in range(1003)]
    targets = [s + rng.randint(0, 5) for s in sources]
    for shuffle in (False, True):
        batches = list(bucket_pair_batches(sources, targets, 16, shuffle=shuffle, generator=np.random.default_rng(0)))
        assert sorted(i for batch in batches for i in batch) == list(range(len(sources)))
        assert all(1 <= len(batch) <= 16 for batch in batches)
        padded = sum(len(b) * max(sources[i] for i in b) for b in batches)
        naive = sum(16 * max(sources[i : i + 16]) for i in range(0, len(sources), 16))
        assert padded < 0.6 * naive
    again = list(bucket_pair_batches(sources, targets, 16, shuffle=True, generator=np.random.default_rng(0)))
    assert again == batches  # the generator makes it reproducible
    assert list(bucket_pair_batches([], [], 4, shuffle=True)) == []
    with pytest.raises(ValueError):
        list(bucket_pair_batches([1, 2], [1], 4, shuffle=False))
