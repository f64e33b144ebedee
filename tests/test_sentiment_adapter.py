"""The sentiment adapter on the shared readers: strict CSV/TSV headers, columns by name or number."""

import pytest
from click.testing import CliRunner

from nlp_apps.cli import cli
from nlp_apps.errors import DataError
from tasks.sentiment.adapter import read_dataset


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def pairs(examples):
    return [(e.text, e.label) for e in examples]


@pytest.mark.parametrize(
    "header,message",
    [
        ("foo,bar", "header not recognised (columns: foo, bar)"),
        ("body,class", "no text column found (columns: body, class); name it with --text-column"),
    ],
)
def test_unrecognised_header_is_an_error_not_an_example(tmp_path, header, message):
    path = write(tmp_path / "a.csv", f"{header}\ngreat,pos\nawful,neg\n")
    with pytest.raises(DataError) as err:
        read_dataset(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    first, second = header.split(",")
    named = read_dataset(path, text_column=first, label_column=second)
    assert pairs(named) == [("great", "pos"), ("awful", "neg")]  # the header is not an example


def test_documented_column_names_are_recognised(tmp_path):
    for header in ("content,target", "review,class", "Sentence,Sentiment", "id,text,label"):
        rows = "\n".join(f"{'7,' if header.startswith('id') else ''}{t},{l}" for t, l in (("great", "pos"), ("awful", "neg")))
        examples = read_dataset(write(tmp_path / "a.csv", f"{header}\n{rows}\n"))
        assert pairs(examples) == [("great", "pos"), ("awful", "neg")], header
        assert examples[0].source.endswith("a.csv:2")


def test_text_column_must_be_in_a_recognised_header(tmp_path):
    path = write(tmp_path / "a.csv", "text,label\ngreat,pos\n")
    with pytest.raises(DataError, match=r"no text column named 'body' \(columns: text, label\)"):
        read_dataset(path, text_column="body")
    with pytest.raises(DataError, match=r"no label column named 'stars' \(columns: text, label\)"):
        read_dataset(path, label_column="stars")


def test_file_without_header_needs_column_numbers(tmp_path):
    path = write(tmp_path / "a.tsv", "great\tpos\nawful\tneg\n")
    with pytest.raises(DataError, match="header not recognised .*--text-column/--label-column"):
        read_dataset(path)
    assert pairs(read_dataset(path, text_column="0", label_column="1")) == [("great", "pos"), ("awful", "neg")]
    # numbers with a recognised header count its columns, and the header is skipped
    with_header = write(tmp_path / "b.csv", "label,body\npos,great\n")
    assert pairs(read_dataset(with_header, text_column=1, label_column=0)) == [("great", "pos")]


def test_prediction_input_needs_no_label(tmp_path):
    texts = read_dataset(write(tmp_path / "a.csv", "text\ngreat\nawful\n"), require_labels=False)
    assert pairs(texts) == [("great", None), ("awful", None)]
    with pytest.raises(DataError, match=r"a.csv: no label column found \(columns: text\)"):
        read_dataset(tmp_path / "a.csv")


def test_jsonl_and_empty_label(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"text": "great", "label": 1}\n{"text": "awful", "label": ""}\n')
    with pytest.raises(DataError, match=r"a.jsonl:2: missing label"):
        read_dataset(path)
    assert pairs(read_dataset(path, require_labels=False)) == [("great", "1"), ("awful", None)]


def test_cli_refuses_an_unrecognised_header_with_one_line(tmp_path, monkeypatch):
    from nlp_apps.registry import reset_registry

    monkeypatch.delenv("NLP_APPS_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    reset_registry()
    try:
        data = write(tmp_path / "train.csv", "body,class\ngreat,pos\nawful,neg\n")
        result = CliRunner().invoke(cli, ["sentiment", "train", "--train", str(data), "--valid", str(data), "--out", str(tmp_path / "m")])
    finally:
        reset_registry()
    assert result.exit_code == 1, result.output
    assert "no text column found (columns: body, class); name it with --text-column" in result.output
    assert not (tmp_path / "m").exists()
