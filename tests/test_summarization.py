"""The summarization plug-in: adapters and bad input, the ROUGE wiring (several references), the lead
baseline, and the CLI end to end on tiny data."""

import json

import pytest
from click.testing import CliRunner
from rouge_score import rouge_scorer

from nlp_apps.cli import cli
from nlp_apps.errors import DataError
from tasks.summarization import TASK
from tasks.summarization.adapter import read_documents
from tasks.summarization.metric import lead, rouge_scores

DOCS = [("Hi Anna, the budget meeting moved to Friday. Thanks, Ben", "Budget meeting moved to Friday"),
        ("Dear team, the launch on Monday is cancelled. Regards, Kim", "Launch on Monday cancelled"),
        ("Hello, please send the slides for the audit. Best, Omar", "Slides for the audit"),
        ("Hi Iris, the report is attached for review. Cheers, Hugo", "Report attached")]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path, rows):
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


def test_jsonl_csv_and_text_files_read_the_same_documents(tmp_path):
    a = jsonl(tmp_path / "a.jsonl", [{"email_body": d, "subject_line": s} for d, s in DOCS])
    b = write(tmp_path / "b.tsv", "body\tsubject\n" + "".join(f"{d}\t{s}\n" for d, s in DOCS))
    src = write(tmp_path / "docs.txt", "".join(d + "\n" for d, _ in DOCS))
    tgt = write(tmp_path / "sums.txt", "".join(s + "\n" for _, s in DOCS))
    expected = [(d, s) for d, s in DOCS]
    for result in (read_documents(a, text_field="email_body", summary_field="subject_line"), read_documents(b),
                   read_documents(src=src, tgt=tgt)):
        assert [(x.text, x.summary) for x in result.documents] == expected


def test_reference_fields_and_bad_input(tmp_path):
    refs = jsonl(tmp_path / "dev.jsonl", [{"text": "Some body.", "summary": "s", "ann0": "first", "ann1": "", "ann2": "third"}])
    (doc,) = read_documents(refs, ref_fields=["ann0", "ann1", "ann2"]).documents
    assert doc.references == ("first", "third")  # an empty annotation is no reference
    with pytest.raises(DataError, match=r"x.jsonl:1: missing text field 'body' \(fields: text, summary\)"):
        read_documents(jsonl(tmp_path / "x.jsonl", [{"text": "a", "summary": "b"}]), text_field="body")
    empty = jsonl(tmp_path / "e.jsonl", [{"text": "A body.", "summary": "ok"}, {"text": "  ", "summary": "b"}])
    with pytest.raises(DataError, match=r"e.jsonl:2: empty document"):
        read_documents(empty)
    assert read_documents(empty, skip_empty=True).skipped_empty == 1
    with pytest.raises(DataError, match=r"m.jsonl:2: malformed JSON"):
        read_documents(write(tmp_path / "m.jsonl", '{"text": "a", "summary": "b"}\n{"text": \n'))
    broken = tmp_path / "u.jsonl"
    broken.write_bytes(b'{"text": "a", "summary": "b"}\n{"text": "\xff", "summary": "b"}\n')
    with pytest.raises(DataError, match=r"u.jsonl:2: not valid UTF-8"):
        read_documents(broken)


def test_reported_rouge_is_rouge_scores_best_of_the_references():
    predictions = ["budget meeting moved", "the launch is cancelled"]
    references = [["Budget meeting moved to Friday", "meeting moved"], ["Launch cancelled"]]
    scores = rouge_scores(predictions, references)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    for kind in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        best = [max(scorer.score(r, p)[kind].fmeasure for r in refs) for p, refs in zip(predictions, references)]
        assert scores[kind] == pytest.approx(100 * sum(best) / 2)
        low, high = scores["intervals"][kind]
        assert low <= scores[kind] + 1e-9 and scores[kind] <= high + 1e-9
    assert TASK.metric(["Launch cancelled"], ["Launch cancelled"])["rouge"] == pytest.approx(100.0)


def test_the_lead_baseline_is_the_first_sentence_cut_to_n_words():
    assert lead("Hi Anna.  The budget meeting moved. Thanks") == "Hi Anna."
    assert lead("one two three four five six. seven", words=3) == "one two three"


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def test_cli_train_evaluate_predict_and_a_very_long_document(tmp_path, tiny_language_model, plugins_on):
    train = jsonl(tmp_path / "train.jsonl", [{"text": d, "summary": s} for d, s in DOCS * 3])
    valid = jsonl(tmp_path / "valid.jsonl", [{"text": d, "summary": s, "ann0": s, "ann1": s.lower()} for d, s in DOCS])
    out = tmp_path / "sum"
    result = invoke("summarization", "train", "--train", train, "--valid", valid, "--out", out, "--backbone", tiny_language_model,
                    "--batch-size", 4, "--max-steps", 4, "--eval-every", 2, "--no-progress", "--max-source-len", 30)
    assert result.exit_code == 0, result.output
    assert set(json.loads((out / "config.json").read_text())["parts"]) == {"encoder", "decoder"}
    evaluated = invoke("summarization", "evaluate", "--model", out, "--data", valid, "--ref-fields", "ann0,ann1", "--json", "--beam", 2)
    scores = json.loads(evaluated.output)
    assert scores["references_per_document"] == 2 and set(scores) >= {"model", "lead"}
    hypotheses = (out / "hypotheses.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(hypotheses) == 4
    expected = rouge_scores(hypotheses, [(s, s.lower()) for _, s in DOCS])
    assert scores["model"]["rougeL"] == pytest.approx(expected["rougeL"])
    long_document = " ".join(["word"] * 100_000)
    predicted = invoke("summarization", "predict", "--model", out, "--json", "-", input=f"{DOCS[0][0]}\n\n{long_document}\n")
    rows = [json.loads(line) for line in predicted.output.splitlines()]
    assert len(rows) == 3 and rows[1]["summary"] is None and isinstance(rows[2]["summary"], str)


def test_cli_train_stores_its_run_config_resumes_and_guards_an_earlier_run(tmp_path, tiny_language_model, plugins_on):
    train = jsonl(tmp_path / "train.jsonl", [{"body": d, "subject": s} for d, s in DOCS * 2])
    valid = jsonl(tmp_path / "valid.jsonl", [{"body": d, "subject": s} for d, s in DOCS])
    out = tmp_path / "sum"
    first = invoke("summarization", "train", "--train", train, "--valid", valid, "--text-field", "body", "--summary-field", "subject",
                   "--out", out, "--backbone", tiny_language_model, "--batch-size", 4, "--max-steps", 2, "--eval-every", 2, "--no-progress",
                   "--no-copy", "--dropout", 0.3, "--max-target-len", 12)
    assert first.exit_code == 0, first.output
    run = json.loads((out / "run_config.json").read_text())
    # the layout of the runs written before the core built the command: they must still resume
    assert set(run) == {"data", "backbone", "device", "head", "recipe", "trainer", "limits"}
    assert run["data"] == {"train": [str(train), None, None, "body", "subject", False], "valid": [str(valid), None, None, "body", "subject", False]}
    assert run["head"]["copy"] is False and run["head"]["dropout"] == run["recipe"]["backbone_dropout"] == 0.3
    assert not run["recipe"]["lm_finetune"] and not run["recipe"]["discriminative_lr"] and not run["recipe"]["gradual_unfreezing"]
    assert run["limits"] == {"max_source_len": 400, "max_target_len": 12, "max_decode_len": 30}
    assert run["trainer"]["schedule"] == "cosine" and run["trainer"]["max_steps"] == 2
    resumed = invoke("summarization", "train", "--resume", out, "--max-steps", 4)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "metrics.json").read_text())["steps"] == 4
    before = sorted(p.name for p in out.iterdir())
    missing = tmp_path / "missing.jsonl"
    refused = invoke("summarization", "train", "--train", missing, "--valid", valid, "--out", out, "--backbone", tiny_language_model)
    assert refused.exit_code == 1 and "already holds a run" in refused.output and "missing.jsonl" not in refused.output
    no_backbone = invoke("summarization", "train", "--train", train, "--valid", valid, "--text-field", "body", "--summary-field", "subject",
                         "--out", out, "--overwrite", "--backbone", tmp_path / "no-such-model")
    assert no_backbone.exit_code == 1 and "no-such-model" in no_backbone.output, no_backbone.output
    no_data = invoke("summarization", "train", "--valid", valid, "--out", out, "--overwrite", "--backbone", tiny_language_model)
    assert no_data.exit_code == 2 and "give the train data" in no_data.output
    assert sorted(p.name for p in out.iterdir()) == before and json.loads((out / "run_config.json").read_text())["limits"] == run["limits"]


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_the_command_line_and_the_pipeline_decode_with_the_same_defaults(command, plugins_on):
    import click

    from nlp_apps.cli import cli
    from tasks.summarization.defaults import DECODE_DEFAULTS
    from tasks.summarization.pipeline import SummarizationPipeline

    context = click.Context(cli)
    options = {p.name: p.default for p in cli.get_command(context, "summarization").get_command(context, command).params}
    assert {name: options[name] for name in DECODE_DEFAULTS} == DECODE_DEFAULTS == SummarizationPipeline.decode_defaults
    assert DECODE_DEFAULTS["alpha"] == 2.0  # the length penalty chosen on AESLC dev (tasks/summarization/defaults.py)
