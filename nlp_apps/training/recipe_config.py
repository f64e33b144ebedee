"""The fine-tuning recipe's settings (torch-free: the CLI builds its options from them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nlp_apps.configs import config_from_dict


@dataclass
class RecipeConfig:
    """The ULMFiT steps, each on by default."""

    lm_finetune: bool = True
    lm_epochs: int = 1
    lm_lr: float = 1e-3
    lm_time_budget: float | None = None  # seconds for the LM fine-tuning stage
    lm_budget_share: float = 1 / 6  # without lm_time_budget: this share of the run's --time-budget (SST-2: 1/6 > 1/3)
    discriminative_lr: bool = True
    lr_decay: float = 2.6  # each layer down gets lr / 2.6 (ULMFiT)
    gradual_unfreezing: bool = True  # the head trains first; the layers below join one by one
    unfreeze_span: float = 0.1  # fraction of training after which every layer trains
    unfreeze_steps: int | None = None  # ... or after this many steps, if that comes sooner
    batch_size: int = 32
    backbone_dropout: float = 0.2  # locked dropout inside the backbone while fine-tuning
    pretrained: bool = True  # False: same architecture, random weights (an ablation)

    def __post_init__(self) -> None:
        if not 0.0 <= self.backbone_dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.backbone_dropout}")
        if not 0.0 < self.unfreeze_span <= 1.0:
            raise ValueError(f"the unfreezing span must be in (0, 1], got {self.unfreeze_span}")
        if not 0.0 < self.lm_budget_share < 1.0:
            raise ValueError(f"the LM stage's share of the budget must be in (0, 1), got {self.lm_budget_share}")
        if self.unfreeze_steps is not None and self.unfreeze_steps < 1:
            raise ValueError(f"the unfreezing steps must be at least 1, got {self.unfreeze_steps}")
        if self.batch_size < 1 or self.lm_epochs < 1:
            raise ValueError("batch size and LM epochs must be at least 1")
        if self.lr_decay < 1.0:
            raise ValueError(f"lr_decay must be at least 1, got {self.lr_decay}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> RecipeConfig:
        return config_from_dict(cls, values, source=source)
