"""Truecasing, an example task plug-in: put the capitals back into lowercased text, word by word.

The entry point names TASK. Only click and the torch-free modules load here; the model code is
imported on first use, so `nlp-apps tasks` (which imports every plug-in) stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from nlp_apps.configs import config_from_dict, config_to_dict
from nlp_apps.registry import TaskSpec
from truecase_task.cli import truecase
from truecase_task.data import read_dataset, truecase_metrics


@dataclass
class HeadConfig:
    dropout: float = 0.1  # on the backbone's features, before the tagging layer

    def to_dict(self) -> dict:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> HeadConfig:
        return config_from_dict(cls, values, source=source)


def _lazy(name: str):
    """truecase_task.model.<name>, imported when first called (the module imports torch)."""
    return lambda *args, **kwargs: getattr(importlib.import_module("truecase_task.model"), name)(*args, **kwargs)


def _demo_data() -> dict:
    folder = Path(__file__).parent / "demo"
    return {"train": str(folder / "train.txt"), "valid": str(folder / "valid.txt")}


TASK = TaskSpec(
    name="truecase",
    description="truecasing: restore the capitals of lowercased text (a per-word tagger), ULMFiT fine-tuning",
    cli=truecase,
    head_config=HeadConfig,
    build_head=_lazy("build_head"),
    read_dataset=read_dataset,
    # inputs: the lowercased sentences; references: the sentences as written (their case is the label)
    split_examples=lambda examples: ([e.text.lower() for e in examples], [e.text for e in examples]),
    metric=truecase_metrics,
    metric_name="f1",
    metric_best=1.0,
    save=_lazy("save"),
    pipeline=_lazy("TruecasePipeline"),
    load=_lazy("load"),
    demo_data=_demo_data,
)
