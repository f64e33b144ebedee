"""The span extractor's options, stored with the model (kept free of torch so that loading the plug-in stays cheap).

The reading limits live here too: a model reads passages at prediction time the way it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass

from nlp_apps.configs import DictConfig

ATTENTIONS = ("bidaf", "aligned")
WINDOWING = ("sliding", "first")


@dataclass
class HeadConfig(DictConfig):
    attention: str = "bidaf"  # bidaf: attention flow (BiDAF) | aligned: DrQA's aligned question embedding
    hidden_size: int = 128  # per direction, in the modelling and end-pointer BiLSTMs
    dropout: float = 0.2
    question_match: bool = True  # a per-token feature: does this passage token occur in the question (lowercased)?
    max_passage_len: int = 384  # tokens per window
    doc_stride: int = 128  # tokens neighbouring windows share (the overlap)
    windows: str = "sliding"  # sliding: overlapping windows cover the passage | first: only the first window (truncation)
    max_question_len: int = 64  # tokens; a longer question is cut
    max_answer_len: int = 30  # tokens; a span has end - start < max_answer_len
    no_answer: bool = False  # SQuAD v2: answer "" when the null score beats the best span by more than null_threshold
    null_threshold: float = 0.0  # tuned on validation data during training

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {self.attention!r}; choose one of {', '.join(ATTENTIONS)}")
        if self.windows not in WINDOWING:
            raise ValueError(f"unknown windows {self.windows!r}; choose one of {', '.join(WINDOWING)}")
        for name in ("hidden_size", "max_passage_len", "max_question_len", "max_answer_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.doc_stride < self.max_passage_len:
            raise ValueError(f"the doc stride (window overlap) must be in [0, max_passage_len), got {self.doc_stride} "
                             f"with max_passage_len {self.max_passage_len}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
