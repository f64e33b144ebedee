"""Training an encoder-decoder with the core Trainer: the task that translation and summarization share.

Batches are (source, target) pairs bucketed by length; the loss is label-smoothed cross-entropy
per target token; validation decodes the validation sources (greedy, so evaluation stays cheap)
and scores them with the task's metric, whose headline score drives early stopping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from nlp_apps.data.batching import pad_sequences
from nlp_apps.data.tokenizer import EOS_ID
from nlp_apps.data.windows import bucket_pair_batches
from nlp_apps.seq2seq.decoding import DecodeConfig, decode_all
from nlp_apps.training import distributed
from nlp_apps.training.trainer import StepOutput


class Seq2SeqTask:
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
        self.model, self.device, self.seed = model.to(device), device, seed
        self.sources = [s for s, _ in train_pairs]
        self.targets = [t + [EOS_ID] for _, t in train_pairs]
        self.valid_sources = list(valid_sources)
        self._evaluate, self._save, self._groups = evaluate, save, param_groups
        self.metric, self.metric_mode = metric, "max"
        self.batch_size, self.max_decode_length = batch_size, max_decode_length
        self._data_files = list(data_files)
        self.pending: list[list[int]] = []

    def param_groups(self) -> list[dict]:
        return self._groups

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.sources) / self.batch_size)

    def start_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng(self.seed + epoch)
        self.pending = [list(b) for b in bucket_pair_batches([len(s) for s in self.sources], [len(t) for t in self.targets],
                                                             self.batch_size, shuffle=True, generator=rng)]

    def next_batch(self):
        return self.pending.pop(0) if self.pending else None

    def training_step(self, batch: list[int]) -> StepOutput:
        batch = batch[distributed.shard(len(batch))]  # this process's share (may be empty)
        if not batch:
            return StepOutput(loss=torch.zeros((), device=self.device), units=0)
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

    def state_dict(self) -> dict:
        return {"pending": self.pending}

    def load_state_dict(self, state: dict) -> None:
        self.pending = [list(b) for b in state["pending"]]

    def data_files(self) -> list[str]:
        return self._data_files
