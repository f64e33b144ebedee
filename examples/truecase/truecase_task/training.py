"""What the core's Trainer drives (nlp_apps.training.trainer.TrainingTask) for the tagger: the core's
BatchedTask keeps the epoch's batches and their resume state; this file says what a batch is and how it trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nlp_apps.data.batching import pad_sequences
from nlp_apps.training.batched_task import BatchedTask
from nlp_apps.training.finetune import discriminative_param_groups
from nlp_apps.training.trainer import StepOutput
from truecase_task.data import TAGS, WORD, case_of, truecase_metrics
from truecase_task.model import TruecasePipeline, encode_words, save


class TruecaseTraining(BatchedTask):
    metric, metric_mode, unit = "f1", "max", "ex"

    def __init__(self, model, tokenizer, train, valid, recipe, *, seed: int, device: torch.device, data_files=()):
        super().__init__(train_size=len(train), batch_size=recipe.batch_size, seed=seed, device=device, data_files=data_files)
        self.model, self.tokenizer, self.recipe = model.to(device), tokenizer, recipe
        self.train = [(*encode_words(tokenizer, e.text.lower()), [TAGS.index(case_of(w)) for w in WORD.findall(e.text)])
                      for e in train]  # (ids, first token of each word, tag of each word)
        self.valid = [e.text for e in valid]

    def param_groups(self) -> list[dict]:
        return discriminative_param_groups(self.model.layer_groups(), self.recipe)

    def epoch_batches(self, rng: np.random.Generator) -> list[list[int]]:
        order = rng.permutation(len(self.train)).tolist()
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def training_step(self, batch: list[int]) -> StepOutput:
        batch = self.local_share(batch)  # under torchrun each process trains on its part of the batch
        if not batch:
            return self.empty_step()
        examples = [self.train[i] for i in batch]
        tokens, lengths = pad_sequences([ids for ids, _, _ in examples])
        targets = torch.full(tokens.shape, -100)  # only each word's first token has a target
        for row, (_, firsts, tags) in enumerate(examples):
            targets[row, firsts] = torch.tensor(tags)
        logits = self.model(tokens.to(self.device), lengths)
        return StepOutput(F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten().to(self.device)), units=len(batch))

    def evaluate(self) -> dict[str, float]:
        scores = truecase_metrics(TruecasePipeline(self.model, self.tokenizer).predict(self.valid), self.valid)
        return {"f1": scores["f1"], "accuracy": scores["accuracy"]}

    def save(self, directory: Path, exact: bool = False) -> None:
        save(self.model, self.tokenizer, directory)
