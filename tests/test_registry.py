"""Plug-in discovery through a real (fake) installed distribution on sys.path."""

import dataclasses
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nlp_apps import registry
from nlp_apps.cli import cli
from nlp_apps.registry import PluginError, Registry, TaskSpec, get_registry, reset_registry

PLUGIN_MODULE = '''
import dataclasses
import click
from nlp_apps.registry import TaskSpec

@click.group()
def cli():
    """Echo task for tests."""

@cli.command()
def train():
    click.echo("echo-train ran")

@cli.command()
def evaluate():
    pass

@cli.command()
def predict():
    pass

@dataclasses.dataclass
class EchoConfig:
    size: int = 3

TASK = TaskSpec(name="echo", description="repeats its input", cli=cli, head_config=EchoConfig,
                build_head=lambda backbone, config, examples: backbone, read_dataset=lambda path: [],
                split_examples=lambda examples: (examples, examples), metric=lambda p, r: {"acc": 1.0},
                metric_name="acc", metric_best=1.0, save=lambda model, tokenizer, directory: None,
                pipeline=lambda model, tokenizer: None, load=lambda path, device="cpu": None)
NOT_A_SPEC = object()
'''


@pytest.fixture
def installed_plugins(tmp_path, monkeypatch):
    (tmp_path / "echoplug.py").write_text(PLUGIN_MODULE)
    (tmp_path / "brokenplug.py").write_text("raise ImportError('a dependency of brokenplug is missing')\n")
    dist = tmp_path / "fake_tasks-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-tasks\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [nlp_apps.tasks]
            echo = echoplug:TASK
            broken = brokenplug:TASK
            notspec = echoplug:NOT_A_SPEC
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(registry.DISABLE_ENV, raising=False)
    reset_registry()
    yield
    reset_registry()
    for name in ("echoplug", "brokenplug"):
        sys.modules.pop(name, None)


def test_plugins_are_discovered_and_broken_ones_recorded(installed_plugins):
    reg = get_registry()
    assert "echo" in reg.names()  # beside the first-party tasks of this distribution
    assert reg.distribution("echo") == "fake-tasks 1.0"
    assert "a dependency of brokenplug is missing" in reg.broken["broken"].error
    assert "expected a nlp_apps.registry.TaskSpec" in reg.broken["notspec"].error
    with pytest.raises(PluginError, match="failed to load"):
        reg.get("broken")
    with pytest.raises(KeyError, match=r"no task named 'nope' \(installed: .*echo"):
        reg.get("nope")


def test_cli_runs_plugin_commands_and_survives_broken_ones(installed_plugins):
    runner = CliRunner()
    assert runner.invoke(cli, ["echo", "train"]).output.strip() == "echo-train ran"
    listing = runner.invoke(cli, ["tasks"])
    assert listing.exit_code == 0
    assert "echo" in listing.output and "ok" in listing.output
    assert "broken" in listing.output and "BROKEN" in listing.output and "ImportError" in listing.output
    broken = runner.invoke(cli, ["broken", "train"])
    assert broken.exit_code == 1 and "failed to load" in broken.output
    assert "echo" in runner.invoke(cli, ["--help"]).output


def test_autoload_switch_and_blocklist(installed_plugins, monkeypatch):
    monkeypatch.setenv(registry.BLOCK_ENV, "echo, broken")
    reset_registry()
    assert "echo" not in get_registry().names() and set(get_registry().broken) == {"notspec"}
    monkeypatch.setenv(registry.DISABLE_ENV, "1")
    reset_registry()
    assert get_registry().names() == [] and not get_registry().broken
    assert "no task plug-ins installed" in CliRunner().invoke(cli, ["tasks"]).output


def make_spec(**changes):
    @click.group()
    def group():
        pass

    for name in ("train", "evaluate", "predict"):
        group.command(name=name)(lambda: None)

    @dataclasses.dataclass
    class Config:
        pass

    values = dict(name="demo_task", description="d", cli=group, head_config=Config, build_head=len, read_dataset=len,
                  split_examples=len, metric=len, metric_name="score", metric_best=1.0, save=len, pipeline=len, load=len)
    values.update(changes)
    return TaskSpec(**values)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"name": "Bad-Name"}, "must match"),
        ({"name": "pretrain"}, "taken by a core command"),
        ({"cli": click.command()(lambda: None)}, "must be a click.Group"),
        ({"head_config": dict}, "must be a dataclass"),
        ({"metric": "accuracy"}, "metric must be callable"),
        ({"save": None}, "save must be callable"),
        ({"metric_best": "high"}, "metric_best a number"),
        ({"demo_data": "demo/"}, "demo_data must be callable or None"),
    ],
)
def test_contract_violations_are_rejected(changes, message):
    with pytest.raises(PluginError, match=message):
        Registry().register(make_spec(**changes))


def test_missing_commands_and_duplicates_are_rejected():
    spec = make_spec()
    del spec.cli.commands["predict"]
    with pytest.raises(PluginError, match="lacks command.*predict"):
        Registry().register(spec)
    reg = Registry()
    reg.register(make_spec(), distribution="a 1")
    with pytest.raises(PluginError, match="registered twice"):
        reg.register(make_spec(), distribution="b 2")
    with pytest.raises(PluginError, match="names must agree"):
        Registry().register(make_spec(), entry_name="other")


def test_importing_the_core_imports_no_task_or_metric_library():
    import subprocess

    code = ("import sys, nlp_apps, nlp_apps.cli, nlp_apps.registry; "
            "bad = [m for m in ('tasks', 'sklearn', 'sacrebleu', 'rouge_score', 'torch') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_evaluate_and_predict_are_built_from_the_spec(tmp_path, monkeypatch):
    """A spec that gives evaluation and prediction gets both commands from the core: TaskEvaluation() reads --data
    with the adapter, scores with the metric and prints JSON; TaskPrediction() answers texts line by line."""
    import json

    from nlp_apps.commands.task_evaluate import TaskEvaluation
    from nlp_apps.commands.task_predict import TaskPrediction

    monkeypatch.setenv("NLP_APPS_THREADS", "1")
    model = SimpleModel()
    spec = make_spec(evaluation=TaskEvaluation(), prediction=TaskPrediction(nothing="no text to shout"), load=lambda model_dir: model,
                     read_dataset=lambda path: Path(path).read_text(encoding="utf-8").splitlines(),
                     split_examples=lambda lines: ([line.lower() for line in lines], lines),
                     metric=lambda predictions, references: {"score": sum(p == r for p, r in zip(predictions, references)) / len(references)})
    for name in ("evaluate", "predict"):
        del spec.cli.commands[name]
    Registry().register(spec)
    assert all(getattr(spec.cli.commands[name], "generated", False) for name in ("evaluate", "predict"))
    data = tmp_path / "data.txt"
    data.write_text("ONE\nTWO\nthree\n", encoding="utf-8")
    scored = CliRunner().invoke(spec.cli, ["evaluate", "--model", str(tmp_path), "--data", str(data)])
    assert scored.exit_code == 0 and json.loads(scored.output) == {"score": 2 / 3}, scored.output
    assert CliRunner().invoke(spec.cli, ["evaluate", "--model", str(tmp_path), "--data", str(data), "--json"]).output == scored.output
    shouted = CliRunner().invoke(spec.cli, ["predict", "--model", str(tmp_path), "-"], input="a\n\nb c\n")
    assert shouted.output == "A\n\nB C\n" and model.calls[-2:] == [["one", "two", "three"], ["a", "b c"]]  # one call, blank lines answered with empty ones
    rows = CliRunner().invoke(spec.cli, ["predict", "--model", str(tmp_path), "--json", "a", " "]).output.splitlines()
    assert [json.loads(row) for row in rows] == [{"text": "a", "prediction": "A"}, {"text": " ", "prediction": None}]
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    empty = CliRunner().invoke(spec.cli, ["predict", "--model", str(tmp_path), "--file", str(tmp_path / "empty.txt")])
    assert empty.exit_code == 2 and "no text to shout" in empty.output


def test_generated_commands_are_checked():
    from nlp_apps.commands.task_evaluate import TaskEvaluation
    from nlp_apps.commands.task_predict import TaskPrediction

    with pytest.raises(PluginError, match="evaluation must be a nlp_apps.commands.task_evaluate.TaskEvaluation"):
        Registry().register(make_spec(evaluation=object()))
    with pytest.raises(PluginError, match="give prediction or a predict command in cli, not both"):
        Registry().register(make_spec(prediction=TaskPrediction()))
    spec = make_spec(evaluation=TaskEvaluation())
    del spec.cli.commands["evaluate"]
    Registry().register(spec)  # not missing: the core builds it
    assert getattr(spec.cli.commands["evaluate"], "generated", False)


class SimpleModel:
    """A stand-in task model: upper-cases its inputs, and records each call."""

    def __init__(self):
        self.calls = []

    def predict(self, texts):
        self.calls.append(list(texts))
        return [text.upper() for text in texts]
