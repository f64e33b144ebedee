"""The QA plug-in: offsets back to exact substrings, windows, the official EM/F1, a head that learns to
point, the CLI end to end on tiny data, and bad input."""

from __future__ import annotations

import json
import re

import pytest
import torch
from click.testing import CliRunner

from nlp_apps.errors import DataError
from tasks.qa.adapter import read_squad
from tasks.qa.features import Featurizer, token_span
from tasks.qa.head_config import HeadConfig
from tasks.qa.metric import best_null_threshold, normalize_answer, question_scores, squad_metrics
from tasks.qa.spans import best_in_windows, combine

PASSAGES = [
    ("The cat sees the moon. Anna crosses the bridge.", [("Who crosses the bridge?", "Anna"), ("What does the cat see?", "the moon")]),
    ("My old friend finds a small boat. The lamp lights the garden.", [("What does my old friend find?", "a small boat"),
                                                                       ("What lights the garden?", "The lamp")]),
    ("A dog follows her brother! The river remembers two birds.", [("Who does the dog follow?", "her brother"),
                                                                  ("What does the river remember?", "two birds")]),
]


def squad_json(passages, impossible=()) -> dict:
    paragraphs = []
    for p, (context, qas) in enumerate(passages):
        items = [{"id": f"q{p}-{q}", "question": question, "answers": [{"text": answer, "answer_start": context.find(answer)}]}
                 for q, (question, answer) in enumerate(qas)]
        items += [{"id": f"n{p}-{q}", "question": question, "answers": [], "is_impossible": True}
                  for q, (i, question) in enumerate(impossible) if i == p]
        paragraphs.append({"context": context, "qas": items})
    return {"version": "v2.0" if impossible else "1.1", "data": [{"title": "tiny", "paragraphs": paragraphs}]}


def write_json(path, value):
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer(tiny_language_model):
    from nlp_apps.io.checkpoint import load_model_tokenizer

    return load_model_tokenizer(tiny_language_model)


# ---- offsets and windows -----------------------------------------------------------------------


def test_answers_come_back_as_the_exact_substring_for_unicode_and_odd_whitespace(tokenizer):
    context = "  Żółw\u00a0café  naïve\tthe   moon.\n\n 北京 crosses  the\u2003bridge  —  «Anna» "
    featurizer = Featurizer(tokenizer, HeadConfig())
    passage = featurizer.passage(context)
    assert not any(passage.answerable[k] for k, (a, b) in enumerate(passage.spans) if not context[a:b].strip())
    for answer in ["Żółw", "café  naïve", "the   moon.", "北京", "crosses  the\u2003bridge", "«Anna»", "moon"]:
        start = context.find(answer)
        first, last = token_span(passage, start, start + len(answer))
        text, a, b = passage.window_text(0, first, last)
        assert text == answer == context[a:b], answer


def test_windows_cover_every_token_and_targets_sit_in_the_window_that_holds_the_answer(tokenizer):
    context = " ".join(f"The cat sees moon number {i}." for i in range(12)) + " Anna crosses the bridge."
    answer = type("A", (), {"text": "Anna", "start": context.find("Anna")})
    config = HeadConfig(max_passage_len=16, doc_stride=5)
    features = Featurizer(tokenizer, config).build([(context, "Who crosses?")], [[answer]])
    passage = features.passages[0]
    assert len(passage.windows) > 3
    covered = sorted({k for w in passage.windows for k in range(w.start, w.end)})
    assert covered == list(range(len(passage.spans)))
    assert all(len(w.tokens) <= 16 for w in passage.windows)
    assert all(a.end - b.start == 5 for a, b in zip(passage.windows, passage.windows[1:]) if b.end < len(passage.spans))
    targets = [(f.window, f.start, f.end) for f in features.features]
    assert len(targets) == len(passage.windows) and features.by_question == [list(range(len(targets)))]
    hits = [(w, s, e) for w, s, e in targets if s]
    assert hits and all(passage.window_text(w, s - 1, e - 1)[0] == "Anna" for w, s, e in hits)
    assert all(s == e == 0 for w, s, e in targets if (w, s, e) not in hits)
    first = Featurizer(tokenizer, HeadConfig(max_passage_len=16, doc_stride=5, windows="first")).build([(context, "Who?")], [[answer]])
    assert len(first.passages[0].windows) == 1 and first.features[0].start == 0  # truncated away: "no answer here"


def test_the_best_span_over_all_windows_wins_and_respects_the_length_limit(tokenizer):
    context = " ".join(f"The cat sees moon number {i}." for i in range(8))
    features = Featurizer(tokenizer, HeadConfig(max_passage_len=12, doc_stride=4)).build([(context, "Which moon?")])
    steps = max(len(w.tokens) for w in features.passages[0].windows)
    n = len(features.features)
    start, end = torch.zeros(n, steps + 1), torch.zeros(n, steps + 1)
    candidates = torch.zeros(n, steps, dtype=torch.bool)
    for i, f in enumerate(features.features):
        window = features.passages[0].windows[f.window]
        candidates[i, : len(window.tokens)] = torch.tensor(features.passages[0].answerable[window.start : window.end])
    start[0, 1 + 2], end[0, 1 + 3] = 2.0, 2.0  # window 0: a good span
    start[2, 1 + 1], end[2, 1 + 4] = 6.0, 6.0  # window 2: a better one,
    end[2, 1 + 9] = 6.0  # and an end too far from its start for max_answer_len 5
    assert candidates[0, [2, 3]].all() and candidates[2, [1, 4, 9]].all()
    bests = dict(enumerate(best_in_windows(start, end, candidates, max_answer_len=5)))
    assert bests[2].start == 1 and bests[2].end == 4
    reading = combine(features, bests)[0]
    window = features.passages[0].windows[2]
    expected = context[features.passages[0].spans[window.start + 1][0] : features.passages[0].spans[window.start + 4][1]]
    assert reading.span == expected == context[reading.start : reading.end]
    assert reading.null == min(b.null for b in bests.values())


def test_reading_only_the_first_window_overrides_the_models_sliding_windows(tiny_language_model, tokenizer):
    from nlp_apps.io.checkpoint import load_backbone
    from tasks.qa.head import build_head
    from tasks.qa.pipeline import read_questions

    torch.manual_seed(0)
    context = " ".join(f"Word{k} lives by the river number {k}." for k in range(12))
    questions = [f"Where does word{k} live?" for k in range(8)]
    model = build_head(load_backbone(tiny_language_model), HeadConfig(hidden_size=8, max_passage_len=12, doc_stride=3), [])
    passage = Featurizer(tokenizer, model.config).passage(context)
    first_window_end = passage.spans[passage.windows[0].end - 1][1]
    assert len(passage.windows) > 4
    sliding = read_questions(model, tokenizer, [(context, q) for q in questions])
    truncated = read_questions(model, tokenizer, [(context, q) for q in questions], windows="first")
    assert all(r.end <= first_window_end for r in truncated)
    assert any(r.end > first_window_end for r in sliding)
    assert model.config.windows == "sliding"


def test_the_head_reads_passages_as_the_backbone_encodes_them(tiny_language_model):
    from nlp_apps.io.checkpoint import load_backbone
    from tasks.qa.head import SpanExtractor

    model = SpanExtractor(load_backbone(tiny_language_model), HeadConfig(hidden_size=8)).eval()
    tokens = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, 0, 0], [13, 0, 0, 0, 0]])
    lengths = torch.tensor([5, 3, 1])
    with torch.no_grad():
        ours = model.encode(tokens, lengths)
        packed = model.backbone.encode(tokens, lengths)
    expected = torch.cat([packed[d].last_hidden_state for d in ("forward", "backward")], dim=-1)
    real = torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1)
    torch.testing.assert_close(ours[real], expected[real])


# ---- the official metric -----------------------------------------------------------------------


def test_normalisation_and_scores_follow_the_official_scripts():
    assert normalize_answer("The  Cat,\tand a DOG!") == "cat and dog"
    assert normalize_answer("Banana theatre an") == "banana theatre"  # articles only as whole words
    assert question_scores("the Eiffel Tower.", ["Eiffel tower"], "1.1") == (1.0, 1.0)
    assert question_scores("in the year 1889", ["1889"], "1.1") == (0.0, 0.5)  # P 1/3, R 1
    assert question_scores("1889", ["in 1889", "1889 AD", "1889"], "1.1") == (1.0, 1.0)  # the best gold counts
    assert question_scores("red red blue", ["red blue blue"], "1.1")[1] == pytest.approx(2 / 3)  # bags, not sets
    # Empty strings: v1.1 gives F1 0 when nothing is shared; v2.0 drops golds that normalise to nothing
    # and scores "" against "" as a match.
    assert question_scores("", ["Paris"], "1.1") == (0.0, 0.0)
    assert question_scores("", ["the"], "1.1") == (1.0, 0.0)
    assert question_scores("", ["the"], "2.0") == (1.0, 1.0)
    assert question_scores("", [], "2.0") == (1.0, 1.0)
    assert question_scores("Paris", [], "2.0") == (0.0, 0.0)
    scores = squad_metrics(["Paris", "", "a dog", ""], [["Paris"], [], ["the cat"], ["London"]])
    assert scores["version"] == "2.0" and scores["total"] == 4
    assert scores["exact_match"] == pytest.approx(50.0) and scores["f1"] == pytest.approx(50.0)
    assert (scores["has_ans_total"], scores["has_ans_f1"], scores["no_ans_total"], scores["no_ans_f1"]) == (3, pytest.approx(100 / 3), 1, 100.0)
    v1 = squad_metrics([{"answer": "Paris!"}, ["Rome"], "the cat sat"], [["paris"], ["Rome"], ["cat"]])
    assert set(v1) == {"version", "exact_match", "f1", "total"} and v1["f1"] == pytest.approx(100 * (1 + 1 + 2 / 3) / 3)  # "cat sat": P 1/2, R 1


def test_the_null_threshold_maximises_v2_f1():
    spans = ["Paris", "Rome", "Oslo", "Bern"]
    references = [["Paris"], [], ["Oslo"], []]
    margins = [-2.0, 1.0, 0.5, 3.0]  # answer the questions with margin <= threshold
    threshold = best_null_threshold(spans, margins, references)
    assert 0.5 <= threshold < 1.0
    answers = [s if m <= threshold else "" for s, m in zip(spans, margins)]
    assert squad_metrics(answers, references)["f1"] == pytest.approx(100.0)
    assert best_null_threshold(spans, [-2.0, 0.5, 1.0, 3.0], references) == -2.0  # a tie keeps the first (the script's >)
    assert best_null_threshold(["x"], [0.3], [[]]) < 0.3  # nothing worth answering
    # A question without any span answers "" whatever the threshold: it must not count as a loss.
    threshold = best_null_threshold(["", "Rome"], [0.0, 1.0], [[], ["Rome"]])
    assert threshold >= 1.0


def test_a_missing_prediction_scores_zero_and_still_counts():
    scores = squad_metrics([None, "Paris"], [["Rome"], ["Paris"]], version="1.1")
    assert (scores["exact_match"], scores["f1"], scores["total"]) == (50.0, 50.0, 2)


# ---- the head learns ----------------------------------------------------------------------------


def test_a_tiny_head_learns_to_point_at_the_answers(tiny_language_model, tokenizer):
    from nlp_apps.io.checkpoint import load_backbone
    from tasks.qa.head import build_head
    from tasks.qa.pipeline import QAPipeline

    torch.manual_seed(0)
    examples = examples_from(PASSAGES)
    model = build_head(load_backbone(tiny_language_model), HeadConfig(hidden_size=16, dropout=0.0), examples)
    features = Featurizer(tokenizer, model.config).build([(e.context, e.question) for e in examples], [e.answers for e in examples])
    batch = features.batch(range(len(features.features)))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    inputs, golds = [{"context": e.context, "question": e.question} for e in examples], [e.answers[0].text for e in examples]
    for step in range(1, 61):
        start, end = model(**batch.inputs(torch.device("cpu")))
        loss = torch.nn.functional.cross_entropy(start, batch.starts) + torch.nn.functional.cross_entropy(end, batch.ends)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0 and [r["answer"] for r in QAPipeline(model, tokenizer).predict(inputs)] == golds:
            break
    results = QAPipeline(model, tokenizer).predict(inputs)
    assert [r["answer"] for r in results] == golds
    assert all(e.context[r["start"] : r["end"]] == r["answer"] and 0 < r["score"] <= 1 for r, e in zip(results, examples))


def examples_from(passages):
    from tasks.qa.adapter import Answer, QAExample

    return [QAExample(f"{p}-{q}", question, context, (Answer(answer, context.find(answer)),))
            for p, (context, qas) in enumerate(passages) for q, (question, answer) in enumerate(qas)]


# ---- the CLI end to end -------------------------------------------------------------------------


def invoke(*args, input=None):
    from nlp_apps.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def test_cli_train_resume_evaluate_predict_and_load(tmp_path, tiny_language_model, plugins_on):
    train = write_json(tmp_path / "train.json", squad_json(PASSAGES * 2, impossible=[(0, "Who sings?"), (1, "Where is the sea?")]))
    valid = tmp_path / "valid.jsonl"
    rows = [{"context": c, "question": q, "answers": [{"text": a, "answer_start": c.find(a)}], "id": f"v{i}"}
            for i, (c, qas) in enumerate(PASSAGES) for q, a in qas[:1]]
    rows.append({"context": PASSAGES[2][0], "question": "Who sings?", "answers": []})
    valid.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "qa"
    common = ["--backbone", tiny_language_model, "--batch-size", 4, "--hidden-size", 8, "--no-progress", "--eval-every", 2,
              "--max-passage-len", 10, "--doc-stride", 3]
    result = invoke("qa", "train", "--train", train, "--valid", valid, "--out", out, *common, "--max-steps", 4)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "qa" and config["head"]["no_answer"] is True and config["head"]["max_passage_len"] == 10
    assert "null_threshold" in json.loads((out / "metrics.json").read_text())["best"]
    resumed = invoke("qa", "train", "--resume", out, "--max-steps", 6)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "metrics.json").read_text())["steps"] == 6

    evaluated = invoke("qa", "evaluate", "--model", out, "--data", valid, "--json")
    scores = json.loads(evaluated.output)
    assert scores["version"] == "2.0" and scores["total"] == 4 and scores["no_ans_total"] == 1 and scores["has_ans_total"] == 3
    assert scores["f1"] == pytest.approx((3 * scores["has_ans_f1"] + scores["no_ans_f1"]) / 4)  # the v2 script's weighting
    predictions = json.loads((out / "predictions.json").read_text())
    assert set(predictions) == {"v0", "v1", "v2", "line-4"}
    assert all(answer in row["context"] for answer, row in zip(predictions.values(), rows))
    assert squad_metrics(list(predictions.values()), [[a["text"] for a in r["answers"]] for r in rows], "2.0")["f1"] == pytest.approx(scores["f1"])

    context = PASSAGES[0][0]
    text = invoke("qa", "predict", "--model", out, "--context-text", context, "--question", "Who crosses the bridge?", "--question", "What?")
    assert text.exit_code == 0 and len(text.output.splitlines()) == 2
    (tmp_path / "passage.txt").write_text(context, encoding="utf-8")
    from_file = invoke("qa", "predict", "--model", out, "--context", tmp_path / "passage.txt", "--question", "Who crosses the bridge?")
    assert from_file.output.splitlines()[0] == text.output.splitlines()[0]
    lines = "\n".join([json.dumps({"context": context, "question": "Who?", "id": 7}), "", json.dumps({"context": context, "question": "What?"})])
    piped = invoke("qa", "predict", "--model", out, "--json", input=lines + "\n")
    outputs = piped.output.splitlines()
    assert len(outputs) == 3 and outputs[1] == "" and json.loads(outputs[0])["id"] == 7
    for line in (outputs[0], outputs[2]):
        row = json.loads(line)
        assert row["answer"] == "" or context[row["start"] : row["end"]] == row["answer"]

    import nlp_apps

    qa = nlp_apps.load(out)
    one = qa.predict(context=context, question="Who crosses the bridge?")
    assert set(one) == {"answer", "start", "end", "score"} and 0 < one["score"] <= 1  # a probability
    assert context[one["start"] : one["end"]] == one["answer"] if one["answer"] else one["start"] is one["end"] is None
    many = qa.predict(context=context, question=["Who crosses the bridge?", "What does the cat see?"])
    assert len(many) == 2 and many[0] == one


def test_the_demo_trains_evaluates_and_answers(tmp_path, tiny_language_model, plugins_on):
    result = invoke("qa", "demo", "--out", tmp_path / "demo", "--backbone", tiny_language_model, "--time-budget", "2s")
    assert result.exit_code == 0, result.output
    assert re.search(r"\nf1 [\d.]+, exact_match [\d.]+", result.output) and result.output.count("\nA: ") == 2


# ---- bad input ----------------------------------------------------------------------------------


def test_a_wrong_answer_start_falls_back_to_the_first_occurrence_and_is_counted(tmp_path):
    document = squad_json(PASSAGES)
    document["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 3  # "the moon" is at 13
    dataset = read_squad(write_json(tmp_path / "moved.json", document))
    assert dataset.examples[1].answers[0].start == PASSAGES[0][0].find("the moon")
    assert len(dataset.moved_starts) == 1 and "data[0].paragraphs[0].qas[1].answers[0]" in dataset.moved_starts[0]
    assert "1 answer(s)" in dataset.warning()


@pytest.mark.parametrize("change, message", [
    (lambda d: d["data"][0]["paragraphs"][1]["qas"][0].update(question="  "), r"data\[0\]\.paragraphs\[1\]\.qas\[0\]: empty question"),
    (lambda d: d["data"][0]["paragraphs"][2].update(context=""), r"data\[0\]\.paragraphs\[2\]: empty context"),
    (lambda d: d["data"][0].update(paragraphs={}), r"data\[0\]: 'paragraphs' must be a list"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].pop("text"),
     r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]: missing 'text'"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(text="zebra"), r"answers\[0\]: the answer text 'zebra' does not occur"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(answers=[]), r"qas\[0\]: no answers"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][1].update(id="q0-0"), r"qas\[1\]: question id 'q0-0' repeats"),
])
def test_malformed_squad_json_names_the_json_path(tmp_path, change, message):
    document = squad_json(PASSAGES)
    change(document)
    with pytest.raises(DataError, match=message):
        read_squad(write_json(tmp_path / "bad.json", document))


def test_bad_files_are_one_line_errors(tmp_path, tiny_language_model, plugins_on):
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [\n{"paragraphs": [}\n]}', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken.json:2: malformed JSON"):
        read_squad(broken)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"data": []}\n\xe9t\xe9')
    with pytest.raises(DataError, match=r"latin.json:2: not valid UTF-8"):
        read_squad(latin)
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"context": "A cat.", "question": "Who?", "answers": []}\n{"context": " ", "question": "Who?"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"q.jsonl:2: empty context"):
        read_squad(jsonl)
    jsonl.write_text('{"context": "A cat.", "question": "Who?", "answers": {"text": ["cat"], "answer_start": [2]}}\n'
                     '{"context": "A cat.", "question": "What?"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"q.jsonl:2: missing 'answers' \(an empty list means"):
        read_squad(jsonl)
    jsonl.write_text('{"context": "A cat.", "question": "Who?", "answers": {"text": ["cat"], "answer_start": [2]}}\n', encoding="utf-8")
    assert read_squad(jsonl).examples[0].answers[0].start == 2 and read_squad(jsonl).version == "1.1"
    with pytest.raises(DataError, match=r"not SQuAD JSON"):
        read_squad(write_json(tmp_path / "list.json", [1, 2]))
    good = write_json(tmp_path / "good.json", squad_json(PASSAGES))
    out = tmp_path / "never"
    refused = invoke("qa", "train", "--train", broken, "--valid", good, "--out", out, "--backbone", tiny_language_model)
    assert refused.exit_code == 1 and "malformed JSON" in refused.output and len(refused.output.strip().splitlines()) == 1
    assert not out.exists()
    wrong = invoke("qa", "predict", "--model", tiny_language_model, "--context-text", "A cat.", "--question", "Who?")
    assert wrong.exit_code == 1 and "not a question-answering model" in wrong.output


def test_the_squad_dev_sets_read_with_their_documented_counts():
    from tests.conftest import shared_data

    v1 = read_squad(shared_data("squad-v1.1-dev-explorer", "dev-v1.1.json"))
    v2 = read_squad(shared_data("squad-v2.0-dev-explorer", "dev-v2.0.json"))
    assert (v1.version, len(v1.examples), sum(len(e.answers) for e in v1.examples)) == ("1.1", 10_570, 34_726)
    assert (v2.version, len(v2.examples), sum(not e.answers for e in v2.examples)) == ("2.0", 11_873, 5_945)
    assert not v1.moved_starts and not v2.moved_starts  # answer_start is each text's first occurrence there
    references = [[a.text for a in e.answers] for e in v2.examples]
    scores = squad_metrics(references, references)
    assert scores["f1"] == scores["has_ans_f1"] == scores["no_ans_f1"] == 100.0
