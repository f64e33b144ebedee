"""Sentiment / text classification plug-in: adapters, ULMFiT fine-tuning, scikit-learn metrics, CLI.

Importing this package is cheap: torch and scikit-learn load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import TaskSpec
from tasks.sentiment.cli import sentiment as _cli
from tasks.sentiment.head_config import HeadConfig

__all__ = ["TASK", "HeadConfig", "SentimentClassifier", "load"]


def _build_head(backbone, config):
    from tasks.sentiment.head import SentimentClassifier

    return SentimentClassifier(backbone, config)


def _read_dataset(path, **options):
    from tasks.sentiment.adapter import read_dataset

    return read_dataset(path, **options)


def _metric(predictions, references, labels=None):
    from tasks.sentiment.metric import classification_metrics

    return classification_metrics(references, predictions, labels or sorted(set(references) | set(predictions)))


def load(path, device: str = "cpu"):
    from tasks.sentiment.pipeline import load as load_pipeline

    return load_pipeline(path, device)


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
    build_head=_build_head,
    read_dataset=_read_dataset,
    metric=_metric,
    load=load,
)
