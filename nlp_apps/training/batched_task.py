"""A base for fine-tuning tasks whose epoch is a shuffled list of batches of example indices.

It holds what every such task gives the Trainer the same way (see `trainer.TrainingTask`): the epoch's
remaining batches (`start_epoch` / `next_batch`), that position for `--resume` (`state_dict`), the
data files the manifest hashes, and this process's share of a global batch under torchrun. A task
subclasses it and writes what is its own: `epoch_batches`, `param_groups`, `training_step`,
`evaluate` and `save`, plus the `metric`, `metric_mode` and `unit` attributes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from nlp_apps.training import distributed
from nlp_apps.training.trainer import StepOutput


class BatchedTask:
    def __init__(self, *, train_size: int, batch_size: int, seed: int = 0, device: torch.device = torch.device("cpu"),
                 data_files: Sequence[str] = ()):
        """train_size: the number of training items (examples, features) an epoch covers."""
        self.train_size, self.batch_size, self.seed, self.device = train_size, batch_size, seed, device
        self._data_files = list(data_files)
        self.pending: list[list[int]] = []

    def epoch_batches(self, rng: np.random.Generator) -> list[list[int]]:
        """The batches of one epoch, in training order; `rng` is seeded by the run's seed and the epoch."""
        raise NotImplementedError

    def steps_per_epoch(self) -> int:
        return math.ceil(self.train_size / self.batch_size)

    def start_epoch(self, epoch: int) -> None:
        self.pending = [list(b) for b in self.epoch_batches(np.random.default_rng(self.seed + epoch))]

    def next_batch(self) -> list[int] | None:
        return self.pending.pop(0) if self.pending else None

    def local_share(self, batch: list[int]) -> list[int]:
        """This process's part of the global batch under torchrun (all of it otherwise); may be empty."""
        return batch[distributed.shard(len(batch))]

    def empty_step(self) -> StepOutput:
        """The step of a process whose share of the batch is empty: no loss of its own (units=0); the Trainer
        still takes it through the gradient reduction, with a zero loss over the trained parameters."""
        return StepOutput(loss=torch.zeros((), device=self.device), units=0)

    def state_dict(self) -> dict:
        return {"pending": self.pending}

    def load_state_dict(self, state: dict) -> None:
        self.pending = [list(b) for b in state["pending"]]

    def data_files(self) -> list[str]:
        return self._data_files
