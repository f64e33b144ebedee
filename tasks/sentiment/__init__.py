"""Sentiment / text classification plug-in: adapters, ULMFiT fine-tuning, scikit-learn metrics, CLI.

Importing this package is cheap: torch and scikit-learn load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import TaskSpec
from tasks.sentiment.cli import sentiment as _cli
from tasks.sentiment.head_config import HeadConfig

__all__ = ["TASK", "HeadConfig", "SentimentClassifier", "build_head", "load"]


def build_head(backbone, config: HeadConfig, examples=()):
    from tasks.sentiment.head import build_head as build

    return build(backbone, config, examples)


def _read_dataset(path, **options):
    from tasks.sentiment.adapter import read_dataset

    return read_dataset(path, **options)


def _split_examples(examples):
    return [e.text for e in examples], [e.label for e in examples]


def _metric(predictions, references, labels=None):
    from tasks.sentiment.metric import classification_metrics

    return classification_metrics(references, predictions, labels or sorted(set(references) | set(predictions)))


def _save(model, tokenizer, directory):
    from tasks.sentiment.pipeline import save_classifier

    save_classifier(model, tokenizer, directory)


def _pipeline(model, tokenizer):
    from tasks.sentiment.pipeline import SentimentPipeline

    return SentimentPipeline(model, tokenizer)


def _demo_data() -> dict:
    from importlib import resources

    folder = resources.files("tasks.sentiment").joinpath("demo")
    return {"train": str(folder.joinpath("train.tsv")), "valid": str(folder.joinpath("valid.tsv"))}


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
    build_head=build_head,
    read_dataset=_read_dataset,
    split_examples=_split_examples,
    metric=_metric,
    metric_name="accuracy",
    metric_best=1.0,
    save=_save,
    pipeline=_pipeline,
    load=load,
    demo_data=_demo_data,
)
