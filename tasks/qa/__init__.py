"""Extractive question answering plug-in (SQuAD v1.1 / v2.0): a span extractor with question-passage
attention on the shared backbone, the official EM/F1 definitions, CLI.

Importing this package is cheap: torch loads only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import TaskSpec, lazy, package_files
from tasks.qa.cli import TRAINING
from tasks.qa.cli import qa as _cli
from tasks.qa.head_config import HeadConfig

__all__ = ["TASK", "HeadConfig", "SpanExtractor", "build_head", "demo_files", "load"]

build_head = lazy("tasks.qa.head:build_head")
load = lazy("tasks.qa.pipeline:load")
demo_files = package_files("tasks.qa", train="demo/train.json", valid="demo/valid.json")


def __getattr__(name):
    if name == "SpanExtractor":
        from tasks.qa.head import SpanExtractor

        return SpanExtractor
    raise AttributeError(f"module 'tasks.qa' has no attribute {name!r}")


TASK = TaskSpec(
    name="qa",
    description="extractive question answering (SQuAD v1.1/v2.0): span pointers with attention, official EM/F1",
    cli=_cli,
    head_config=HeadConfig,
    build_head=build_head,
    read_dataset=lazy("tasks.qa.adapter:read_dataset"),
    split_examples=lazy("tasks.qa.adapter:split_examples"),
    metric=lazy("tasks.qa.metric:squad_metrics"),
    metric_name="f1",
    metric_best=100.0,
    save=lazy("tasks.qa.pipeline:save_qa"),
    pipeline=lazy("tasks.qa.pipeline:QAPipeline"),
    load=load,
    demo_data=demo_files,
    training=TRAINING,
)
