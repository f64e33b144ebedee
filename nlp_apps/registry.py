"""The plug-in contract (TaskSpec) and the registry of installed tasks.

Tasks are found only through the ``nlp_apps.tasks`` entry-point group, lazily and once. Our own
tasks register the same way as a third party's. A plug-in that fails to import or to meet the
contract is recorded with its error and never breaks the CLI. The core never imports a task.

Switches (for hermetic tests and debugging):
    NLP_APPS_DISABLE_PLUGIN_AUTOLOAD=1   load no plug-in at all
    NLP_APPS_BLOCK_PLUGINS=a,b           skip the named plug-ins
"""

from __future__ import annotations

import dataclasses
import os
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from nlp_apps.errors import NlpAppsError

ENTRY_POINT_GROUP = "nlp_apps.tasks"
DISABLE_ENV = "NLP_APPS_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "NLP_APPS_BLOCK_PLUGINS"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
REQUIRED_COMMANDS = ("train", "evaluate", "predict")
RESERVED_NAMES = frozenset({"pretrain", "perplexity", "generate", "tasks", "demo", "serve"})


@dataclass(frozen=True)
class TaskSpec:
    """What a task plug-in exposes (one object, named by its entry point).

    Every field is used: by the task's own commands and by the contract test suite that runs over
    every installed task (tests/test_contract.py), so a new task is checked the same way.

    name            the CLI group name and the `task` field of its model directories
    description     one line for `nlp-apps tasks`
    cli             a click.Group with the task's commands: train, evaluate and predict, each unless the core builds it
                    (training, evaluation, prediction below), and demo, for the project's own tasks
    head_config     a dataclass type with the head's options (to_dict / from_dict)
    build_head      build_head(backbone, config, examples) -> nn.Module that owns the backbone; `examples` are
                    training examples, for what a head takes from the data (a label set)
    read_dataset    the dataset adapter: read_dataset(path, **options) -> examples (raises DataError)
    split_examples  split_examples(examples) -> (inputs for predict, references for metric)
    metric          metric(predictions, references) -> dict of named scores, from the task's standard library
    metric_name     the headline score in that dict; metric_best: its value for perfect predictions
    save            save(model, tokenizer, directory): a model directory that `load` reads
    pipeline        pipeline(model, tokenizer) -> the object `load` returns, from a model in memory
    load            load(model_dir, device="cpu") -> a ready model whose predict(inputs) takes raw inputs
    demo_data       demo_data() -> {"train": path, "valid": path}: the small demo set the task ships (or None)
    training        a nlp_apps.commands.task_train.TaskTraining: the core builds the task's `train` command from it
                    (None: the task's cli brings its own train command)
    evaluation      a nlp_apps.commands.task_evaluate.TaskEvaluation: the core builds `evaluate` from it (None: cli's own)
    prediction      a nlp_apps.commands.task_predict.TaskPrediction: the core builds `predict` from it (None: cli's own)
    """

    name: str
    description: str
    cli: Any
    head_config: type
    build_head: Callable[..., Any]
    read_dataset: Callable[..., Any]
    split_examples: Callable[..., tuple]
    metric: Callable[..., dict]
    metric_name: str
    metric_best: float
    save: Callable[..., None]
    pipeline: Callable[..., Any]
    load: Callable[..., Any]
    demo_data: Callable[[], dict] | None = None
    training: Any = None
    evaluation: Any = None
    prediction: Any = None


def lazy(target: str) -> Callable[..., Any]:
    """A callable standing for "module:attribute", imported on its first call: a plug-in's TaskSpec can
    name its functions without importing torch or its metric library when the CLI starts."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'module:attribute', got {target!r}")

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module_name), attribute)(*args, **kwargs)

    call.__name__ = call.__qualname__ = attribute
    call.__doc__ = f"{target} (imported on first use)"
    return call


def package_files(package: str, **files: str) -> Callable[[], dict]:
    """A TaskSpec.demo_data: {name: path} of data files shipped inside `package` (package-relative)."""

    def paths() -> dict:
        from importlib import resources

        root = resources.files(package)
        return {name: str(root.joinpath(relative)) for name, relative in files.items()}

    return paths


def package_spec(
    package: str,
    description: str,
    *,
    cli: Any,
    head_config: type,
    metric_name: str,
    metric_best: float,
    training: Any = None,
    evaluation: Any = None,
    prediction: Any = None,
    demo_data: tuple[str, str] | None = None,
    metric: str = "task_metric",
    save: str = "save",
    pipeline: str = "pipeline",
) -> TaskSpec:
    """The TaskSpec of a task package laid out the way the project's own tasks are, without importing its
    model code: each function is a `lazy` name in the package's conventional module.

    name            the package's last component ("tasks.qa" -> "qa")
    build_head      <package>.head:build_head
    read_dataset    <package>.adapter:read_dataset
    split_examples  <package>.adapter:split_examples
    metric          <package>.metric:<metric>                       (metric: "task_metric" unless named)
    save, pipeline  <package>.pipeline:<save>, <package>.pipeline:<pipeline>   ("save", "pipeline" unless named)
    load            <package>.pipeline:load
    demo_data       the (train, valid) files shipped in the package, package-relative (package_files), or None
    description, cli, head_config, metric_name, metric_best, training, evaluation and prediction are TaskSpec's own.
    """

    def named(module: str, attribute: str) -> Callable[..., Any]:
        return lazy(f"{package}.{module}:{attribute}")

    return TaskSpec(
        name=package.rpartition(".")[2],
        description=description,
        cli=cli,
        head_config=head_config,
        build_head=named("head", "build_head"),
        read_dataset=named("adapter", "read_dataset"),
        split_examples=named("adapter", "split_examples"),
        metric=named("metric", metric),
        metric_name=metric_name,
        metric_best=metric_best,
        save=named("pipeline", save),
        pipeline=named("pipeline", pipeline),
        load=named("pipeline", "load"),
        demo_data=package_files(package, train=demo_data[0], valid=demo_data[1]) if demo_data else None,
        training=training,
        evaluation=evaluation,
        prediction=prediction,
    )


def lazy_attributes(module: str, **targets: str) -> Callable[[str], Any]:
    """A module's `__getattr__` (PEP 562) that imports each named attribute from its "module:attribute" target on
    first use, e.g. `__getattr__ = lazy_attributes(__name__, Model="my_task.model:Model")`: a plug-in package can
    export its torch classes and still import without torch."""

    def __getattr__(name: str) -> Any:
        if name not in targets:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        import importlib

        target_module, _, attribute = targets[name].partition(":")
        return getattr(importlib.import_module(target_module), attribute)

    return __getattr__


class PluginError(Exception):
    """A plug-in does not meet the TaskSpec contract."""


class UnknownTask(NlpAppsError, KeyError):
    """No installed task has this name (a model directory of a task whose plug-in is not installed)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def validate_spec(spec: Any, entry_name: str | None = None) -> TaskSpec:
    import click

    if not isinstance(spec, TaskSpec):
        raise PluginError(f"expected a nlp_apps.registry.TaskSpec, got {type(spec).__name__}")
    if not NAME_PATTERN.match(spec.name):
        raise PluginError(f"task name {spec.name!r} must match {NAME_PATTERN.pattern}")
    if spec.name in RESERVED_NAMES:
        raise PluginError(f"task name {spec.name!r} is taken by a core command")
    if entry_name is not None and entry_name != spec.name:
        raise PluginError(f"entry point {entry_name!r} exposes a task named {spec.name!r}; the names must agree")
    if not isinstance(spec.cli, click.Group):
        raise PluginError(f"task {spec.name!r}: cli must be a click.Group")
    built = {command: field for command, field, _, _ in _generated(spec) if getattr(spec, field) is not None}
    missing = [c for c in REQUIRED_COMMANDS if c not in spec.cli.commands and c not in built]
    if missing:
        raise PluginError(f"task {spec.name!r}: cli lacks command(s) {', '.join(missing)}")
    if not dataclasses.is_dataclass(spec.head_config):
        raise PluginError(f"task {spec.name!r}: head_config must be a dataclass type")
    for attribute in ("build_head", "read_dataset", "split_examples", "metric", "save", "pipeline", "load"):
        if not callable(getattr(spec, attribute)):
            raise PluginError(f"task {spec.name!r}: {attribute} must be callable")
    for command, field, kind, _ in _generated(spec):
        if command not in built:
            continue
        if not isinstance(getattr(spec, field), kind):
            raise PluginError(f"task {spec.name!r}: {field} must be a {kind.__module__}.{kind.__name__}")
        if command in spec.cli.commands and not getattr(spec.cli.commands[command], "generated", False):
            raise PluginError(f"task {spec.name!r}: give {field} or a {command} command in cli, not both")
    if spec.demo_data is not None and not callable(spec.demo_data):
        raise PluginError(f"task {spec.name!r}: demo_data must be callable or None")
    if not isinstance(spec.metric_name, str) or not isinstance(spec.metric_best, (int, float)):
        raise PluginError(f"task {spec.name!r}: metric_name must be a string and metric_best a number")
    return spec


def _generated(spec: TaskSpec) -> list[tuple[str, str, type, Callable]]:
    """The commands the core builds: (command, the TaskSpec field it is built from, that field's type, build())."""
    from nlp_apps.commands.task_evaluate import TaskEvaluation, evaluate_command
    from nlp_apps.commands.task_predict import TaskPrediction, predict_command
    from nlp_apps.commands.task_train import TaskTraining, train_command

    return [("train", "training", TaskTraining, lambda: train_command(spec.name, spec.training)),
            ("evaluate", "evaluation", TaskEvaluation, lambda: evaluate_command(spec)),
            ("predict", "prediction", TaskPrediction, lambda: predict_command(spec))]


@dataclass
class BrokenPlugin:
    name: str
    distribution: str | None
    error: str  # the formatted traceback


class Registry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}
        self._distributions: dict[str, str | None] = {}
        self.broken: dict[str, BrokenPlugin] = {}

    def register(self, spec: TaskSpec, distribution: str | None = None, entry_name: str | None = None) -> None:
        validate_spec(spec, entry_name)
        for command, field, _, build in _generated(spec):
            if getattr(spec, field) is not None and command not in spec.cli.commands:
                spec.cli.add_command(build())
        if spec.training is not None and spec.training.demo is not None and spec.demo_data is not None and "demo" not in spec.cli.commands:
            from nlp_apps.commands.task_demo import demo_command

            spec.cli.add_command(demo_command(spec.name, spec))
        if spec.name in self._tasks:
            raise PluginError(
                f"task {spec.name!r} is registered twice "
                f"({self._distributions[spec.name] or 'unknown'} and {distribution or 'unknown'})"
            )
        self._tasks[spec.name] = spec
        self._distributions[spec.name] = distribution

    def get(self, name: str) -> TaskSpec:
        if name in self._tasks:
            return self._tasks[name]
        if name in self.broken:
            raise PluginError(f"task {name!r} failed to load:\n{self.broken[name].error}")
        available = ", ".join(sorted(self._tasks)) or "none"
        raise UnknownTask(f"no task named {name!r} (installed: {available}); install its plug-in to use its models")

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def distribution(self, name: str) -> str | None:
        return self._distributions.get(name)


def task_entry_points() -> list[metadata.EntryPoint]:
    """Installed task entry points, without importing them (honours the off switches)."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return []
    blocked = {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}
    seen, points = set(), []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in blocked or ep.name in seen:
            continue  # the same distribution can be visible twice on sys.path
        seen.add(ep.name)
        points.append(ep)
    return sorted(points, key=lambda ep: ep.name)


def _distribution_label(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else None


def load_entry_point(registry: Registry, ep: metadata.EntryPoint) -> None:
    """Import one plug-in into `registry`, recording (not raising) any failure."""
    distribution = _distribution_label(ep)
    try:
        registry.register(ep.load(), distribution=distribution, entry_name=ep.name)
    except Exception:  # any error in third-party code must not take the CLI down
        registry.broken[ep.name] = BrokenPlugin(ep.name, distribution, traceback.format_exc(limit=5))


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The registry of all installed tasks, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        registry = Registry()
        for ep in task_entry_points():
            load_entry_point(registry, ep)
        _REGISTRY = registry
    return _REGISTRY


def reset_registry() -> None:
    """Forget the loaded plug-ins (tests install and remove plug-ins on the fly)."""
    global _REGISTRY
    _REGISTRY = None
