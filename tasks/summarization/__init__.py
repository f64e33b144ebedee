"""Summarization plug-in: a pointer-generator with coverage on the core's encoder-decoder, ROUGE via rouge-score.

Importing this package is cheap: torch and rouge-score load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import TaskSpec
from tasks.summarization.cli import summarization as _cli
from tasks.summarization.head_config import SummarizerConfig

__all__ = ["TASK", "Summarizer", "SummarizerConfig", "build_head", "load"]


def build_head(backbone, config: SummarizerConfig, examples=()):
    from tasks.summarization.head import build_head as build

    return build(backbone, config, examples)


def _read_dataset(path, **options):
    from tasks.summarization.adapter import read_dataset

    return read_dataset(path, **options)


def _split_examples(documents):
    return [d.text for d in documents], [d.references for d in documents]


def _metric(predictions, references):
    from tasks.summarization.metric import rouge_scores

    references = [[r] if isinstance(r, str) else list(r) for r in references]
    if predictions and not isinstance(predictions[0], str):  # perfect predictions given as reference sets
        predictions = [p[0] for p in predictions]
    return rouge_scores(predictions, references, confidence=False)


def _save(model, tokenizer, directory):
    from tasks.summarization.pipeline import save_summarizer

    save_summarizer(model, tokenizer, directory)


def _pipeline(model, tokenizer):
    from tasks.summarization.pipeline import SummarizationPipeline

    return SummarizationPipeline(model, tokenizer)


def demo_files() -> dict:
    from importlib import resources

    folder = resources.files("tasks.summarization").joinpath("demo")
    return {"train": str(folder.joinpath("train.jsonl")), "valid": str(folder.joinpath("valid.jsonl"))}


def load(path, device: str = "cpu"):
    from tasks.summarization.pipeline import load as load_pipeline

    return load_pipeline(path, device)


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
    read_dataset=_read_dataset,
    split_examples=_split_examples,
    metric=_metric,
    metric_name="rouge",
    metric_best=100.0,
    save=_save,
    pipeline=_pipeline,
    load=load,
    demo_data=demo_files,
)
