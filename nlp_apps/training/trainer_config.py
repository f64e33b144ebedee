"""The Trainer's settings (no torch here, so the CLI can show their defaults without loading it)."""

from __future__ import annotations

from dataclasses import dataclass

from nlp_apps.configs import config_from_dict, config_to_dict
from nlp_apps.training.schedules import SCHEDULES

OPTIMIZERS = ("adamw", "sgd")


@dataclass
class TrainerConfig:
    epochs: int = 10
    max_steps: int | None = None
    time_budget: float | None = None  # seconds, across resumes
    lr: float = 3e-3  # peak learning rate of the top parameter group
    optimizer: str = "adamw"  # adamw | sgd
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)  # adamw
    momentum: float = 0.0  # sgd
    schedule: str = "cosine"  # constant | linear | cosine | slanted_triangular
    warmup: float = 0.0  # fraction of training spent warming up (not for slanted_triangular, which rises for 0.1)
    warmup_steps: int | None = None  # at most this many steps of warm-up (the slanted triangle's rise included)
    clip: float = 0.25  # max gradient norm; 0 turns clipping off
    average_decay: float | None = None  # validate and keep an exponential moving average of the weights; None: off
    patience: int | None = 3  # evaluations without improvement before stopping; None: never stop early
    eval_every: int | None = None  # steps between evaluations; None: at the end of each epoch
    checkpoint_every: float = 600.0  # seconds between saves of last/
    log_every: int = 100  # steps between training rows in log.csv
    precision: str = "auto"  # auto | fp32 | bf16 (autocast); auto probes the hardware (nlp_apps.precision)
    seed: int = 0
    keep_last: bool = True  # keep OUT/last (resumable state) when the run ends; an interrupted run always keeps it
    progress: bool | None = None  # None: a progress bar when stderr is a terminal, plain lines otherwise

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"unknown precision {self.precision!r}; choose auto, fp32 or bf16")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be at least 0, got {self.warmup_steps}")
        if self.average_decay is not None and not 0.0 < self.average_decay < 1.0:
            raise ValueError(f"average_decay must lie between 0 and 1, got {self.average_decay}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError(f"time_budget must be positive, got {self.time_budget}")

    def to_dict(self) -> dict:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> TrainerConfig:
        return config_from_dict(cls, values, source=source)


def parse_duration(text: str) -> float:
    """'90' or '90s' -> 90.0, '30m' -> 1800.0, '1.5h' -> 5400.0."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise ValueError(f"cannot read duration {text!r}; use e.g. 90s, 30m or 1.5h") from None
