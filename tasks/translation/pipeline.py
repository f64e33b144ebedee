"""A trained translator on disk, ready for raw text: `load(dir).predict(["Ein Hund läuft."])`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from nlp_apps.data.tokenizer import EOS_ID
from nlp_apps.errors import CheckpointError
from nlp_apps.io.checkpoint import Part, load_parts, load_weights, read_model_config, save_model_dir
from nlp_apps.models.backbone import START_ID, RNNBackbone
from nlp_apps.seq2seq.decoding import NEVER_GENERATED, DecodeConfig, decode_all
from tasks.translation.head import Translator, TranslatorConfig

TASK_NAME = "translation"


class TranslationPipeline:
    def __init__(self, model: Translator, source_tokenizer, target_tokenizer, path: Path | None = None):
        self.model, self.source_tokenizer, self.target_tokenizer, self.path = model.eval(), source_tokenizer, target_tokenizer, path

    @property
    def device(self) -> torch.device:
        return self.model.output_bias.device

    def encode_sources(self, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        ids = [ids or [0] for ids in self.source_tokenizer.encode_batch([t.strip() for t in texts])]
        return [i[:max_length] for i in ids] if max_length else ids

    def predict(self, texts: Sequence[str] | str, beam_size: int = 5, n_best: int = 1, alpha: float = 0.6,
                max_length: int = 100, block_ngram_repeat: int = 0, batch_size: int = 64):
        """Translations of `texts` (a list of strings); with n_best > 1, a list of (translation, score) per text."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        config = DecodeConfig(beam_size=beam_size, n_best=n_best, alpha=alpha, max_length=max_length,
                              block_ngram_repeat=block_ngram_repeat)
        results = decode_all(self.model, self.encode_sources(texts), config, batch_size=batch_size, device=self.device)
        if n_best == 1:
            out = [self.detokenize(hyps[0][1]) for hyps in results]
        else:
            out = [[(self.detokenize(ids), score) for score, ids in hyps] for hyps in results]
        return out[0] if single else out

    def detokenize(self, ids: list[int]) -> str:
        return detokenize(self.target_tokenizer, ids)

    @torch.no_grad()
    def attention(self, text: str, max_length: int = 100) -> tuple[list[str], list[str], torch.Tensor]:
        """(source pieces, target pieces, weights (T, S)) of the greedy translation of one sentence."""
        source = self.encode_sources([text])[0]
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


def detokenize(tokenizer, ids: list[int]) -> str:
    """The text of `ids` on one line (a line break that byte pieces may spell becomes a space)."""
    return " ".join(tokenizer.decode(ids).splitlines()).strip()


def save_translator(model: Translator, source_tokenizer, target_tokenizer, directory: str | os.PathLike, weights_dtype=None) -> None:
    save_model_dir(directory, model, {"encoder": Part(model.encoder.config, source_tokenizer),
                                      "decoder": Part(model.decoder.config, target_tokenizer)},
                   model_type="seq2seq", task=TASK_NAME, head=model.config.to_dict(), weights_dtype=weights_dtype)


def load(path: str | os.PathLike, device: str = "cpu") -> TranslationPipeline:
    path = Path(path)
    config = read_model_config(path)
    if config.get("task") != TASK_NAME:
        raise CheckpointError(path, f"holds a {config.get('task') or config.get('model_type')!r} model, not a translator")
    parts = load_parts(path)
    try:
        head = TranslatorConfig.from_dict(config.get("head") or {}, source=str(path / "config.json"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path / "config.json", str(exc)) from None
    model = Translator(RNNBackbone(parts["encoder"].backbone), RNNBackbone(parts["decoder"].backbone), head)
    load_weights(path, model, device=device)
    return TranslationPipeline(model, parts["encoder"].tokenizer, parts["decoder"].tokenizer, path)
