"""Fine-tuning a sentiment classifier the ULMFiT way, driven by the core Trainer.

1. (optional) fine-tune the language model on the task's own texts, both directions;
2. put the concat-pooling head on the (fine-tuned) backbone;
3. train with discriminative learning rates, a slanted triangular schedule and gradual unfreezing.
Each step can be switched off to measure what it is worth.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nlp_apps.data.batching import bucket_batches, pad_sequences
from nlp_apps.data.fileio import atomic_write_text
from nlp_apps.data.token_files import encode_corpus, open_token_file
from nlp_apps.errors import CheckpointError, DataError, SetupError
from nlp_apps.io.checkpoint import (
    load_backbone,
    load_language_model,
    load_model_tokenizer,
    read_config,
    resolve_model_dir,
    save_model,
)
from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.training import distributed
from nlp_apps.training.pretraining import LanguageModelingTask
from nlp_apps.training.trainer import (
    StepOutput,
    Trainer,
    TrainerConfig,
    TrainResult,
    resolve_device,
    seed_everything,
)
from nlp_apps.training.unfreezing import GradualUnfreezing
from tasks.sentiment.adapter import Example
from tasks.sentiment.defaults import TRAINER_DEFAULTS
from tasks.sentiment.head import SentimentClassifier
from tasks.sentiment.head_config import HeadConfig
from tasks.sentiment.metric import classification_metrics


@dataclass
class RecipeConfig:
    """The ULMFiT steps, each on by default."""

    lm_finetune: bool = True
    lm_epochs: int = 1
    lm_lr: float = 1e-3
    lm_time_budget: float | None = None  # seconds for the LM fine-tuning stage
    lm_budget_share: float = 1 / 6  # without lm_time_budget: this share of the run's --time-budget (SST-2: 1/6 > 1/3)
    discriminative_lr: bool = True
    lr_decay: float = 2.6  # each layer down gets lr / 2.6 (ULMFiT)
    gradual_unfreezing: bool = True  # the head trains first; the layers below join one by one
    unfreeze_span: float = 0.1  # fraction of training after which every layer trains
    batch_size: int = 32
    backbone_dropout: float = 0.2  # locked dropout inside the backbone while fine-tuning
    pretrained: bool = True  # False: same architecture, random weights (an ablation)

    def __post_init__(self) -> None:
        if not 0.0 <= self.backbone_dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.backbone_dropout}")
        if not 0.0 < self.unfreeze_span <= 1.0:
            raise ValueError(f"the unfreezing span must be in (0, 1], got {self.unfreeze_span}")
        if not 0.0 < self.lm_budget_share < 1.0:
            raise ValueError(f"the LM stage's share of the budget must be in (0, 1), got {self.lm_budget_share}")
        if self.batch_size < 1 or self.lm_epochs < 1:
            raise ValueError("batch size and LM epochs must be at least 1")


class ClassificationTask:
    metric = "accuracy"
    metric_mode = "max"
    unit = "ex"

    def __init__(
        self,
        model: SentimentClassifier,
        tokenizer,
        train: Sequence[Example],
        valid: Sequence[Example],
        recipe: RecipeConfig,
        *,
        seed: int = 0,
        device: torch.device = torch.device("cpu"),
        data_files: Sequence[str] = (),
    ):
        self.model, self.tokenizer, self.recipe = model.to(device), tokenizer, recipe
        self.device, self.seed = device, seed
        self.labels = model.config.labels
        index = {label: i for i, label in enumerate(self.labels)}
        self.train_ids = encode_examples(tokenizer, train)
        self.train_targets = [index[e.label] for e in train]
        self.valid_ids = encode_examples(tokenizer, valid)
        self.valid_labels = [e.label for e in valid]
        self._data_files = list(data_files)
        self.groups = model.layer_groups()
        self.pending: list[list[int]] = []

    def param_groups(self) -> list[dict]:
        top = len(self.groups) - 1  # the head learns at the full rate, each group below at / 2.6 more
        decay = self.recipe.lr_decay if self.recipe.discriminative_lr else 1.0
        scales = [decay ** -(top - i) for i in range(len(self.groups))]
        return [{"params": group, "lr_scale": scale} for group, scale in zip(self.groups, scales)]

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_ids) / self.recipe.batch_size)

    def start_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng(self.seed + epoch)
        self.pending = shareable(bucket_batches([len(x) for x in self.train_ids], self.recipe.batch_size, shuffle=True, generator=rng))

    def next_batch(self):
        return self.pending.pop(0) if self.pending else None

    def training_step(self, batch: list[int]) -> StepOutput:
        batch = batch[distributed.shard(len(batch))]  # this process's share of the global batch
        tokens, lengths = pad_sequences([self.train_ids[i] for i in batch])
        targets = torch.tensor([self.train_targets[i] for i in batch], device=self.device)
        logits = self.model(tokens.to(self.device), lengths)
        return StepOutput(loss=F.cross_entropy(logits.float(), targets), units=len(batch))

    @torch.no_grad()
    def predict_ids(self, ids: list[list[int]]) -> list[str]:
        self.model.eval()
        predictions = [""] * len(ids)
        for batch in bucket_batches([len(x) for x in ids], 64, shuffle=False):
            tokens, lengths = pad_sequences([ids[i] for i in batch])
            best = self.model(tokens.to(self.device), lengths).argmax(-1).tolist()
            for i, b in zip(batch, best):
                predictions[i] = self.labels[b]
        return predictions

    def evaluate(self) -> dict[str, float]:
        scores = classification_metrics(self.valid_labels, self.predict_ids(self.valid_ids), self.labels)
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}

    def save(self, directory: Path, exact: bool = False) -> None:
        save_model(directory, model_type="classifier", backbone_config=self.model.backbone.config, model=self.model,
                   tokenizer=self.tokenizer, task="sentiment", head=self.model.config.to_dict())

    def state_dict(self) -> dict:
        return {"pending": self.pending}

    def load_state_dict(self, state: dict) -> None:
        self.pending = shareable(state["pending"])  # saved with fewer processes, it may hold a batch too small

    def data_files(self) -> list[str]:
        return self._data_files


def shareable(batches) -> list[list[int]]:
    """The batches every data-parallel process gets at least one example of (drops a tiny last batch)."""
    return [list(batch) for batch in batches if len(batch) >= distributed.world_size()]


def encode_examples(tokenizer, examples: Sequence[Example]) -> list[list[int]]:
    return [ids or [0] for ids in tokenizer.encode_batch([e.text for e in examples])]


def label_set(train: Sequence[Example], source: str) -> list[str]:
    labels = sorted({e.label for e in train}, key=lambda l: (not l.lstrip("-").isdigit(), int(l) if l.lstrip("-").isdigit() else 0, l))
    if len(labels) < 2:
        raise DataError(source, f"the training set has a single class ({labels[0] if labels else 'none'}); a classifier needs at least two")
    return labels


def check_known_labels(examples: Sequence[Example], labels: Sequence[str]) -> None:
    known = set(labels)
    for example in examples:
        if example.label not in known:
            path, _, line = example.source.rpartition(":")
            raise DataError(path or example.source, f"label {example.label!r} was never seen in training (known: {', '.join(labels)})",
                            line=int(line) if line.isdigit() else None)


LM_DONE_MARKER = ".complete"


def finetune_language_model(backbone_dir, texts: Sequence[str], lm_dir: Path, recipe: RecipeConfig, *, seed: int,
                            device: torch.device, progress: bool, resume: bool = False, log=print) -> TrainResult:
    """Fine-tune the pretrained LM (both directions) on the task's texts, into `lm_dir`."""
    model, tokenizer, _ = load_language_model(backbone_dir)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "texts.txt"
        atomic_write_text(corpus, "\n".join(t.replace("\n", " ") for t in texts) + "\n")
        stats = encode_corpus(corpus, tokenizer, Path(tmp) / "texts.tokens")
        tokens, _ = open_token_file(Path(tmp) / "texts.tokens")
        tokens = np.array(tokens)  # the temporary file goes away
    held_out = max(1, len(tokens) // 20)
    batch_size = max(distributed.world_size(), min(32, (len(tokens) - held_out) // 80))
    task = LanguageModelingTask(model, tokenizer, tokens[:-held_out], [("task", tokens[-held_out:], max(1, stats.words // 20))],
                                batch_size=batch_size, bptt=70, seed=seed, device=device)
    config = TrainerConfig(epochs=recipe.lm_epochs, lr=recipe.lm_lr, schedule="slanted_triangular", patience=None,
                           seed=seed, progress=progress, clip=0.25, time_budget=recipe.lm_time_budget)
    log(f"fine-tuning the language model on {stats.tokens:,} tokens of task text ({recipe.lm_epochs} epoch(s)) ...")
    result = Trainer(task, config, lm_dir).fit(resume=resume)
    if result.status != "interrupted" and distributed.is_main():
        atomic_write_text(lm_dir / LM_DONE_MARKER, result.status + "\n")
    distributed.barrier()
    return result


def lm_stage_seconds(lm_dir: Path) -> float:
    """Wall time the finished LM fine-tuning stage took, across its sessions."""
    try:
        return float(json.loads((lm_dir / "metrics.json").read_text(encoding="utf-8"))["wall_seconds"])
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(lm_dir, f"cannot read the LM stage's metrics.json: {exc}") from None


def build_classifier(backbone_dir, labels: list[str], recipe: RecipeConfig, head: HeadConfig) -> SentimentClassifier:
    pretrained = load_backbone(backbone_dir)
    drop = recipe.backbone_dropout
    config = dataclasses.replace(pretrained.config, input_dropout=drop, hidden_dropout=drop, output_dropout=drop)
    backbone = RNNBackbone(config)
    if recipe.pretrained:
        backbone.load_state_dict(pretrained.state_dict())
    return SentimentClassifier(backbone, dataclasses.replace(head, labels=labels))


def check_batch_shares(batch_size: int) -> None:
    """Under torchrun every process needs at least one example of each batch."""
    if batch_size < distributed.world_size():
        raise SetupError(f"batch size {batch_size} is smaller than the {distributed.world_size()} processes; "
                         "each process needs at least one example")


def train_classifier(
    train: Sequence[Example],
    valid: Sequence[Example],
    out_dir: str | os.PathLike,
    *,
    backbone: str = "default",
    recipe: RecipeConfig | None = None,
    head: HeadConfig | None = None,
    trainer: TrainerConfig | None = None,
    device: str = "auto",
    data_files: Sequence[str] = (),
    resume: bool = False,
    log=print,
) -> TrainResult:
    """Run the whole recipe into `out_dir`; with `resume`, continue an interrupted run there.

    Under torchrun every process runs this; process 0 writes the files.
    """
    distributed.init_from_env()
    recipe, head = recipe or RecipeConfig(), head or HeadConfig()
    check_batch_shares(recipe.batch_size)
    trainer = trainer or TrainerConfig(**TRAINER_DEFAULTS)
    out_dir = Path(out_dir)
    labels = label_set(train, train[0].source.rpartition(":")[0] if train else "training set")
    check_known_labels(valid, labels)
    backbone_dir = resolve_model_dir(backbone)
    torch_device = resolve_device(device)
    seed_everything(trainer.seed)
    lm_dir = out_dir / "lm_finetuned"
    started = time.monotonic()
    if (lm_dir / LM_DONE_MARKER).is_file() and resume:
        backbone_dir = lm_dir  # the LM stage had finished before the interruption
    elif recipe.lm_finetune and recipe.pretrained:
        if read_config(backbone_dir).get("model_type") != "language_model":
            log(f"{backbone_dir} has no language-model head: skipping LM fine-tuning")
        else:
            if trainer.time_budget and recipe.lm_time_budget is None:
                recipe = dataclasses.replace(recipe, lm_time_budget=trainer.time_budget * recipe.lm_budget_share)
            resume_lm = resume and (lm_dir / "last").is_dir()
            if not resume_lm and distributed.is_main():
                shutil.rmtree(lm_dir, ignore_errors=True)
            distributed.barrier()
            texts = [e.text for e in train] + [e.text for e in valid]
            lm_result = finetune_language_model(backbone_dir, texts, lm_dir, recipe, seed=trainer.seed, device=torch_device,
                                                progress=trainer.progress, resume=resume_lm, log=log)
            if lm_result.status == "interrupted":
                return lm_result
            backbone_dir = lm_dir
    if trainer.time_budget:
        # The classifier gets what the LM stage left of the budget. The LM stage's own record counts
        # (not this session's clock), so a resumed run keeps the classifier's budget unchanged.
        if distributed.is_main():  # one budget for all processes: process 0's
            lm_seconds = lm_stage_seconds(lm_dir) if backbone_dir == lm_dir else time.monotonic() - started
        lm_seconds = distributed.broadcast_object(lm_seconds if distributed.is_main() else None)
        trainer = dataclasses.replace(trainer, time_budget=max(1.0, trainer.time_budget - lm_seconds))
    tokenizer = load_model_tokenizer(backbone_dir)
    seed_everything(trainer.seed)
    model = build_classifier(backbone_dir, labels, recipe, head)
    task = ClassificationTask(model, tokenizer, train, valid, recipe, seed=trainer.seed, device=torch_device, data_files=data_files)
    resume_classifier = resume and (out_dir / "last" / "trainer_state.pt").is_file()
    callbacks = [GradualUnfreezing(task.groups, recipe.unfreeze_span)] if recipe.gradual_unfreezing else []
    result = Trainer(task, trainer, out_dir, callbacks=callbacks, manifest_extra={"recipe": dataclasses.asdict(recipe)}).fit(
        resume=resume_classifier)
    if distributed.is_main():
        shutil.rmtree(out_dir / "lm_finetuned" / "last", ignore_errors=True)
    return result
