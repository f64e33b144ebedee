"""Summarization plug-in: a pointer-generator (coverage optional) on the core's encoder-decoder, ROUGE via rouge-score.

Importing this package is cheap: torch and rouge-score load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import lazy_attributes, package_spec
from tasks.summarization.cli import EVALUATION, PREDICTION, TRAINING
from tasks.summarization.cli import summarization as _cli
from tasks.summarization.head_config import SummarizerConfig

__all__ = ["TASK", "Summarizer", "SummarizerConfig", "build_head", "load"]

TASK = package_spec(
    "tasks.summarization",
    "summarization: pointer-generator on the LM backbone, ROUGE (rouge-score)",
    cli=_cli, head_config=SummarizerConfig, training=TRAINING, evaluation=EVALUATION, prediction=PREDICTION, demo_data=("demo/train.jsonl", "demo/valid.jsonl"),
    metric_name="rouge", metric_best=100.0, save="save_summarizer", pipeline="SummarizationPipeline",
)
build_head, load, demo_files = TASK.build_head, TASK.load, TASK.demo_data
__getattr__ = lazy_attributes(__name__, Summarizer="tasks.summarization.head:Summarizer")
