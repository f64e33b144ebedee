"""The sentiment plug-in: adapters, head, metric, fine-tuning and CLI on tiny data."""

import json

import pytest
import torch
from click.testing import CliRunner

from nlp_apps.cli import cli
from nlp_apps.data.tokenizer import SentencePieceTokenizer
from nlp_apps.errors import DataError
from nlp_apps.models.backbone import BackboneConfig, RNNBackbone
from nlp_apps.models.lm import RNNLanguageModel
from tasks.sentiment import TASK, SentimentClassifier
from tasks.sentiment.adapter import read_dataset
from tasks.sentiment.head_config import HeadConfig
from tests.conftest import BATCH, EMB, HIDDEN, VOCAB

POSITIVE = ["a wonderful warm film", "I loved every minute of it", "great food and lovely staff", "superb and charming"]
NEGATIVE = ["a dull and boring film", "I hated every minute of it", "awful food and rude staff", "dreadful and tedious"]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ---- adapters ------------------------------------------------------------------------------

def test_tsv_with_header_csv_by_index_jsonl_and_sst2(tmp_path):
    tsv = read_dataset(write(tmp_path / "a.tsv", "text\tlabel\ngood film\tpos\nbad film\tneg\n"))
    assert [(e.text, e.label) for e in tsv] == [("good film", "pos"), ("bad film", "neg")]
    csv = read_dataset(write(tmp_path / "b.csv", '1,"good, really"\n0,bad\n'), text_column=1, label_column=0)
    assert [(e.text, e.label) for e in csv] == [("good, really", "1"), ("bad", "0")]
    named = read_dataset(write(tmp_path / "c.csv", "id,review,stars\n7,fine,5\n"), text_column="review", label_column="stars")
    assert (named[0].text, named[0].label) == ("fine", "5")
    jsonl = read_dataset(write(tmp_path / "d.jsonl", '{"body": "nice", "y": 1}\n\n{"body": "meh", "y": 0}\n'), text_field="body", label_field="y")
    assert [(e.text, e.label) for e in jsonl] == [("nice", "1"), ("meh", "0")]
    sst2 = read_dataset(write(tmp_path / "train.tsv", "sentence\tlabel\nit 's a charming trip \t1\n"), format="sst2")
    assert (sst2[0].text, sst2[0].label) == ("it 's a charming trip", "1")


def test_folder_per_label(tmp_path):
    for label, text in (("pos", "lovely"), ("neg", "awful")):
        (tmp_path / label).mkdir()
        write(tmp_path / label / "1.txt", text + "\nsecond line")
    examples = read_dataset(tmp_path)
    assert sorted((e.label, e.text) for e in examples) == [("neg", "awful\nsecond line"), ("pos", "lovely\nsecond line")]


@pytest.mark.parametrize(
    "name,content,options,message",
    [
        ("a.tsv", "body\tstars\nfine\t5\n", {"label_column": "stars"}, "no text column found (columns: body, stars)"),
        ("a.csv", "id,review\n1,fine\n", {"text_column": "review", "label_column": "stars"}, "no label column named 'stars' (columns: id, review)"),
        ("a.tsv", "text\tlabel\nfine\tpos\n\tneg\n", {}, "a.tsv:3: empty text"),
        ("a.tsv", "text\tlabel\nfine\tpos\nok\n", {}, "a.tsv:3: missing label"),
        ("a.jsonl", '{"text": "x", "label": 1}\n{"text": "y", "label"\n', {}, "a.jsonl:2: malformed JSON"),
        ("a.jsonl", '{"text": "x"}\n', {}, "a.jsonl:1: missing label field 'label'"),
        ("a.tsv", "", {}, "no examples (the file is empty)"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, name, content, options, message):
    with pytest.raises(DataError) as err:
        read_dataset(write(tmp_path / name, content), **options)
    assert message in str(err.value)


def test_non_utf8_and_missing_files(tmp_path):
    (tmp_path / "bad.tsv").write_bytes(b"text\tlabel\nfine\tpos\nbad \xff\tneg\n")
    with pytest.raises(DataError, match=r"bad.tsv:3: not valid UTF-8"):
        read_dataset(tmp_path / "bad.tsv")
    with pytest.raises(DataError, match="no such file"):
        read_dataset(tmp_path / "missing.tsv")


# ---- head and metric -----------------------------------------------------------------------

@pytest.fixture
def classifier():
    config = BackboneConfig(vocab_size=VOCAB, emb_size=EMB, hidden_size=HIDDEN, bidirectional=True,
                            input_dropout=0, hidden_dropout=0, output_dropout=0)
    return SentimentClassifier(RNNBackbone(config), HeadConfig(labels=["a", "b", "c"], chunk_size=3, grad_chunks=1, dropout=0))


def test_head_shapes_and_chunked_reading_matches_one_pass(classifier):
    classifier.eval()
    tokens = torch.randint(4, VOCAB, (BATCH, 11))
    lengths = torch.tensor([11, 7, 3, 1, 9])
    tokens[torch.arange(11) >= lengths.unsqueeze(1)] = 0
    assert classifier(tokens, lengths).shape == (BATCH, 3)
    chunked = {d: classifier.pool(tokens, lengths, d) for d in ("forward", "backward")}
    classifier.config.chunk_size = 100
    for direction in ("forward", "backward"):
        torch.testing.assert_close(chunked[direction], classifier.pool(tokens, lengths, direction))
        assert chunked[direction].shape == (BATCH, 3 * EMB)
    # Each row on its own, its real tokens only (reversed for the backward stack), from the start state:
    for row, length in enumerate(lengths.tolist()):
        text = tokens[row, :length]
        for direction, read in (("forward", text), ("backward", text.flip(0))):
            state = classifier.backbone.initial_state(1, direction)
            hidden = classifier.backbone(read.unsqueeze(0), state, direction).layer_outputs[-1][0]  # (length, O)
            expected = torch.cat([hidden[-1], hidden.max(0).values, hidden.mean(0)])
            torch.testing.assert_close(chunked[direction][row], expected, atol=1e-5, rtol=1e-5)


def test_long_texts_only_backpropagate_through_the_last_chunks(classifier):
    tokens = torch.randint(4, VOCAB, (2, 12))
    classifier(tokens, torch.tensor([12, 12])).sum().backward()
    assert classifier.backbone.embedding.weight.grad is not None
    # chunk_size 3, grad_chunks 1: the forward stack's last chunk is the last 3 tokens, the
    # backward stack's last chunk the first 3; nothing in between gets a gradient.
    used_late = set(tokens[:, 9:].flatten().tolist()) | set(tokens[:, :3].flatten().tolist())
    rows_with_grad = set(classifier.backbone.embedding.weight.grad.abs().sum(1).nonzero().flatten().tolist())
    assert rows_with_grad <= used_late


def test_loss_falls_when_overfitting_a_handful_of_examples(classifier):
    tokens = torch.randint(4, VOCAB, (6, 5))
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    optimizer = torch.optim.Adam(classifier.parameters(), lr=0.01)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(classifier(tokens, torch.full((6,), 5)), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_metric_equals_scikit_learn():
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    truth = ["pos", "neg", "neg", "pos", "neu", "pos"]
    predicted = ["pos", "pos", "neg", "neu", "neu", "pos"]
    scores = TASK.metric(predicted, truth, labels=["neg", "neu", "pos"])
    assert scores["accuracy"] == accuracy_score(truth, predicted)
    assert scores["macro_f1"] == f1_score(truth, predicted, average="macro")
    assert scores["confusion_matrix"] == confusion_matrix(truth, predicted, labels=["neg", "neu", "pos"]).tolist()
    assert scores["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)


# ---- end to end ---------------------------------------------------------------------------

@pytest.fixture
def tiny_backbone(tmp_path, tiny_corpus):
    corpus = write(tmp_path / "lm.txt", tiny_corpus[0].read_text() + "\n".join(POSITIVE + NEGATIVE) + "\n")
    tokenizer = SentencePieceTokenizer.train(corpus, vocab_size=300)
    config = BackboneConfig(vocab_size=tokenizer.vocab_size, emb_size=16, hidden_size=24, bidirectional=True)
    torch.manual_seed(0)
    RNNLanguageModel(config).save_pretrained(tmp_path / "lm", tokenizer=tokenizer)
    return tmp_path / "lm"


@pytest.fixture
def labelled(tmp_path):
    rows = [f"{t}\tpositive" for t in POSITIVE] + [f"{t}\tnegative" for t in NEGATIVE]
    train = write(tmp_path / "train.tsv", "text\tlabel\n" + "\n".join(rows * 3) + "\n")
    valid = write(tmp_path / "valid.tsv", "text\tlabel\n" + "\n".join(rows) + "\n")
    return train, valid


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def test_cli_train_evaluate_predict_round_trip(tmp_path, tiny_backbone, labelled, plugins_on):
    out = tmp_path / "clf"
    result = invoke("sentiment", "train", "--train", labelled[0], "--valid", labelled[1], "--out", out, "--backbone", tiny_backbone,
                    "--epochs", 40, "--patience", 40, "--lr", 0.02, "--dropout", 0, "--batch-size", 8, "--no-progress", "--seed", 0)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["head"]["labels"] == ["negative", "positive"]
    evaluation = invoke("sentiment", "evaluate", "--model", out, "--data", labelled[1], "--json")
    scores = json.loads(evaluation.output)
    assert scores["accuracy"] >= 0.75 and (out / "confusion_matrix.png").is_file()
    predicted = invoke("sentiment", "predict", "--model", out, "--json", "I loved every minute of it", "awful food and rude staff")
    rows = [json.loads(line) for line in predicted.output.splitlines()]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0)
    piped = invoke("sentiment", "predict", "--model", out, input="superb and charming\n")
    assert piped.output.startswith("positive\t")
    dashed = invoke("sentiment", "predict", "--model", out, "-", input="superb and charming\n\n  \ndreadful and tedious\n")
    lines = dashed.output.split("\n")[:-1]
    assert len(lines) == 4 and lines[0].startswith("positive\t") and lines[1:3] == ["", ""] and lines[3].startswith("negative\t")
    blank = invoke("sentiment", "predict", "--model", out, "--json", "--file", write(tmp_path / "in.txt", "superb and charming\n\n"))
    assert [json.loads(line)["label"] for line in blank.output.splitlines()] == ["positive", None]
    import nlp_apps

    pipeline = nlp_apps.load(out)  # through the registry, as a user would
    assert pipeline.predict(["great food and lovely staff"])[0]["label"] == "positive"


def test_cli_bad_inputs(tmp_path, tiny_language_model, labelled, plugins_on):
    one_class = write(tmp_path / "one.tsv", "text\tlabel\ngood\tpos\nfine\tpos\n")
    result = invoke("sentiment", "train", "--train", one_class, "--valid", one_class, "--out", tmp_path / "x", "--backbone", tiny_language_model)
    assert result.exit_code == 1 and "single class" in result.output and not (tmp_path / "x").exists()
    unseen = write(tmp_path / "unseen.tsv", "text\tlabel\ngood\tpositive\nhmm\tneutral\n")
    result = invoke("sentiment", "train", "--train", labelled[0], "--valid", unseen, "--out", tmp_path / "y", "--backbone", tiny_language_model)
    assert result.exit_code == 1 and "unseen.tsv:3: label 'neutral' was never seen in training" in result.output
    assert not (tmp_path / "y").exists()
    for command in ("train", "evaluate", "predict"):
        assert invoke("sentiment", command, "--help").exit_code == 0


def test_cli_resume_continues_training(tmp_path, tiny_language_model, labelled, plugins_on):
    out = tmp_path / "clf"
    first = invoke("sentiment", "train", "--train", labelled[0], "--valid", labelled[1], "--out", out, "--backbone", tiny_language_model,
                   "--epochs", 2, "--patience", 9, "--batch-size", 8, "--no-progress", "--no-lm-finetune", "--lr-decay", 2.6,
                   "--grad-chunks", 1)
    assert first.exit_code == 0, first.output
    assert json.loads((out / "config.json").read_text())["head"]["grad_chunks"] == 1
    assert json.loads((out / "run_config.json").read_text())["recipe"]["lr_decay"] == 2.6  # kept for the resumed run
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 2
    again = invoke("sentiment", "train", "--resume", out, "--epochs", 3)
    assert again.exit_code == 0, again.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 3 and metrics["steps"] == 9
    ignored = invoke("sentiment", "train", "--resume", out, "--lr", 1.0, "--dropout", 0.5)
    assert ignored.exit_code == 2 and "--dropout, --lr cannot change when resuming" in ignored.output
    refused = invoke("sentiment", "train", "--train", labelled[0], "--valid", labelled[1], "--out", out, "--backbone", tiny_language_model)
    assert refused.exit_code == 1 and "already holds a run" in refused.output


@pytest.mark.parametrize("field, value", [("lm_budget_share", 0.0), ("lm_budget_share", 1.0), ("unfreeze_span", 0.0),
                                          ("backbone_dropout", 1.0), ("batch_size", 0)])
def test_recipe_rejects_values_out_of_range(field, value):
    from tasks.sentiment.training import RecipeConfig

    with pytest.raises(ValueError):
        RecipeConfig(**{field: value})
