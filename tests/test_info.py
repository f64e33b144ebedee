"""`nlp-apps info DIR`: a model directory described from its files."""

import json

from click.testing import CliRunner

from nlp_apps.cli import cli
from nlp_apps.commands.info import count_parameters
from nlp_apps.io.checkpoint import DEFAULT_MODEL_DIR
from tests.conftest import write_tiny_corpus

TINY = ["--vocab-size", "300", "--layers", "1", "--emb-size", "12", "--hidden-size", "20", "--batch-size", "4",
        "--bptt", "10", "--no-progress", "--seed", "1"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_info_on_the_shipped_backbone_counts_its_parameters_without_torch():
    import torch
    from safetensors.torch import load_file

    expected = sum(t.numel() for t in load_file(DEFAULT_MODEL_DIR / "model.safetensors").values())
    assert count_parameters(DEFAULT_MODEL_DIR / "model.safetensors") == expected
    result = invoke("info", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["task"] == "language_model" and summary["parameters"] == f"{expected:,}"
    assert "bidirectional" in summary["backbone"] and summary["command"][:2] == ["nlp-apps", "pretrain"]
    assert torch  # (imported above only to count the reference)


def test_info_on_a_training_run_shows_precision_status_and_the_resumable_state(tmp_path):
    train, valid = write_tiny_corpus(tmp_path)
    out = tmp_path / "run"
    assert invoke("pretrain", "--train", train, "--valid", valid, "--out", out, "--max-steps", 3, *TINY).exit_code == 0
    result = invoke("info", out)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    assert lines["precision"].strip().startswith("fp32")
    assert lines["status"].strip() == "max_steps after 3 steps"
    assert "resumable state in last/" in lines["size"]
    assert str(train.resolve()) in lines["data"]


def test_info_on_a_folder_that_holds_no_model_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["info", str(tmp_path)])
    assert result.exit_code != 0
    assert "config.json is missing" in result.output and len(result.output.strip().splitlines()) == 1
