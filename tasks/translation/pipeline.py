"""A trained translator on disk, ready for raw text: `load(dir).predict(["Ein Hund läuft."])`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import torch

from nlp_apps.data.tokenizer import EOS_ID
from nlp_apps.models.backbone import START_ID
from nlp_apps.precision import inference
from nlp_apps.seq2seq.decoding import NEVER_GENERATED
from nlp_apps.seq2seq.pipeline import TextToTextPipeline, detokenize, load_seq2seq, save_seq2seq  # noqa: F401 (detokenize re-exported)
from tasks.translation.head import Translator, TranslatorConfig

TASK_NAME = "translation"


class TranslationPipeline(TextToTextPipeline):
    decode_defaults: ClassVar[dict] = dict(beam_size=5, alpha=0.6, max_length=100)

    def predict(self, texts: Sequence[str] | str, beam_size: int = 5, n_best: int = 1, alpha: float = 0.6,
                max_length: int = 100, block_ngram_repeat: int = 0, batch_size: int = 64):
        """Translations of `texts` (a list of strings); with n_best > 1, a list of (translation, score) per text."""
        return super().predict(texts, batch_size=batch_size, beam_size=beam_size, n_best=n_best, alpha=alpha,
                               max_length=max_length, block_ngram_repeat=block_ngram_repeat)

    @torch.no_grad()
    @inference
    def attention(self, text: str, max_length: int = 100) -> tuple[list[str], list[str], torch.Tensor]:
        """(source pieces, target pieces, weights (T, S)) of the greedy translation of one sentence."""
        source = self.encode_sources([text])[0][0]
        tokens = torch.tensor([source], device=self.device)
        encoded = self.model.encode(tokens, torch.tensor([len(source)], device=self.device))
        state, token, out, rows = self.model.start(encoded), torch.tensor([START_ID], device=self.device), [], []
        for _ in range(max_length):
            log_probs, state, weights = self.model.step(token, state, encoded)
            log_probs[:, list(NEVER_GENERATED)] = float("-inf")
            token = log_probs.argmax(-1)
            rows.append(weights[0].cpu())
            if int(token) == EOS_ID:
                break
            out.append(int(token))
        pieces = [self.target_tokenizer.id_to_piece(i) for i in out] + ["</s>"]
        return [self.source_tokenizer.id_to_piece(i) for i in source], pieces, torch.stack(rows)


def save_translator(model: Translator, source_tokenizer, target_tokenizer, directory: str | os.PathLike, weights_dtype=None) -> None:
    save_seq2seq(directory, model, source_tokenizer, target_tokenizer, TASK_NAME, weights_dtype)


def load(path: str | os.PathLike, device: str = "cpu") -> TranslationPipeline:
    model, parts = load_seq2seq(path, TASK_NAME, "a translator", TranslatorConfig, Translator, device)
    return TranslationPipeline(model, parts["encoder"].tokenizer, parts["decoder"].tokenizer, Path(path))


def save(model: Translator, tokenizer, directory: str | os.PathLike) -> None:
    """The plug-in contract's save: one tokenizer for both sides (or {"encoder": ..., "decoder": ...})."""
    source, target = (tokenizer["encoder"], tokenizer["decoder"]) if isinstance(tokenizer, dict) else (tokenizer, tokenizer)
    save_translator(model, source, target, directory)


def pipeline(model: Translator, tokenizer) -> TranslationPipeline:
    """The plug-in contract's pipeline: one tokenizer for both sides (or {"encoder": ..., "decoder": ...})."""
    source, target = (tokenizer["encoder"], tokenizer["decoder"]) if isinstance(tokenizer, dict) else (tokenizer, tokenizer)
    return TranslationPipeline(model, source, target)
