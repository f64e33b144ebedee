"""A trained summarizer on disk, ready for raw text: `load(dir).predict(["Hi Anna, the meeting ..."])`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nlp_apps.errors import CheckpointError
from nlp_apps.io.checkpoint import Part, load_parts, load_weights, read_model_config, save_model_dir
from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.seq2seq.decoding import DecodeConfig, decode_all
from tasks.summarization.head import Summarizer
from tasks.summarization.head_config import SummarizerConfig

TASK_NAME = "summarization"
DEFAULT_MAX_SOURCE_LEN = 400


class SummarizationPipeline:
    def __init__(self, model: Summarizer, tokenizer, path: Path | None = None, max_source_len: int = DEFAULT_MAX_SOURCE_LEN):
        self.model, self.tokenizer, self.path, self.max_source_len = model.eval(), tokenizer, path, max_source_len

    @property
    def device(self):
        return self.model.output_bias.device

    def encode_documents(self, texts: Sequence[str]) -> tuple[list[list[int]], int]:
        """Token ids of each document, cut at max_source_len -> (ids, how many were cut)."""
        ids = [i or [0] for i in self.tokenizer.encode_batch([" ".join(t.split()) for t in texts])]
        cut = sum(len(i) > self.max_source_len for i in ids)
        return [i[: self.max_source_len] for i in ids], cut

    def predict(self, texts: Sequence[str] | str, beam_size: int = 4, n_best: int = 1, alpha: float = 0.0, min_length: int = 1,
                max_length: int = 30, block_ngram_repeat: int = 3, batch_size: int = 32):
        """Summaries of `texts`; with n_best > 1, a list of (summary, score) per text."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        config = DecodeConfig(beam_size=beam_size, n_best=n_best, alpha=alpha, min_length=min_length, max_length=max_length,
                              block_ngram_repeat=block_ngram_repeat)
        results = decode_all(self.model, self.encode_documents(texts)[0], config, batch_size=batch_size, device=self.device)
        if n_best == 1:
            out = [detokenize(self.tokenizer, hyps[0][1]) for hyps in results]
        else:
            out = [[(detokenize(self.tokenizer, ids), score) for score, ids in hyps] for hyps in results]
        return out[0] if single else out


def detokenize(tokenizer, ids: list[int]) -> str:
    """The text of `ids` on one line (a line break that byte pieces may spell becomes a space)."""
    return " ".join(tokenizer.decode(ids).splitlines()).strip()


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
