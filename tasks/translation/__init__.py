"""Translation plug-in: the core's attention encoder-decoder on LM-initialised backbones, sacreBLEU scores, CLI.

Importing this package is cheap: torch and sacrebleu load only when a command or model runs.
"""

from __future__ import annotations

from nlp_apps.registry import TaskSpec
from tasks.translation.cli import translation as _cli
from tasks.translation.head_config import TranslatorConfig

__all__ = ["TASK", "Translator", "TranslatorConfig", "build_head", "load"]


def build_head(backbone, config: TranslatorConfig, examples=()):
    from tasks.translation.head import build_head as build

    return build(backbone, config, examples)


def _read_dataset(path, **options):
    from tasks.translation.adapter import read_dataset

    return read_dataset(path, **options)


def _split_examples(pairs):
    return [p.source for p in pairs], [p.target for p in pairs]


def _metric(predictions, references):
    from tasks.translation.metric import translation_metrics

    return translation_metrics(predictions, [references])


def _save(model, tokenizer, directory):
    from tasks.translation.pipeline import save_translator

    save_translator(model, tokenizer, tokenizer, directory)


def _pipeline(model, tokenizer):
    from tasks.translation.pipeline import TranslationPipeline

    return TranslationPipeline(model, tokenizer, tokenizer)


def demo_files() -> dict:
    from importlib import resources

    folder = resources.files("tasks.translation").joinpath("demo")
    return {"train": str(folder.joinpath("train.tsv")), "valid": str(folder.joinpath("valid.tsv"))}


def load(path, device: str = "cpu"):
    from tasks.translation.pipeline import load as load_pipeline

    return load_pipeline(path, device)


def __getattr__(name):
    if name == "Translator":
        from tasks.translation.head import Translator

        return Translator
    raise AttributeError(f"module 'tasks.translation' has no attribute {name!r}")


TASK = TaskSpec(
    name="translation",
    description="translation: attention encoder-decoder on LM-initialised backbones, sacreBLEU",
    cli=_cli,
    head_config=TranslatorConfig,
    build_head=build_head,
    read_dataset=_read_dataset,
    split_examples=_split_examples,
    metric=_metric,
    metric_name="bleu",
    metric_best=100.0,
    save=_save,
    pipeline=_pipeline,
    load=load,
    demo_data=demo_files,
)
