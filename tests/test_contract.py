"""The plug-in contract, checked on every task installed through the `nlp_apps.tasks` entry points.

A new task gets these tests for free: its spec validates, every command answers --help, its head
builds on a tiny backbone, its adapter reads its demo data, its metric gives the best score on
perfect predictions, and a saved model loads (on the requested device) and predicts the same.
"""

from __future__ import annotations

import json
from importlib import metadata

import pytest
import torch
from click.testing import CliRunner

from nlp_apps.registry import ENTRY_POINT_GROUP, validate_spec

ENTRY_POINTS = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
PROJECT_TASKS = {"sentiment", "translation", "summarization", "qa"}


@pytest.fixture(params=ENTRY_POINTS, ids=lambda ep: ep.name, scope="module")
def spec(request):
    return validate_spec(request.param.load(), request.param.name)


def test_the_project_tasks_are_installed():
    assert {"sentiment"} <= {ep.name for ep in ENTRY_POINTS}


def test_every_command_answers_help(spec):
    for name in spec.cli.commands:
        result = CliRunner().invoke(spec.cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, (name, result.output)


def test_project_tasks_ship_a_demo(spec):
    if spec.name not in PROJECT_TASKS:
        pytest.skip("demo is optional for a third party's task")
    assert "demo" in spec.cli.commands and spec.demo_data is not None


def demo_examples(spec):
    if spec.demo_data is None:
        pytest.skip(f"{spec.name} ships no demo data")
    files = spec.demo_data()
    train = list(spec.read_dataset(files["train"]))
    valid = list(spec.read_dataset(files["valid"]))
    assert train and valid
    return train, valid


def test_the_metric_gives_the_best_score_on_perfect_predictions(spec):
    _, valid = demo_examples(spec)
    _, references = spec.split_examples(valid)
    scores = spec.metric(references, references)
    assert scores[spec.metric_name] == pytest.approx(spec.metric_best)


def test_a_head_builds_saves_loads_and_predicts_the_same(spec, tiny_language_model, tmp_path):
    from nlp_apps.io.checkpoint import load_backbone, load_model_tokenizer

    train, valid = demo_examples(spec)
    torch.manual_seed(0)
    model = spec.build_head(load_backbone(tiny_language_model), spec.head_config(), train)
    assert isinstance(model, torch.nn.Module) and any(p.requires_grad for p in model.parameters())
    tokenizer = load_model_tokenizer(tiny_language_model)
    inputs, _ = spec.split_examples(valid[:4])
    before = spec.pipeline(model.eval(), tokenizer).predict(inputs)
    spec.save(model, tokenizer, tmp_path / "model")
    loaded = spec.load(tmp_path / "model", device="cpu")
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())
    assert rounded(loaded.predict(inputs)) == rounded(before)
    assert len(before) == len(inputs)


def rounded(value):
    """Outputs compared as JSON with floats to 5 places (the same weights, loaded from disk)."""
    return json.loads(json.dumps(value), parse_float=lambda text: round(float(text), 5))


def test_nlp_apps_load_finds_the_task_of_a_saved_model(spec, tiny_language_model, tmp_path, plugins_on):
    import nlp_apps
    from nlp_apps.io.checkpoint import load_backbone, load_model_tokenizer

    train, _ = demo_examples(spec)
    model = spec.build_head(load_backbone(tiny_language_model), spec.head_config(), train)
    spec.save(model, load_model_tokenizer(tiny_language_model), tmp_path / "model")
    loaded = nlp_apps.load(tmp_path / "model", device="cpu")
    assert type(loaded) is type(spec.load(tmp_path / "model"))


def test_nlp_apps_demo_runs_each_task_demo(tiny_language_model, tmp_path, plugins_on, monkeypatch):
    from nlp_apps.cli import cli

    monkeypatch.chdir(tmp_path)  # task demos write under runs/
    result = CliRunner().invoke(cli, ["demo", "--task", "sentiment", "--backbone", str(tiny_language_model)])
    assert result.exit_code == 0, result.output
    assert "=== sentiment" in result.output and "=== language model" not in result.output
    assert "accuracy" in result.output
    refused = CliRunner().invoke(cli, ["demo", "--task", "nope"])
    assert refused.exit_code == 2 and "no installed task named nope" in refused.output
