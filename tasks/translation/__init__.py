"""Translation plug-in: the core's attention encoder-decoder on LM-initialised backbones, sacreBLEU scores, CLI.

Importing this package is cheap: torch and sacrebleu load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import lazy_attributes, package_spec
from tasks.translation.cli import EVALUATION, PREDICTION, TRAINING
from tasks.translation.cli import translation as _cli
from tasks.translation.head_config import TranslatorConfig

__all__ = ["TASK", "Translator", "TranslatorConfig", "build_head", "load"]

TASK = package_spec(
    "tasks.translation",
    "translation: attention encoder-decoder on LM-initialised backbones, sacreBLEU",
    cli=_cli, head_config=TranslatorConfig, training=TRAINING, evaluation=EVALUATION, prediction=PREDICTION, demo_data=("demo/train.tsv", "demo/valid.tsv"),
    metric_name="bleu", metric_best=100.0,
)
build_head, load, demo_files = TASK.build_head, TASK.load, TASK.demo_data
__getattr__ = lazy_attributes(__name__, Translator="tasks.translation.head:Translator")
