"""Summarization plug-in: a pointer-generator with coverage on the core's encoder-decoder, ROUGE via rouge-score.

Importing this package is cheap: torch and rouge-score load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import TaskSpec, lazy, package_files
from tasks.summarization.cli import TRAINING
from tasks.summarization.cli import summarization as _cli
from tasks.summarization.head_config import SummarizerConfig

__all__ = ["TASK", "Summarizer", "SummarizerConfig", "build_head", "load"]

build_head = lazy("tasks.summarization.head:build_head")
load = lazy("tasks.summarization.pipeline:load")
demo_files = package_files("tasks.summarization", train="demo/train.jsonl", valid="demo/valid.jsonl")


def __getattr__(name):
    if name == "Summarizer":
        from tasks.summarization.head import Summarizer

        return Summarizer
    raise AttributeError(f"module 'tasks.summarization' has no attribute {name!r}")


TASK = TaskSpec(
    name="summarization",
    description="summarization: pointer-generator with coverage on the LM backbone, ROUGE (rouge-score)",
    cli=_cli,
    head_config=SummarizerConfig,
    build_head=build_head,
    read_dataset=lazy("tasks.summarization.adapter:read_dataset"),
    split_examples=lazy("tasks.summarization.adapter:split_examples"),
    metric=lazy("tasks.summarization.metric:task_metric"),
    metric_name="rouge",
    metric_best=100.0,
    save=lazy("tasks.summarization.pipeline:save_summarizer"),
    pipeline=lazy("tasks.summarization.pipeline:SummarizationPipeline"),
    load=load,
    demo_data=demo_files,
    training=TRAINING,
)
