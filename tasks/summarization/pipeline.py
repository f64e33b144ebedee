"""A trained summarizer on disk, ready for raw text: `load(dir).predict(["Hi Anna, the meeting ..."])`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from nlp_apps.errors import CheckpointError
from nlp_apps.io.checkpoint import Part, load_parts, load_weights, read_model_config, save_model_dir
from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.seq2seq.pipeline import TextToTextPipeline, detokenize  # noqa: F401 (detokenize re-exported)
from tasks.summarization.head import Summarizer
from tasks.summarization.head_config import SummarizerConfig

TASK_NAME = "summarization"
DEFAULT_MAX_SOURCE_LEN = 400


class SummarizationPipeline(TextToTextPipeline):
    decode_defaults: ClassVar[dict] = dict(beam_size=4, alpha=0.0, min_length=1, max_length=30, block_ngram_repeat=3)

    def __init__(self, model: Summarizer, tokenizer, path: Path | None = None, max_source_len: int = DEFAULT_MAX_SOURCE_LEN):
        super().__init__(model, tokenizer, tokenizer, path, max_source_len)


def save_summarizer(model: Summarizer, tokenizer, directory: str | os.PathLike, weights_dtype=None) -> None:
    save_model_dir(directory, model, {"encoder": Part(model.encoder.config, tokenizer), "decoder": Part(model.decoder.config, tokenizer)},
                   model_type="seq2seq", task=TASK_NAME, head=model.config.to_dict(), weights_dtype=weights_dtype)


def load(path: str | os.PathLike, device: str = "cpu") -> SummarizationPipeline:
    path = Path(path)
    config = read_model_config(path)
    if config.get("task") != TASK_NAME:
        raise CheckpointError(path, f"holds a {config.get('task') or config.get('model_type')!r} model, not a summarizer")
    parts = load_parts(path)
    try:
        head = SummarizerConfig.from_dict(config.get("head") or {}, source=str(path / "config.json"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path / "config.json", str(exc)) from None
    model = Summarizer(RNNBackbone(parts["encoder"].backbone), RNNBackbone(parts["decoder"].backbone), head)
    load_weights(path, model, device=device)
    return SummarizationPipeline(model, parts["decoder"].tokenizer, path)
