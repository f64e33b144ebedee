"""Truecasing, an example task plug-in: put the capitals back into lowercased text, word by word.

The entry point names TASK. Only click and the torch-free modules load here; the model code is
imported on first use (`lazy`), so `nlp-apps tasks` (which imports every plug-in) stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from nlp_apps.configs import config_from_dict, config_to_dict
from nlp_apps.registry import TaskSpec, lazy
from truecase_task.cli import DEMO_DATA, EVALUATION, PREDICTION, TRAINING, truecase
from truecase_task.data import read_dataset, truecase_metrics


@dataclass
class HeadConfig:
    dropout: float = 0.1  # on the backbone's features, before the tagging layer (`train --dropout` sets it with the backbone's)

    def to_dict(self) -> dict:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> HeadConfig:
        return config_from_dict(cls, values, source=source)


TASK = TaskSpec(
    name="truecase",
    description="truecasing: restore the capitals of lowercased text (a per-word tagger), ULMFiT fine-tuning",
    cli=truecase,
    head_config=HeadConfig,
    build_head=lazy("truecase_task.model:build_head"),
    read_dataset=read_dataset,
    # inputs: the lowercased sentences; references: the sentences as written (their case is the label)
    split_examples=lambda examples: ([e.text.lower() for e in examples], [e.text for e in examples]),
    metric=truecase_metrics,
    metric_name="f1",
    metric_best=1.0,
    save=lazy("truecase_task.model:save"),
    pipeline=lazy("truecase_task.model:TruecasePipeline"),
    load=lazy("truecase_task.model:load"),
    demo_data=DEMO_DATA,
    training=TRAINING,  # the core builds `nlp-apps truecase train` (and `demo`) from it
    evaluation=EVALUATION,  # ... `evaluate`
    prediction=PREDICTION,  # ... and `predict`
)
