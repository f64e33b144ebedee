"""Sentiment / text classification plug-in: adapters, ULMFiT fine-tuning, scikit-learn metrics, CLI.

Importing this package is cheap: torch and scikit-learn load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import lazy_attributes, package_spec
from tasks.sentiment.cli import EVALUATION, PREDICTION, TRAINING
from tasks.sentiment.cli import sentiment as _cli
from tasks.sentiment.head_config import HeadConfig

__all__ = ["TASK", "HeadConfig", "SentimentClassifier", "build_head", "load"]

TASK = package_spec(
    "tasks.sentiment",
    "text classification (sentiment or any label set), ULMFiT fine-tuning",
    cli=_cli, head_config=HeadConfig, training=TRAINING, evaluation=EVALUATION, prediction=PREDICTION, demo_data=("demo/train.tsv", "demo/valid.tsv"),
    metric_name="accuracy", metric_best=1.0, save="save_classifier", pipeline="SentimentPipeline",
)
build_head, load = TASK.build_head, TASK.load
__getattr__ = lazy_attributes(__name__, SentimentClassifier="tasks.sentiment.head:SentimentClassifier")
