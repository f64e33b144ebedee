"""The summarizer's options: the core's encoder-decoder options with copy on and coverage off (no torch here).

Coverage is off by default since 2026-12-07: on AESLC at 60 minutes, coverage from the first step scored 4.4 ROUGE-L
below no coverage (best of the annotations), and coverage for the last 20% never improved the validation score
(docs/benchmarks.md, AESLC). Subject lines are short, where the repetition coverage prevents is rare."""

from __future__ import annotations

from dataclasses import dataclass

from nlp_apps.seq2seq.config import Seq2SeqConfig


@dataclass
class SummarizerConfig(Seq2SeqConfig):
    input_feeding: bool = False
    copy: bool = True
    coverage: bool = False
