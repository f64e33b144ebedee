"""`nlp-apps sentiment train --ensemble N`: N members, one model directory, the members' probabilities averaged."""

import json

import pytest
import torch
from click.testing import CliRunner

from nlp_apps.errors import CheckpointError
from nlp_apps.training.trainer import TrainerConfig
from tasks.sentiment import TASK
from tasks.sentiment.ensemble import EnsemblePipeline, load_ensemble, member_trainer

POSITIVE = ["great food and lovely staff", "a superb and charming film", "i loved every minute", "wonderful service, would return"]
NEGATIVE = ["awful food and rude staff", "a dreadful and tedious film", "i hated every minute", "terrible service, never again"]


def invoke(*args, input=None):
    from nlp_apps.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture
def labelled(tmp_path):
    rows = [f"{t}\tpositive" for t in POSITIVE] + [f"{t}\tnegative" for t in NEGATIVE]
    train = tmp_path / "train.tsv"
    train.write_text("text\tlabel\n" + "\n".join(rows * 3) + "\n", encoding="utf-8")
    valid = tmp_path / "valid.tsv"
    valid.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return train, valid


def train_ensemble(out, labelled, backbone, *extra):
    return invoke("sentiment", "train", "--train", labelled[0], "--valid", labelled[1], "--out", out, "--backbone", backbone, "--ensemble", 2,
                  "--epochs", 2, "--patience", 9, "--batch-size", 8, "--no-progress", "--seed", 3, *extra)


def test_members_train_into_one_directory_and_their_probabilities_are_averaged(tmp_path, tiny_language_model, labelled, plugins_on):
    import nlp_apps

    out = tmp_path / "ensemble"
    result = train_ensemble(out, labelled, tiny_language_model)
    assert result.exit_code == 0, result.output
    assert "ensemble: member 1 of 2 (seed 6)" in result.output and "ensemble: member 2 of 2 (seed 7)" in result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["model_type"], config["task"], config["head"]) == ("ensemble", "sentiment", {"members": ["member-0", "member-1"],
                                                                                                  "combine": "mean_probabilities"})
    assert json.loads((out / "run_config.json").read_text())["ensemble"] == 2
    texts = POSITIVE + NEGATIVE
    ensemble, members = nlp_apps.load(out), [TASK.load(out / "member-0"), TASK.load(out / "member-1")]
    assert isinstance(ensemble, EnsemblePipeline) and ensemble.labels == ["negative", "positive"]
    alone = [m.probabilities(texts) for m in members]
    assert not torch.allclose(alone[0], alone[1])  # two seeds, two models
    assert torch.allclose(ensemble.probabilities(texts), (alone[0] + alone[1]) / 2, atol=1e-6)
    rnn = [m.path_logits(texts, rnn_only=True)["rnn"].softmax(-1) for m in members]
    assert torch.allclose(ensemble.path_logits(texts, rnn_only=True)["rnn"].softmax(-1), (rnn[0] + rnn[1]) / 2, atol=1e-6)
    # The ensemble's validation accuracy is what `evaluate` measures on the same file; each member's is recorded beside it.
    metrics = json.loads((out / "metrics.json").read_text())
    scores = json.loads(invoke("sentiment", "evaluate", "--model", out, "--data", labelled[1], "--json").output)
    assert scores["accuracy"] == pytest.approx(metrics["best"]["accuracy"])
    assert [m["dir"] for m in metrics["members"]] == ["member-0", "member-1"] and metrics["steps"] == sum(m["steps"] for m in metrics["members"])
    predicted = [json.loads(line) for line in invoke("sentiment", "predict", "--model", out, "--json", *texts[:2]).output.splitlines()]
    for cli_row, api_row in zip(predicted, ensemble.predict(texts[:2])):
        assert cli_row["label"] == api_row["label"] and cli_row["probabilities"] == pytest.approx(api_row["probabilities"], abs=1e-5)


def test_resume_keeps_finished_members_and_resumes_the_interrupted_one(tmp_path, tiny_language_model, labelled, plugins_on):
    out = tmp_path / "ensemble"
    assert train_ensemble(out, labelled, tiny_language_model).exit_code == 0
    # As if stopped while the second member trained: its record says interrupted, and the ensemble is no model yet.
    record = out / "member-1" / "metrics.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "status": "interrupted"}))
    (out / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        TASK.load(out)
    again = invoke("sentiment", "train", "--resume", out)
    assert again.exit_code == 0, again.output
    assert "member 1 of 2" not in again.output and "ensemble: member 2 of 2 (seed 7)" in again.output
    assert json.loads(record.read_text())["status"] != "interrupted"
    assert isinstance(TASK.load(out), EnsemblePipeline)


def test_a_failing_member_leaves_the_finished_ones(tmp_path, tiny_language_model, labelled, plugins_on, monkeypatch):
    from tasks.sentiment import training

    calls, real = [], training.train_classifier

    def fail_second(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_classifier", fail_second)
    out = tmp_path / "ensemble"
    with pytest.raises(RuntimeError, match="out of memory"):
        train_ensemble(out, labelled, tiny_language_model)
    assert (out / "member-0" / "model.safetensors").is_file()  # not removed with the failed run: --resume goes on


def test_each_member_gets_its_seed_and_share_of_the_budget():
    trainer = TrainerConfig(seed=5, time_budget=1800.0, epochs=6)
    members = [member_trainer(trainer, i, 3) for i in range(3)]
    assert [(m.seed, m.time_budget, m.epochs) for m in members] == [(15, 600.0, 6), (16, 600.0, 6), (17, 600.0, 6)]
    assert member_trainer(TrainerConfig(), 1, 2).time_budget is None


@pytest.mark.parametrize("head, message", [
    ({"members": ["member-0"], "combine": "mean_probabilities"}, "2 or more member directories"),
    ({"members": ["a", "b"], "combine": "vote"}, "2 or more member directories"),
    ({"members": ["member-0", "../elsewhere"], "combine": "mean_probabilities"}, "inside the ensemble"),
])
def test_a_damaged_ensemble_config_is_a_one_line_error(tmp_path, head, message):
    with pytest.raises(CheckpointError, match=message):
        load_ensemble(tmp_path, head)
