"""Extractive question answering plug-in (SQuAD v1.1 / v2.0): a span extractor with question-passage
attention on the shared backbone, the official EM/F1 definitions, CLI.

Importing this package is cheap: torch loads only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import lazy_attributes, package_spec
from tasks.qa.cli import EVALUATION, PREDICTION, TRAINING
from tasks.qa.cli import qa as _cli
from tasks.qa.head_config import HeadConfig

__all__ = ["TASK", "HeadConfig", "SpanExtractor", "build_head", "demo_files", "load"]

TASK = package_spec(
    "tasks.qa",
    "extractive question answering (SQuAD v1.1/v2.0): span pointers with attention, official EM/F1",
    cli=_cli, head_config=HeadConfig, training=TRAINING, evaluation=EVALUATION, prediction=PREDICTION, demo_data=("demo/train.json", "demo/valid.json"),
    metric="squad_metrics", metric_name="f1", metric_best=100.0, save="save_qa", pipeline="QAPipeline",
)
build_head, load, demo_files = TASK.build_head, TASK.load, TASK.demo_data
__getattr__ = lazy_attributes(__name__, SpanExtractor="tasks.qa.head:SpanExtractor")
