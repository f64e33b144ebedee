"""Sentiment / text classification plug-in: adapters, ULMFiT fine-tuning, scikit-learn metrics, CLI.

Importing this package is cheap: torch and scikit-learn load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import TaskSpec, lazy, package_files
from tasks.sentiment.cli import TRAINING
from tasks.sentiment.cli import sentiment as _cli
from tasks.sentiment.head_config import HeadConfig

__all__ = ["TASK", "HeadConfig", "SentimentClassifier", "build_head", "load"]

build_head = lazy("tasks.sentiment.head:build_head")
load = lazy("tasks.sentiment.pipeline:load")


def __getattr__(name):
    if name == "SentimentClassifier":
        from tasks.sentiment.head import SentimentClassifier

        return SentimentClassifier
    raise AttributeError(f"module 'tasks.sentiment' has no attribute {name!r}")


TASK = TaskSpec(
    name="sentiment",
    description="text classification (sentiment or any label set), ULMFiT fine-tuning",
    cli=_cli,
    head_config=HeadConfig,
    build_head=build_head,
    read_dataset=lazy("tasks.sentiment.adapter:read_dataset"),
    split_examples=lazy("tasks.sentiment.adapter:split_examples"),
    metric=lazy("tasks.sentiment.metric:task_metric"),
    metric_name="accuracy",
    metric_best=1.0,
    save=lazy("tasks.sentiment.pipeline:save_classifier"),
    pipeline=lazy("tasks.sentiment.pipeline:SentimentPipeline"),
    load=load,
    demo_data=package_files("tasks.sentiment", train="demo/train.tsv", valid="demo/valid.tsv"),
    training=TRAINING,
)
