"""The summarizer's options: the core's encoder-decoder options with copy and coverage on (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass

from nlp_apps.seq2seq.config import Seq2SeqConfig


@dataclass
class SummarizerConfig(Seq2SeqConfig):
    input_feeding: bool = False
    copy: bool = True
    coverage: bool = True
