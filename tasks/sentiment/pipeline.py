"""A fine-tuned sentiment model on disk, ready for raw text: `load(dir).predict([...])`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from nlp_apps.data.inputs import text_list
from nlp_apps.io.checkpoint import load_model_tokenizer, load_task_model, read_model_config, save_model
from nlp_apps.precision import inference
from tasks.sentiment.head import SentimentClassifier, ngram_bags, ngram_batch, text_logits
from tasks.sentiment.head_config import HeadConfig


class SentimentPipeline:
    def __init__(self, model: SentimentClassifier, tokenizer, path: Path | None = None):
        self.model, self.tokenizer, self.path = model.eval(), tokenizer, path
        self.labels = model.config.labels

    @property
    def stacked(self) -> bool:
        """Whether the head has a stacked n-gram path (`path_logits` gives each path)."""
        return self.model.stacked

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [ids or [0] for ids in self.tokenizer.encode_batch(list(texts))]

    @torch.no_grad()
    @inference
    def probabilities(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """(N, C) class probabilities, in the order of `texts`."""
        return torch.softmax(text_logits(self.model, self.encode(texts), ngram_bags(self.model.config, texts), batch_size), dim=-1)

    @torch.no_grad()
    @inference
    def path_logits(self, texts: Sequence[str], batch_size: int = 64, rnn_only: bool = False) -> dict[str, torch.Tensor]:
        """A stacked head's (N, C) logits of each path and of their mix, in one pass over the texts:
        {"rnn": the RNN head alone, "ngrams": the n-gram path alone, "stacked": what `probabilities` softmaxes}
        (with `rnn_only`, {"rnn": ...} alone; any head has one)."""
        rnn = text_logits(self.model, self.encode(texts), batch_size=batch_size, rnn_only=True)
        if rnn_only:
            return {"rnn": rnn}
        if not self.model.stacked:
            raise ValueError("path_logits needs a stacked head (trained with --ngram-features --ngram-combine stacked)")
        device = next(self.model.parameters()).device
        bags = ngram_bags(self.model.config, texts)
        ngrams = torch.cat([self.model.ngram_logits(ngram_batch(bags[start:start + 1024], device)).float().cpu()
                            for start in range(0, len(bags), 1024)]) if bags else torch.zeros(0, len(self.labels))
        return {"rnn": rnn, "ngrams": ngrams, "stacked": self.model.mix(rnn, ngrams)}

    def predict(self, texts: Sequence[str] | str, batch_size: int = 64) -> list[dict]:
        """[{"label": ..., "probabilities": {label: p, ...}}, ...] for each text (a string, or a list of strings;
        anything else is a TypeError)."""
        texts, _ = text_list(texts)
        return label_predictions(self.labels, self.probabilities(texts, batch_size))


def label_predictions(labels: Sequence[str], probabilities: torch.Tensor) -> list[dict]:
    """[{"label": the most probable, "probabilities": {label: p, ...}}, ...] for each row of (N, C) `probabilities`."""
    return [{"label": labels[int(row.argmax())], "probabilities": {l: float(p) for l, p in zip(labels, row)}} for row in probabilities]


def save_classifier(model: SentimentClassifier, tokenizer, directory: str | os.PathLike) -> None:
    """A model directory `load` reads: the backbone's config and tokenizer, the head's config, the weights."""
    save_model(directory, model_type="classifier", backbone_config=model.backbone.config, model=model, tokenizer=tokenizer,
               task="sentiment", head=model.config.to_dict())


def load(path: str | os.PathLike, device: str = "cpu"):
    """A SentimentPipeline, or for an ensemble's directory (`sentiment train --ensemble N`) an EnsemblePipeline."""
    config = read_model_config(path)
    if config.get("model_type") == "ensemble" and config.get("task") == "sentiment":
        from tasks.sentiment.ensemble import load_ensemble

        return load_ensemble(Path(path), config.get("head") or {}, device)
    model = load_task_model(path, "sentiment", "a sentiment classifier", HeadConfig, SentimentClassifier, device)
    return SentimentPipeline(model, load_model_tokenizer(path), Path(path))
