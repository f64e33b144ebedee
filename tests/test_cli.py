"""The real CLI, driven end to end through click's CliRunner with tiny flags."""

import json
import shutil

import pytest
from click.testing import CliRunner

from nlp_apps.cli import CORE_COMMANDS, cli
from tests.conftest import write_tiny_corpus

TINY = ["--vocab-size", "300", "--layers", "1", "--emb-size", "12", "--hidden-size", "20", "--batch-size", "4",
        "--bptt", "10", "--no-progress", "--seed", "1"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    """One tiny pretraining run for the whole module (its corpus lives next to it); never modified."""
    folder = tmp_path_factory.mktemp("pretrained")
    train, valid = write_tiny_corpus(folder)
    out = folder / "run"
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", out, "--epochs", 2, "--bidirectional", *TINY)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def trained(pretrained_run, tmp_path):
    """This test's own copy of the run: resuming, overwriting or editing it leaves the other tests' alone."""
    return shutil.copytree(pretrained_run, tmp_path / "run")


def test_pretrain_writes_a_complete_model_directory(trained):
    for name in ("config.json", "model.safetensors", "tokenizer.model", "metrics.json", "log.csv", "manifest.json", "curves.png", "last/trainer_state.pt"):
        assert (trained / name).is_file(), name
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs_completed"] == 2
    assert metrics["best"]["ppl"] < 300  # learned something: uniform would be the vocabulary size
    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["seed"] == 1 and len(manifest["data_files"]) == 2 and manifest["command"][0]
    assert "valid_ppl" in (trained / "log.csv").read_text().splitlines()[0]


def test_perplexity_and_generate(trained, tiny_corpus):
    result = invoke("perplexity", "--model", trained, tiny_corpus[1], "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert 1 < scores["token_perplexity"] < 300 and scores["words"] > scores["tokens"] / 5
    backward = json.loads(invoke("perplexity", "--model", trained, tiny_corpus[1], "--json", "--direction", "backward").output)
    assert backward["tokens"] == scores["tokens"]
    first = invoke("generate", "--model", trained, "--prompt", "The cat", "--seed", 4, "--max-tokens", 8)
    again = invoke("generate", "--model", trained, "--prompt", "The cat", "--seed", 4, "--max-tokens", 8)
    assert first.exit_code == 0 and first.output == again.output and first.output.startswith("The cat")


def test_resume_continues_a_stopped_run(trained, tiny_corpus):
    stopped = json.loads((trained / "metrics.json").read_text())["steps"]
    result = invoke("pretrain", "--resume", trained, "--epochs", 3)
    assert result.exit_code == 0, result.output
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 3 and metrics["steps"] > stopped


def test_resume_takes_new_limits_and_refuses_other_options(trained):
    result = invoke("pretrain", "--resume", trained, "--lr", 1.0, "--hidden-size", 8)
    assert result.exit_code == 2 and "--hidden-size, --lr cannot change when resuming" in result.output
    result = invoke("pretrain", "--resume", trained, "--epochs", 3, "--patience", 7)
    assert result.exit_code == 0, result.output
    run_config = json.loads((trained / "run_config.json").read_text())
    assert run_config["trainer"]["patience"] == 7 and run_config["trainer"]["epochs"] == 3


def test_out_directory_with_a_run_is_refused_unless_overwrite(trained, tiny_corpus):
    train, valid = tiny_corpus
    before = (trained / "model.safetensors").read_bytes()
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", trained, "--epochs", 1, *TINY)
    assert result.exit_code != 0 and "already holds a run" in result.output
    assert (trained / "model.safetensors").read_bytes() == before
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", trained, "--epochs", 1, "--overwrite", *TINY)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "content,message",
    [(b"", "corpus is empty"), (b"fine\n\xff\xfe\n", "train.txt:2: not valid UTF-8")],
)
def test_bad_corpora_fail_in_one_line_and_write_nothing(tmp_path, tiny_corpus, content, message):
    bad = tmp_path / "bad" / "train.txt"
    bad.parent.mkdir()
    bad.write_bytes(content)
    out = tmp_path / "out"
    result = invoke("pretrain", "--train", bad, "--valid", tiny_corpus[1], "--out", out, *TINY)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_file_and_directory_as_file(tmp_path, tiny_corpus):
    result = invoke("pretrain", "--train", tmp_path / "missing.txt", "--valid", tiny_corpus[1], "--out", tmp_path / "o", *TINY)
    assert result.exit_code == 1 and "missing.txt: no such file" in result.output
    result = invoke("pretrain", "--train", tmp_path, "--valid", tiny_corpus[1], "--out", tmp_path / "o", *TINY)
    assert result.exit_code == 1 and "is a directory" in result.output
    result = invoke("perplexity", "--model", tmp_path / "nomodel", tiny_corpus[1])
    assert result.exit_code == 1 and "no such model directory" in result.output


def test_model_from_a_newer_format_is_refused(trained, tiny_corpus):
    config = json.loads((trained / "config.json").read_text())
    config["format_version"] = 99
    (trained / "config.json").write_text(json.dumps(config))
    result = invoke("perplexity", "--model", trained, tiny_corpus[1])
    assert result.exit_code == 1 and "newer than this nlp-apps supports" in result.output


def test_resume_of_a_directory_without_a_run(tmp_path):
    result = invoke("pretrain", "--resume", tmp_path)
    assert result.exit_code == 1 and "nothing to resume" in result.output


def test_invalid_option_combination_is_a_usage_error(tmp_path, tiny_corpus):
    train, valid = tiny_corpus
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", tmp_path / "o", "--cell", "lstm", "--activation", "relu")
    assert result.exit_code == 2 and "activation applies to cell 'rnn' only" in result.output


@pytest.mark.parametrize("command", sorted(CORE_COMMANDS))
def test_every_command_has_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_root_help_lists_core_commands():
    result = invoke("--help")
    assert all(name in result.output for name in CORE_COMMANDS)


def test_batch_larger_than_the_corpus_is_a_one_line_error(tmp_path, tiny_corpus):
    train, valid = tiny_corpus
    args = [a for a in TINY if a not in ("--batch-size", "4")]
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", tmp_path / "o", "--batch-size", 100000, *args)
    assert result.exit_code == 1 and "too few for batch size 100000" in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and not (tmp_path / "o").exists()


def test_backward_perplexity_of_a_forward_only_model(tmp_path, tiny_corpus):
    train, valid = tiny_corpus
    out = tmp_path / "fwd"
    assert invoke("pretrain", "--train", train, "--valid", valid, "--out", out, "--epochs", 1, *TINY).exit_code == 0
    result = invoke("perplexity", "--model", out, valid, "--direction", "backward")
    assert result.exit_code == 2 and "has no backward language model" in result.output


def test_manifest_hashes_directories(tmp_path):
    from nlp_apps.data.fileio import sha256_file

    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "1.txt").write_text("good")
    first = sha256_file(tmp_path)
    (tmp_path / "pos" / "1.txt").write_text("bad")
    assert sha256_file(tmp_path) != first
