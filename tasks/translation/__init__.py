"""Translation plug-in: the core's attention encoder-decoder on LM-initialised backbones, sacreBLEU scores, CLI.

Importing this package is cheap: torch and sacrebleu load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import TaskSpec, lazy, package_files
from tasks.translation.cli import TRAINING
from tasks.translation.cli import translation as _cli
from tasks.translation.head_config import TranslatorConfig

__all__ = ["TASK", "Translator", "TranslatorConfig", "build_head", "load"]

build_head = lazy("tasks.translation.head:build_head")
load = lazy("tasks.translation.pipeline:load")
demo_files = package_files("tasks.translation", train="demo/train.tsv", valid="demo/valid.tsv")


def __getattr__(name):
    if name == "Translator":
        from tasks.translation.head import Translator

        return Translator
    raise AttributeError(f"module 'tasks.translation' has no attribute {name!r}")


TASK = TaskSpec(
    name="translation",
    description="translation: attention encoder-decoder on LM-initialised backbones, sacreBLEU",
    cli=_cli,
    head_config=TranslatorConfig,
    build_head=build_head,
    read_dataset=lazy("tasks.translation.adapter:read_dataset"),
    split_examples=lazy("tasks.translation.adapter:split_examples"),
    metric=lazy("tasks.translation.metric:task_metric"),
    metric_name="bleu",
    metric_best=100.0,
    save=lazy("tasks.translation.pipeline:save"),
    pipeline=lazy("tasks.translation.pipeline:pipeline"),
    load=load,
    demo_data=demo_files,
    training=TRAINING,
)
