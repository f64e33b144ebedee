"""The example task plug-in (examples/truecase) meets the contract without being installed, and its
train / evaluate / predict / demo commands run end to end on its demo data with the tiny backbone. Its
`train` is the core's, built from its TaskSpec.training: run_config.json and --resume come with it."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest
import torch
from click.testing import CliRunner

import nlp_apps.registry
from nlp_apps.errors import DataError
from nlp_apps.registry import Registry, validate_spec
from tests import test_contract as contract
from tests.conftest import EXAMPLE_TASK, example_entry_point


@pytest.fixture
def spec(monkeypatch):
    """The example's TaskSpec, loaded through its entry-point line from the example folder on sys.path, and registered
    (as the registry does for an installed plug-in: that adds the train command the core builds from spec.training)."""
    monkeypatch.syspath_prepend(str(EXAMPLE_TASK))
    ep = example_entry_point()
    spec = validate_spec(ep.load(), ep.name)
    Registry().register(spec, entry_name=ep.name)
    return spec


@pytest.fixture
def plugins_on(spec, monkeypatch):
    """The example as if installed (conftest's plugins_on would read the real entry points)."""
    registry = Registry()
    registry.register(spec, entry_name="truecase")
    monkeypatch.setattr(nlp_apps.registry, "_REGISTRY", registry)


# The contract suite's own checks, run here on the example's spec (the fixtures above supply it).
test_every_command_answers_help = contract.test_every_command_answers_help
test_the_metric_gives_the_best_score_on_perfect_predictions = contract.test_the_metric_gives_the_best_score_on_perfect_predictions
test_a_head_builds_saves_loads_and_predicts_the_same = contract.test_a_head_builds_saves_loads_and_predicts_the_same
test_nlp_apps_load_finds_the_task_of_a_saved_model = contract.test_nlp_apps_load_finds_the_task_of_a_saved_model
test_evaluation_is_deterministic_call_after_call_and_load_after_load = contract.test_evaluation_is_deterministic_call_after_call_and_load_after_load
test_a_corrupted_model_directory_is_refused_in_one_line = contract.test_a_corrupted_model_directory_is_refused_in_one_line
test_two_processes_train_the_same_model_as_one = contract.test_two_processes_train_the_same_model_as_one
test_a_batch_too_small_to_share_out_is_refused_before_anything_is_written = contract.test_a_batch_too_small_to_share_out_is_refused_before_anything_is_written


def test_the_adapter_reads_the_demo_and_names_a_bad_line(spec, tmp_path):
    _, valid = contract.demo_examples(spec)
    inputs, references = spec.split_examples(valid)
    assert inputs[0] == references[0].lower() and references[0] != inputs[0]
    bad = tmp_path / "bad.txt"
    bad.write_text("A good line.\n\n12 -- 34\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.txt:3: nothing to truecase"):
        spec.read_dataset(bad)
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text('{"text": "Anna lives in Leeds."}\n', encoding="utf-8")
    assert [e.text for e in spec.read_dataset(jsonl)] == ["Anna lives in Leeds."]


def test_train_evaluate_and_predict_end_to_end(spec, tiny_language_model, tmp_path):
    files, out = spec.demo_data(), tmp_path / "model"
    trained = CliRunner().invoke(spec.cli, [
        "train", "--train", files["train"], "--valid", files["valid"], "--out", str(out), "--backbone", str(tiny_language_model),
        "--max-steps", "3", "--batch-size", "8", "--no-progress"])
    assert trained.exit_code == 0, trained.output
    assert "max_steps after 3 steps" in trained.output and (out / "config.json").is_file()
    best = float(re.search(r"best f1 (\d\.\d{4})", trained.output).group(1))
    evaluated = CliRunner().invoke(spec.cli, ["evaluate", "--model", str(out), "--data", files["valid"]])
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.output.splitlines()[-1])
    # The saved model is the one that scored best on --valid during training; its predictions score the same again.
    references = [e.text for e in spec.read_dataset(files["valid"])]
    assert scores["words"] == sum(len(r.split()) for r in references) and scores["f1"] == pytest.approx(best, abs=5e-5)
    recased = CliRunner().invoke(spec.cli, ["predict", "--model", str(out), "--file", files["valid"]])
    assert recased.exit_code == 0 and spec.metric(recased.output.splitlines(), references) == scores
    predicted = CliRunner().invoke(spec.cli, ["predict", "--model", str(out), "anna met tomas in york.", "the bbc called."])
    assert predicted.exit_code == 0, predicted.output
    lines = predicted.output.splitlines()
    assert [line.lower() for line in lines] == ["anna met tomas in york.", "the bbc called."]


def invoke(*args):
    """`nlp-apps ARGS`, as a user runs it (the main CLI turns the project's errors into one line and exit status 1)."""
    from nlp_apps.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_train_writes_run_config_and_resume_continues_an_interrupted_run_exactly(spec, plugins_on, tiny_language_model, tmp_path, monkeypatch):
    from truecase_task.training import TruecaseTraining

    assert getattr(spec.cli.commands["train"], "generated", False) and "--resume" in invoke("truecase", "train", "--help").output
    files = spec.demo_data()
    common = ["--train", files["train"], "--valid", files["valid"], "--backbone", tiny_language_model, "--batch-size", 8, "--epochs", 2,
              "--patience", 9, "--no-progress"]  # 20 sentences: 3 batches an epoch, 6 steps (after the LM stage)
    whole = invoke("truecase", "train", *common, "--out", tmp_path / "whole")
    assert whole.exit_code == 0 and "finished after 6 steps; best f1 " in whole.output, whole.output

    step, calls = TruecaseTraining.training_step, []

    def interrupted_at_the_fourth_step(self, batch):  # mid-epoch 2, after one evaluation: as Ctrl-C or SIGTERM would
        calls.append(batch)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGTERM)  # the Trainer's handler saves last/ after this step and stops
        return step(self, batch)

    monkeypatch.setattr(TruecaseTraining, "training_step", interrupted_at_the_fourth_step)
    out = tmp_path / "run"
    first = invoke("truecase", "train", *common, "--out", out)
    assert first.exit_code == 130 and "interrupted after 4 steps" in first.output, first.output
    assert f"resume with: nlp-apps truecase train --resume {out}" in first.output
    monkeypatch.setattr(TruecaseTraining, "training_step", step)

    run = json.loads((out / "run_config.json").read_text(encoding="utf-8"))
    assert run["data"] == {"train": files["train"], "valid": files["valid"]} and run["backbone"] == str(tiny_language_model)
    assert run["device"] == "auto" and run["head"] == {"dropout": run["recipe"]["backbone_dropout"]} == {"dropout": 0.2}
    assert run["recipe"]["batch_size"] == 8 and run["recipe"]["lm_finetune"] is True and run["recipe"]["lr_decay"] == 2.6
    assert (run["trainer"]["epochs"], run["trainer"]["patience"], run["trainer"]["lr"], run["trainer"]["schedule"]) == (2, 9, 5e-3, "slanted_triangular")

    changed = invoke("truecase", "train", "--resume", out, "--batch-size", 4)
    assert changed.exit_code == 2 and "--batch-size cannot change when resuming" in changed.output
    again = invoke("truecase", "train", "--train", tmp_path / "missing.txt", "--valid", files["valid"], "--out", out)  # refused before reading
    assert again.exit_code == 1 and "already holds a run" in again.output

    resumed = invoke("truecase", "train", "--resume", out)
    assert resumed.exit_code == 0 and "finished after 6 steps" in resumed.output, resumed.output
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["steps"] == 6 and metrics["best"] == json.loads((tmp_path / "whole" / "metrics.json").read_text(encoding="utf-8"))["best"]
    ours, theirs = spec.load(out).model.state_dict(), spec.load(tmp_path / "whole").model.state_dict()
    assert all(torch.equal(ours[name], theirs[name]) for name in theirs)  # the same model as the run never interrupted


def test_the_demo_fine_tunes_evaluates_and_predicts(spec, tiny_language_model, tmp_path, plugins_on, monkeypatch):
    import nlp_apps
    from nlp_apps.cli import cli

    monkeypatch.chdir(tmp_path)  # the demo writes runs/truecase-demo
    result = CliRunner().invoke(cli, ["demo", "--task", "truecase", "--backbone", str(tiny_language_model)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "=== truecase" in result.output and "finished after 30 steps" in result.output  # 15 epochs of 2 batches
    printed = result.output.split("== evaluating on ")[1].splitlines()[1]
    scores = nlp_apps.evaluate(tmp_path / "runs" / "truecase-demo", spec.demo_data()["valid"], precision="fp32")
    assert printed == f"f1 {scores['f1']:.4g}, accuracy {scores['accuracy']:.4g}"  # the task's metric, through nlp_apps.evaluate
    recased = result.output.split("== predicting\n")[1].splitlines()[:2]
    assert [line.lower() for line in recased] == ["i think the bbc and nasa will both report it.", "on sunday anna flew to lisbon."]
    assert json.loads((tmp_path / "runs" / "truecase-demo" / "run_config.json").read_text(encoding="utf-8"))["trainer"]["epochs"] == 15


def test_the_tagger_overfits_a_handful_of_sentences(spec, tiny_language_model):
    """The example's own training step (the loss the Trainer minimises) fits four demo sentences: every capital restored."""
    from truecase_task.training import TruecaseTraining

    from nlp_apps.io.checkpoint import load_backbone, load_model_tokenizer
    from nlp_apps.training.finetune import RecipeConfig

    torch.manual_seed(0)
    train = spec.read_dataset(spec.demo_data()["train"])[:4]
    model = spec.build_head(load_backbone(tiny_language_model), spec.head_config(dropout=0.0), train)
    tokenizer = load_model_tokenizer(tiny_language_model)
    task = TruecaseTraining(model, tokenizer, train, train, RecipeConfig(batch_size=4), seed=0, device=torch.device("cpu"))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    inputs, references = spec.split_examples(train)
    for step in range(1, 81):
        model.train()  # (the pipeline puts it in eval mode)
        loss = task.training_step([0, 1, 2, 3]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0 and spec.pipeline(model, tokenizer).predict(inputs) == references:
            break
    predictions = spec.pipeline(model, tokenizer).predict(inputs)
    assert predictions == references and spec.metric(predictions, references)[spec.metric_name] == spec.metric_best, (step, predictions)
