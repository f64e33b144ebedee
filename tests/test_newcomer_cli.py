"""What a newcomer meets first on the command line: qa's --context is a file and --context-text is text,
count options name themselves when out of range, evaluate never overwrites an output by surprise,
and the error messages and setup notes say what is true.

Evaluate and predict run here on stand-in pipelines (the real ones are tested per task): these tests
are about the command line around them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from nlp_apps.cli import cli
from nlp_apps.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(result, *words) -> bool:
    lines = result.output.strip().splitlines()
    return result.exit_code == 1 and len(lines) == 1 and all(str(word) in lines[0] for word in words)


# ---- qa predict: --context FILE, --context-text TEXT ---------------------------------------


@pytest.fixture
def echo_qa(monkeypatch, plugins_on):
    """qa predict on a stand-in model that answers with the whole passage it was given."""
    def predict(rows, batch_size=32):
        return [{"answer": r["context"], "start": 0, "end": len(r["context"]), "score": 1.0} for r in rows]

    monkeypatch.setattr("tasks.qa.pipeline.load", lambda model_dir, device="cpu": SimpleNamespace(predict=predict))


def test_qa_context_is_always_a_file_and_a_missing_one_is_an_error(tmp_path, echo_qa):
    missing = tmp_path / "data" / "no-such-article.txt"
    result = invoke("qa", "predict", "--model", tmp_path, "--context", missing, "--question", "Who built it?")
    assert one_line_error(result, missing, "no such file"), result.output
    article = write(tmp_path / "article.txt", "The tower was built in 1889 by Gustave Eiffel.")
    from_file = invoke("qa", "predict", "--model", tmp_path, "--context", article, "--question", "Who?", "--json")
    assert from_file.exit_code == 0 and json.loads(from_file.output)["answer"] == article.read_text(encoding="utf-8")


def test_qa_context_text_is_the_passage_itself(tmp_path, echo_qa):
    path_like = str(tmp_path / "article.txt")
    write(tmp_path / "article.txt", "the file's text")
    result = invoke("qa", "predict", "--model", tmp_path, "--context-text", path_like, "--question", "Who?", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["answer"] == path_like  # text, even when it names a file
    ask = ["qa", "predict", "--model", tmp_path, "--question", "Who?"]
    both = invoke(*ask, "--context", path_like, "--context-text", "Some text.")
    assert both.exit_code == 2 and "not both" in both.output
    alone = invoke("qa", "predict", "--model", tmp_path, "--context-text", "Some text.")
    assert alone.exit_code == 2 and "--context-text needs at least one --question" in alone.output
    with_file = invoke(*ask, "--context-text", "Some text.", "--file", path_like)
    assert with_file.exit_code == 2
    assert "--context-text" in invoke("qa", "predict", "--help").output


# ---- count options: click's range message, naming the option --------------------------------


@pytest.mark.parametrize("args", [
    ("sentiment", "train", "--batch-size", "0"),
    ("qa", "train", "--batch-size", "0"),
    ("translation", "train", "--batch-size", "0"),
    ("summarization", "train", "--batch-size", "0"),
    ("sentiment", "train", "--lm-epochs", "0"),
    ("qa", "train", "--lm-epochs", "0"),
    ("qa", "predict", "--model", "x", "--batch-size", "0"),
    ("translation", "evaluate", "--model", "x", "--src", "s", "--ref", "r", "--batch-size", "0"),
], ids=lambda args: " ".join(a for a in args if a not in ("x", "s", "r")))
def test_count_options_below_one_name_the_option(args, plugins_on):
    result = invoke(*args)
    option = args[-2]
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output and "x>=1" in result.output, result.output


# ---- evaluate outputs: refused when they exist, unless --overwrite -------------------------


@pytest.fixture
def stand_in_seq2seq(monkeypatch, plugins_on):
    pipeline = SimpleNamespace(max_source_len=None, predict=lambda texts, **options: [t.upper() for t in texts])
    for task in ("translation", "summarization"):
        monkeypatch.setattr(f"tasks.{task}.pipeline.load", lambda model_dir, device="cpu": pipeline)


def evaluate_args(task: str, folder: Path) -> list:
    if task == "translation":
        src = write(folder / "test.de", "Ein Hund läuft.\nDie Katze schläft.\n")
        ref = write(folder / "test.en", "A dog runs.\nThe cat sleeps.\n")
        return ["translation", "evaluate", "--src", src, "--ref", ref, "--beam", 1]
    data = write(folder / "test.jsonl", "".join(json.dumps({"text": d, "summary": s}) + "\n"
                                               for d, s in (("The meeting moved to Friday.", "Meeting moved"),
                                                            ("The launch is cancelled.", "Launch cancelled"))))
    return ["summarization", "evaluate", "--data", data, "--beam", 1]


@pytest.mark.parametrize("task", ["translation", "summarization"])
def test_evaluate_refuses_an_existing_hyps_file_unless_overwrite(task, tmp_path, stand_in_seq2seq):
    model = tmp_path / "model"
    model.mkdir()
    args = [*evaluate_args(task, tmp_path), "--model", model]
    hyps = write(tmp_path / "hyps.txt", "my earlier results\n")
    refused = invoke(*args, "--hyps", hyps)
    assert one_line_error(refused, hyps, "--hyps already exists", "--overwrite"), refused.output
    assert hyps.read_text(encoding="utf-8") == "my earlier results\n"
    replaced = invoke(*args, "--hyps", hyps, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert len(hyps.read_text(encoding="utf-8").splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # atomic: no temporary file left
    fresh = tmp_path / "new" / "hyps.txt"
    assert invoke(*args, "--hyps", fresh).exit_code == 0 and fresh.is_file()
    for _ in range(2):  # the model's own hypotheses.txt is the default and is replaced, as before
        assert invoke(*args).exit_code == 0 and (model / "hypotheses.txt").is_file()
    assert invoke(*args, "--hyps", model / "hypotheses.txt").exit_code == 0


def test_qa_evaluate_refuses_an_existing_predictions_file_unless_overwrite(tmp_path, echo_qa):
    model = tmp_path / "model"
    model.mkdir()
    data = write(tmp_path / "dev.json", json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": "The tower was built in 1889.", "qas": [{"id": "q1", "question": "When?", "answers": [{"text": "1889", "answer_start": 23}]}]}]}]}))
    earlier = write(tmp_path / "predictions.json", "{}")
    refused = invoke("qa", "evaluate", "--model", model, "--data", data, "--predictions", earlier)
    assert one_line_error(refused, earlier, "--predictions already exists", "--overwrite"), refused.output
    assert earlier.read_text(encoding="utf-8") == "{}"
    replaced = invoke("qa", "evaluate", "--model", model, "--data", data, "--predictions", earlier, "--overwrite")
    assert replaced.exit_code == 0 and json.loads(earlier.read_text(encoding="utf-8")) == {"q1": "The tower was built in 1889."}
    for _ in range(2):  # the model's own predictions.json is the default and is replaced
        assert invoke("qa", "evaluate", "--model", model, "--data", data).exit_code == 0 and (model / "predictions.json").is_file()


@pytest.fixture
def stand_in_classifier(monkeypatch, plugins_on):
    pipeline = SimpleNamespace(labels=["negative", "positive"],
                               predict=lambda texts: [{"label": "positive" if "good" in t else "negative"} for t in texts])
    monkeypatch.setattr("tasks.sentiment.pipeline.load", lambda model_dir: pipeline)


def test_sentiment_evaluate_refuses_a_non_empty_out_folder_unless_overwrite(tmp_path, stand_in_classifier):
    model = tmp_path / "clf"
    model.mkdir()
    write(model / "config.json", "{}")
    data = write(tmp_path / "test.tsv", "text\tlabel\na good film\tpositive\na dull film\tnegative\n")
    args = ["sentiment", "evaluate", "--model", model, "--data", data]
    folder = tmp_path / "results"
    folder.mkdir()
    write(folder / "notes.txt", "mine")
    refused = invoke(*args, "--out", folder)
    assert one_line_error(refused, folder, "--out is a non-empty directory", "--overwrite"), refused.output
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    written = invoke(*args, "--out", folder, "--overwrite")
    assert written.exit_code == 0, written.output
    assert json.loads((folder / "eval_metrics.json").read_text())["accuracy"] == 1.0 and (folder / "notes.txt").is_file()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # atomic: no temporary file left
    assert invoke(*args, "--out", tmp_path / "new").exit_code == 0 and (tmp_path / "new" / "eval_metrics.json").is_file()
    for out in ([], ["--out", model], ["--out", model]):  # the model directory itself: written again and again
        assert invoke(*args, *out).exit_code == 0
    assert (model / "eval_metrics.json").is_file()
    a_file = write(tmp_path / "file.txt", "x")
    assert one_line_error(invoke(*args, "--out", a_file, "--overwrite"), "expected a directory")


# ---- smaller messages ------------------------------------------------------------------------


def test_perplexity_of_a_task_model_names_the_task(tmp_path, tiny_language_model):
    model = shutil.copytree(tiny_language_model, tmp_path / "clf")
    config = json.loads((model / "config.json").read_text())
    config.update(model_type="classifier", task="sentiment")
    write(model / "config.json", json.dumps(config))
    text = write(tmp_path / "text.txt", "The cat sees the moon.\n")
    result = invoke("perplexity", "--model", model, text)
    assert one_line_error(result, "'sentiment' model, not a language model"), result.output


@pytest.mark.parametrize("name, content", [("empty.json", ""), ("blank.json", "\n  \n"), ("empty.jsonl", ""), ("empty.txt", "")])
def test_an_empty_qa_file_says_so(tmp_path, name, content, plugins_on):
    from tasks.qa.adapter import read_squad

    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match="the file is empty"):
        read_squad(path)
    result = invoke("qa", "evaluate", "--model", tmp_path, "--data", path)
    assert one_line_error(result, path, "the file is empty"), result.output


def test_qa_train_refuses_an_earlier_run_before_reading_the_data(tmp_path, tiny_language_model, plugins_on):
    data = write(tmp_path / "q.jsonl", json.dumps({"context": "Anna crosses the bridge.", "question": "Who crosses the bridge?",
                                                  "answers": [{"text": "Anna", "answer_start": 0}]}) + "\n")
    out = tmp_path / "run"
    out.mkdir()
    write(out / "run_config.json", "{}")
    result = invoke("qa", "train", "--train", data, "--valid", data, "--out", out, "--backbone", tiny_language_model)
    assert one_line_error(result, out, "already holds a run"), result.output
    assert "questions" not in result.output  # no data summary before the refusal
    assert [p.name for p in out.iterdir()] == ["run_config.json"]


def test_the_torch_note_in_pyproject_matches_the_requirement():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    comment, floor = re.search(r"#([^\n]*)\n\s*\"torch>=([\d.]+)", text).groups()
    assert floor in re.findall(r"\d+\.\d+(?:\.\d+)?", comment), comment


def test_the_readme_says_where_the_venv_goes():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Setup", 1)[1].split("\n## ", 1)[0]
    assert "beside the checkout" not in setup and "`.venv` inside the checkout" in setup
