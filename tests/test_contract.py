"""The plug-in contract, checked on every task installed through the `nlp_apps.tasks` entry points
(and, through tests/test_example_task.py, on the example task in examples/truecase).

A new task gets these tests for free: its spec validates, every command answers --help, its head
builds on a tiny backbone, its adapter reads its demo data, its metric gives the best score on
perfect predictions, a saved model loads (on the requested device) and predicts the same, the same
model directory gives exactly the same outputs call after call and load after load, and a corrupted
model directory is refused with one line (a CheckpointError).

Training is in the contract (TaskSpec.training builds the task's `train` command), so a task's own train
command must fit four of its demo examples by heart (its metric on them near its best), resume
bit-identically, and run its core-built demo. Translation and summarization memorise through the shared
encoder-decoder in tests/test_seq2seq_v2.py instead: the untrained tiny test LM, used as their decoder
here, starts with output weights too small to learn in seconds.
"""

from __future__ import annotations

import json
import re
import shutil
from importlib import metadata
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from nlp_apps.errors import CheckpointError
from nlp_apps.registry import ENTRY_POINT_GROUP, Registry, validate_spec

ENTRY_POINTS = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
PROJECT_TASKS = {"sentiment", "translation", "summarization", "qa"}
SEQ2SEQ_TASKS = {"translation", "summarization"}


@pytest.fixture(params=ENTRY_POINTS, ids=lambda ep: ep.name, scope="module")
def spec(request):
    spec = validate_spec(request.param.load(), request.param.name)
    Registry().register(spec, entry_name=request.param.name)  # as the CLI does: this adds the core-built train and demo commands
    return spec


def test_the_project_tasks_are_installed(plugins_on):
    """Every first-party task has an entry point and loads into the registry (so every one gets the checks below)."""
    from nlp_apps.registry import get_registry

    registry = get_registry()
    broken = {name: plugin.error.strip().splitlines()[-1] for name, plugin in registry.broken.items() if name in PROJECT_TASKS}
    assert not broken, broken
    assert PROJECT_TASKS <= {ep.name for ep in ENTRY_POINTS}, sorted(PROJECT_TASKS - {ep.name for ep in ENTRY_POINTS})
    assert PROJECT_TASKS <= set(registry.names()), sorted(PROJECT_TASKS - set(registry.names()))


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


def saved_model(spec, backbone_dir, directory):
    """A head built on the tiny backbone and saved to `directory` -> (directory, predict inputs, references) of a few demo examples."""
    from nlp_apps.io.checkpoint import load_backbone, load_model_tokenizer

    train, valid = demo_examples(spec)
    torch.manual_seed(0)
    spec.save(spec.build_head(load_backbone(backbone_dir), spec.head_config(), train), load_model_tokenizer(backbone_dir), directory)
    inputs, references = spec.split_examples(valid[:4])
    return directory, inputs, references


def test_evaluation_is_deterministic_call_after_call_and_load_after_load(spec, tiny_language_model, tmp_path):
    model_dir, inputs, _ = saved_model(spec, tiny_language_model, tmp_path / "model")
    loaded = spec.load(model_dir, device="cpu")
    first, second = loaded.predict(inputs), loaded.predict(inputs)
    reloaded = spec.load(model_dir, device="cpu").predict(inputs)
    # Exactly equal, scores and probabilities included: no dropout left on at inference (the heads' default
    # configs have some), no unseeded sampling, no state carried from one call to the next.
    assert first == second == reloaded


def edit_config(change):
    def edit(model_dir):
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        change(config)
        (model_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")

    return edit


def first_part(config):
    return next(iter(config["parts"].values()))


def truncate_weights(model_dir):
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def cut_config(model_dir):
    config = model_dir / "config.json"
    config.write_text(config.read_text(encoding="utf-8")[:-10], encoding="utf-8")


def remove_tokenizer(model_dir):
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    file = next(part["tokenizer"]["file"] for part in config["parts"].values() if part["tokenizer"])
    (model_dir / file).unlink()


# A corruption of a saved model directory, and what the one-line refusal must say.
CORRUPTIONS = {
    "truncated-weights": (truncate_weights, r"model\.safetensors: cannot read weights"),
    "config-not-json": (cut_config, r"config\.json: invalid JSON"),
    "config-size-a-string": (edit_config(lambda c: first_part(c)["backbone"].update(hidden_size="20")),
                             r'config\.json: backbone hidden_size must be an integer, got a string \("20"\)'),
    "config-flag-a-string": (edit_config(lambda c: first_part(c)["backbone"].update(tie_weights="no")),
                             r"config\.json: backbone tie_weights must be a boolean"),
    "config-head-a-list": (edit_config(lambda c: c.update(head=[])), r'config\.json: "head" must be a JSON object or null, got a list'),
    "config-task-a-number": (edit_config(lambda c: c.update(task=5)), r'config\.json: "task" must be a string or null, got a number'),
    "missing-tokenizer": (remove_tokenizer, r"tokenizer file \S+ is missing"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corrupted_model_directory_is_refused_in_one_line(spec, tiny_language_model, tmp_path, plugins_on, corruption):
    import nlp_apps

    corrupt, message = CORRUPTIONS[corruption]
    model_dir, _, _ = saved_model(spec, tiny_language_model, tmp_path / "model")
    corrupt(model_dir)
    for load in (spec.load, nlp_apps.load):
        with pytest.raises(CheckpointError) as refused:
            load(model_dir, device="cpu")
        assert "\n" not in str(refused.value) and re.search(message, str(refused.value)), (load, str(refused.value))


def test_nlp_apps_demo_runs_each_task_demo(tiny_language_model, tmp_path, plugins_on, monkeypatch):
    from nlp_apps.cli import cli

    monkeypatch.chdir(tmp_path)  # task demos write under runs/
    result = CliRunner().invoke(cli, ["demo", "--task", "sentiment", "--backbone", str(tiny_language_model)])
    assert result.exit_code == 0, result.output
    assert "=== sentiment" in result.output and "=== language model" not in result.output
    assert "accuracy" in result.output
    refused = CliRunner().invoke(cli, ["demo", "--task", "nope"])
    assert refused.exit_code == 2 and "no installed task named nope" in refused.output


def test_nlp_apps_evaluate_scores_a_model_with_its_task_metric(spec, tiny_language_model, tmp_path, plugins_on):
    import nlp_apps

    model_dir, _, _ = saved_model(spec, tiny_language_model, tmp_path / "model")
    valid = spec.demo_data()["valid"]
    inputs, references = spec.split_examples(list(spec.read_dataset(valid)))
    expected = spec.metric(spec.load(model_dir).predict(inputs), references)  # the metric takes what predict returns
    scores = nlp_apps.evaluate(model_dir, valid, precision="fp32")
    assert scores[spec.metric_name] == pytest.approx(expected[spec.metric_name])
    assert scores["task"] == spec.name and scores["examples"] == len(inputs) > 0


def test_nlp_apps_evaluate_refuses_a_language_model_and_an_unknown_task_in_one_line(tiny_language_model, tmp_path, plugins_on):
    import nlp_apps
    from nlp_apps.errors import CheckpointError, NlpAppsError

    with pytest.raises(CheckpointError, match="holds a language model"):
        nlp_apps.evaluate(tiny_language_model, tmp_path / "any.tsv")
    model = tmp_path / "model"
    shutil.copytree(tiny_language_model, model)
    edit_config(lambda config: config.update(task="no_such_task"))(model)
    with pytest.raises(NlpAppsError, match=r"no task named 'no_such_task' \(installed: .*\); install its plug-in"):
        nlp_apps.load(model)


def test_a_core_built_demo_trains_scores_and_predicts(spec, tiny_language_model, tmp_path, plugins_on):
    if spec.training is None or spec.training.demo is None:
        pytest.skip(f"{spec.name} brings its own demo")
    from nlp_apps.cli import cli

    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, [spec.name, "demo", "--out", str(out), "--backbone", str(tiny_language_model), "--time-budget", "1s"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run_config.json").read_text())["trainer"]["time_budget"] == 1.0
    scores = result.output.split("== evaluating on ")[1].splitlines()[1]
    assert re.match(rf"{spec.metric_name} [-\d.e]+", scores), scores  # the headline score first
    predictions = result.output.split("== predicting\n")[1].strip().splitlines()
    assert len(predictions) >= len(spec.training.demo.examples)


def test_an_interrupted_run_resumes_to_the_same_weights_as_one_never_interrupted(spec, tiny_language_model, tmp_path, plugins_on, monkeypatch):
    if spec.training is None or spec.demo_data is None:
        pytest.skip(f"{spec.name} brings its own train command")
    from safetensors.torch import load_file

    from nlp_apps.cli import cli
    from nlp_apps.training.trainer import Trainer
    from tests.test_trainer import InterruptAt

    files, backbone = spec.demo_data(), (spec.training.demo.backbone if spec.training.demo else "backbone").replace("_", "-")
    # The small demo validation set for both, batches of 4 (6 steps need few examples); no LM stage where the task has one (kept short).
    no_lm = ["--no-lm-finetune"] if any(p.name == "lm_finetune" for p in spec.cli.commands["train"].params) else []
    common = ["--train", files["valid"], "--valid", files["valid"], f"--{backbone}", str(tiny_language_model), "--max-steps", "6",
              "--eval-every", "3", "--batch-size", "4", "--no-progress", "--seed", "1", *no_lm, *small_head(spec)]
    whole = CliRunner().invoke(cli, [spec.name, "train", *common, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output

    fit = Trainer.fit

    def stopped_by_sigterm_after_step_4(self, *args, **kwargs):  # as Ctrl-C or SIGTERM would (in whichever stage runs step 4)
        self.callbacks.append(InterruptAt(4, use_signal=True))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", stopped_by_sigterm_after_step_4)
    out = tmp_path / "run"
    first = CliRunner().invoke(cli, [spec.name, "train", *common, "--out", str(out)])
    assert first.exit_code == 130 and "interrupted after 4 steps" in first.output, first.output
    monkeypatch.setattr(Trainer, "fit", fit)
    resumed = CliRunner().invoke(cli, [spec.name, "train", "--resume", str(out), "--json"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])  # --json: the last line as one object
    assert (summary["status"], summary["steps"], summary["model_dir"]) == ("max_steps", 6, str(out)), summary
    assert summary["best_metric"] is not None and summary["resume_command"] is None
    ours, theirs = load_file(out / "last" / "model.safetensors"), load_file(tmp_path / "whole" / "last" / "model.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[name], theirs[name]) for name in theirs)


def first_examples(path, target, count: int):
    """`count` examples of a demo file, written in the file's own format (SQuAD JSON: the first article's
    first questions, paragraph by paragraph; a line format: the header, if any, and lines spread evenly over the file, so that a
    file sorted by label gives more than one)."""
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        article, left = data["data"][0], count
        paragraphs = []
        for paragraph in article["paragraphs"]:
            if left > 0:
                paragraphs.append({**paragraph, "qas": paragraph["qas"][:left]})
                left -= len(paragraphs[-1]["qas"])
        data["data"] = [{**article, "paragraphs": paragraphs}]
        target.write_text(json.dumps(data), encoding="utf-8")
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = lines[:1] if path.suffix in (".tsv", ".csv") else []
        body = lines[len(header):]
        target.write_text("\n".join(header + body[:: len(body) // count][:count]) + "\n", encoding="utf-8")
    return target


def test_training_fits_a_few_examples_by_heart(spec, tiny_language_model, tmp_path, plugins_on):
    """The task's own train command, with its loss, head and data path, drives the task's metric on four
    training examples to (nearly) its best: a model that cannot overfit four examples has a broken wire."""
    if spec.training is None or spec.demo_data is None:
        pytest.skip(f"{spec.name} brings its own train command")
    if spec.name in SEQ2SEQ_TASKS:
        pytest.skip("checked in tests/test_seq2seq_v2.py: the untrained tiny test LM, as a decoder, starts too small to memorise in seconds")
    import nlp_apps
    from nlp_apps.cli import cli

    train = Path(spec.demo_data()["train"])
    few = first_examples(train, tmp_path / f"few{train.suffix}", 4)
    params = {p.name for p in spec.cli.commands["train"].params}
    # Nothing that fights memorising: no LM stage, every layer at one rate from the start, no dropout or label smoothing.
    fast = [flag for name, flag in (("lm_finetune", "--no-lm-finetune"), ("gradual_unfreezing", "--no-gradual-unfreezing"),
                                    ("discriminative_lr", "--no-discriminative-lr"), ("backbone_dropout", "--dropout=0"),
                                    ("label_smoothing", "--label-smoothing=0")) if name in params]
    backbone = (spec.training.demo.backbone if spec.training.demo else "backbone").replace("_", "-")
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, [spec.name, "train", "--train", str(few), "--valid", str(few), f"--{backbone}", str(tiny_language_model),
                                      "--out", str(out), "--max-steps", "60", "--epochs", "1000", "--eval-every", "60", "--batch-size", "4", "--lr", "1e-2",
                                      "--schedule", "constant", "--warmup", "0", "--no-progress", "--seed", "0", *fast])
    assert result.exit_code == 0, result.output
    score = nlp_apps.evaluate(out, few)[spec.metric_name]
    assert score >= 0.95 * spec.metric_best, (spec.name, score, result.output[-2000:])


def small_head(spec) -> list[str]:
    """`--hidden-size 16` where the task's train command sizes its head so (QA's BiLSTMs: 128 by default): these
    checks are about the wiring, and a head that size triples their time."""
    return ["--hidden-size", "16"] if any(p.name == "hidden_size" for p in spec.cli.commands["train"].params) else []


def data_parallel_args(spec, backbone_model: Path, folder: Path) -> list:
    """A short `train` that 2 processes must run exactly as one: 9 examples in batches of 4 (each epoch's last
    batch holds one, so process 1's share of it is empty), the task's default recipe (LM fine-tuning where the
    task has it, gradual unfreezing), evaluation every 3 steps; no dropout (each process would draw its own masks)."""
    folder.mkdir(parents=True, exist_ok=True)
    train = Path(spec.demo_data()["train"])
    few = first_examples(train, folder / f"few{train.suffix}", 9)
    params = {p.name for p in spec.cli.commands["train"].params}
    backbone = (spec.training.demo.backbone if spec.training.demo else "backbone").replace("_", "-")
    stages = [flag for name, flag in (("lm_finetune", "--lm-finetune"), ("gradual_unfreezing", "--gradual-unfreezing")) if name in params]
    no_dropout = ["--dropout=0"] if "backbone_dropout" in params else []
    return ["--train", few, "--valid", few, f"--{backbone}", backbone_model, "--max-steps", 6, "--epochs", 100, "--eval-every", 3,
            "--batch-size", 4, "--no-progress", "--seed", 2, *stages, *no_dropout, *small_head(spec)]


def assert_same_weights_up_to_float_noise(one: dict, two: dict) -> None:
    """Summing two half-batch gradients differs from one whole-batch sum in the last bits. Adam's first
    step on a group that gradual unfreezing just let in moves each weight by about +-lr whatever its
    gradient's size, so a weight whose gradient is float noise can land a few 1e-6 apart (measured on
    a 16x24 backbone: 1 of 23,384 weights, 4e-6 to 1e-5, 0 without unfreezing; on tiny_language_model
    with LM fine-tuning: 0 of 16,200, at most 1.6e-6). Allow that for a handful of weights; a missing
    or wrong gradient exchange moves thousands by far more."""
    assert one.keys() == two.keys()
    diffs = torch.cat([(one[name] - two[name]).abs().flatten() for name in one])
    scale = torch.cat([one[name].abs().flatten() for name in one])
    off = int((diffs > 1e-6 + 1e-5 * scale).sum())
    assert off <= max(2, diffs.numel() // 2000), f"{off} of {diffs.numel()} weights differ"
    assert float(diffs.max()) < 1e-4


def test_two_processes_train_the_same_model_as_one(spec, data_parallel_runs, tmp_path, plugins_on):
    """The task's own `train` under torchrun (2 processes, one launch for every task: see conftest) makes the
    same updates as in one process, through every stage of its recipe, with one report from process 0."""
    if spec.training is None or spec.demo_data is None:
        pytest.skip(f"{spec.name} brings its own train command")
    from safetensors.torch import load_file

    from nlp_apps.cli import cli

    run = data_parallel_runs[spec.name]
    assert run["code"] == 0, run["output"][-3000:]
    one = CliRunner().invoke(cli, [spec.name, "train", *map(str, run["args"]), "--out", str(tmp_path / "one")])
    assert one.exit_code == 0, one.output
    two = run["out"]
    for stage in ("lm_finetuned", "."):  # the LM stage, where the task has one, then the task
        if not (tmp_path / "one" / stage).is_dir():
            continue
        mine, theirs = (json.loads((run_dir / stage / "metrics.json").read_text()) for run_dir in (tmp_path / "one", two))
        counts = {key for key in theirs if key == "steps" or key.endswith("_trained")}
        assert {key: mine[key] for key in counts} == {key: theirs[key] for key in counts}, stage
    assert json.loads((two / "metrics.json").read_text())["steps"] == 6
    assert_same_weights_up_to_float_noise(load_file(tmp_path / "one" / "last" / "model.safetensors"), load_file(two / "last" / "model.safetensors"))
    assert (two / "model.safetensors").is_file()
    report = one.output.strip().splitlines()[-1]  # e.g. "best accuracy 0.5, ...; model in DIR"
    assert report.split(";")[0] in run["output"] and report.split(";")[0] not in run["output_rank1"]  # process 0 reports, once


def test_a_batch_too_small_to_share_out_is_refused_before_anything_is_written(spec, data_parallel_runs):
    if spec.training is None or spec.demo_data is None:
        pytest.skip(f"{spec.name} brings its own train command")
    run = data_parallel_runs[spec.name]
    assert run["refused"]["code"] != 0 and "batch size 1 is smaller than the 2 processes" in run["refused"]["output"], run["refused"]
    assert not run["refused_out"].exists()
