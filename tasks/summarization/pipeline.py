"""A trained summarizer on disk, ready for raw text: `load(dir).predict(["Hi Anna, the meeting ..."])`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from nlp_apps.seq2seq.pipeline import TextToTextPipeline, detokenize, load_seq2seq, save_seq2seq  # noqa: F401 (detokenize re-exported)
from tasks.summarization.defaults import DECODE_DEFAULTS
from tasks.summarization.head import Summarizer
from tasks.summarization.head_config import SummarizerConfig

TASK_NAME = "summarization"
DEFAULT_MAX_SOURCE_LEN = 400


class SummarizationPipeline(TextToTextPipeline):
    decode_defaults: ClassVar[dict] = dict(DECODE_DEFAULTS)

    def __init__(self, model: Summarizer, tokenizer, path: Path | None = None, max_source_len: int = DEFAULT_MAX_SOURCE_LEN):
        super().__init__(model, tokenizer, tokenizer, path, max_source_len)


def save_summarizer(model: Summarizer, tokenizer, directory: str | os.PathLike, weights_dtype=None) -> None:
    save_seq2seq(directory, model, tokenizer, tokenizer, TASK_NAME, weights_dtype)


def load(path: str | os.PathLike, device: str = "cpu") -> SummarizationPipeline:
    model, parts = load_seq2seq(path, TASK_NAME, "a summarizer", SummarizerConfig, Summarizer, device)
    return SummarizationPipeline(model, parts["decoder"].tokenizer, Path(path))
