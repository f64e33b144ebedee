"""Training an encoder-decoder with the core Trainer: the task that translation and summarization share.

Batches are (source, target) pairs bucketed by length; the loss is label-smoothed cross-entropy
per target token; validation decodes the validation sources (greedy, so evaluation stays cheap)
and scores them with the task's metric, whose headline score drives early stopping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from nlp_apps.data.batching import pad_sequences
from nlp_apps.data.tokenizer import EOS_ID
from nlp_apps.data.windows import bucket_pair_batches
from nlp_apps.seq2seq.decoding import DecodeConfig, decode_all
from nlp_apps.training.batched_task import BatchedTask
from nlp_apps.training.trainer import StepOutput


class Seq2SeqTask(BatchedTask):
    unit = "tok"

    def __init__(
        self,
        model,
        train_pairs: Sequence[tuple[list[int], list[int]]],
        valid_sources: Sequence[list[int]],
        *,
        evaluate: Callable[[list[list[int]]], dict[str, float]],
        save: Callable[[Path], None],
        metric: str,
        param_groups: list[dict],
        batch_size: int = 64,
        max_decode_length: int = 100,
        seed: int = 0,
        device: torch.device = torch.device("cpu"),
        data_files: Sequence[str] = (),
    ):
        """train_pairs: (source ids, target ids) without </s>; `evaluate` scores the decoded validation
        outputs (ids, in the order of valid_sources); `save` writes a loadable model directory."""
        super().__init__(train_size=len(train_pairs), batch_size=batch_size, seed=seed, device=device, data_files=data_files)
        self.model = model.to(device)
        self.sources = [s for s, _ in train_pairs]
        self.targets = [t + [EOS_ID] for _, t in train_pairs]
        self.valid_sources = list(valid_sources)
        self._evaluate, self._save, self._groups = evaluate, save, param_groups
        self.metric, self.metric_mode = metric, "max"
        self.max_decode_length = max_decode_length

    def param_groups(self) -> list[dict]:
        return self._groups

    def epoch_batches(self, rng: np.random.Generator) -> list[list[int]]:
        return bucket_pair_batches([len(s) for s in self.sources], [len(t) for t in self.targets], self.batch_size,
                                   shuffle=True, generator=rng)

    def training_step(self, batch: list[int]) -> StepOutput:
        batch = self.local_share(batch)
        if not batch:
            return self.empty_step()
        source, lengths = pad_sequences([self.sources[i] for i in batch])
        targets, _ = pad_sequences([self.targets[i] for i in batch])
        loss, tokens = self.model.loss(source.to(self.device), lengths.to(self.device), targets.to(self.device))
        return StepOutput(loss=loss, units=tokens)

    def evaluate(self) -> dict[str, float]:
        config = DecodeConfig(beam_size=1, max_length=self.max_decode_length)
        outputs = [h[0][1] for h in decode_all(self.model, self.valid_sources, config, device=self.device)]
        return self._evaluate(outputs)

    def save(self, directory: Path, exact: bool = False) -> None:
        self._save(directory)
