"""The encoder-decoder's options (no torch here, so a plug-in can import them cheaply)."""

from __future__ import annotations

from dataclasses import dataclass

from nlp_apps.configs import DictConfig

ATTENTION_KINDS = ("general", "bahdanau")


@dataclass
class Seq2SeqConfig(DictConfig):
    attention: str = "general"  # general (Luong) | bahdanau
    input_feeding: bool = True  # feed h~_{t-1} into the decoder's next input (Luong)
    label_smoothing: float = 0.1
    dropout: float = 0.2  # on h~ before the output layer
    copy: bool = False  # pointer-generator: mix copying source tokens into the output distribution (See et al. 2017)
    coverage: bool = False  # the attention sees what it covered so far, and repeats are penalised
    coverage_weight: float = 1.0  # lambda of the coverage loss
    # With coverage: the fraction of training (the Trainer's progress: steps or time budget) after which coverage
    # joins, feature and loss (See et al. 2017 added it for a last phase); 0: from the first step.
    coverage_from: float = 0.0

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention {self.attention!r}; choose one of {', '.join(ATTENTION_KINDS)}")
        if not 0.0 <= self.label_smoothing < 1.0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("label_smoothing and dropout must be in [0, 1)")
        if self.coverage_weight < 0:
            raise ValueError(f"coverage_weight must not be negative, got {self.coverage_weight}")
        if not 0.0 <= self.coverage_from < 1.0:
            raise ValueError(f"coverage_from must be in [0, 1), got {self.coverage_from}")
        if self.coverage_from and not self.coverage:
            raise ValueError("coverage_from (a late coverage phase) needs coverage on")
