"""Training a sentiment classifier: the classification task the core's fine-tuning recipe drives
(nlp_apps.training.finetune: LM fine-tuning, discriminative rates, gradual unfreezing)."""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from nlp_apps.commands.options import recipe_config
from nlp_apps.commands.task_train import Prepared
from nlp_apps.data.batching import bucket_batches, pad_sequences
from nlp_apps.data.fileio import read_json_record
from nlp_apps.errors import DataError
from nlp_apps.io.checkpoint import check_backbone, load_model_tokenizer, resolve_model_dir
from nlp_apps.training import distributed
from nlp_apps.training.batched_task import BatchedTask
from nlp_apps.training.finetune import RecipeConfig, RecipeOptions, discriminative_param_groups, pretrained_backbone, start_recipe
from nlp_apps.training.records import write_metrics
from nlp_apps.training.trainer import StepOutput, TrainerConfig, TrainResult
from tasks.sentiment.adapter import Example
from tasks.sentiment.cli import read
from tasks.sentiment.defaults import HEAD_DEFAULTS, RECIPE_DEFAULTS, TRAINER_DEFAULTS
from tasks.sentiment.head import NgramBatch, SentimentClassifier, build_head, ngram_bags, ngram_batch, text_logits
from tasks.sentiment.head_config import HeadConfig
from tasks.sentiment.metric import classification_metrics
from tasks.sentiment.pipeline import save_classifier

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11+


class ClassificationTask(BatchedTask):
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
        super().__init__(train_size=len(train), batch_size=recipe.batch_size, seed=seed, device=device, data_files=data_files)
        self.model, self.tokenizer, self.recipe = model.to(device), tokenizer, recipe
        self.labels = model.config.labels
        index = {label: i for i, label in enumerate(self.labels)}
        self.train_ids = encode_examples(tokenizer, train)
        self.train_targets = [index[e.label] for e in train]
        self.valid_ids = encode_examples(tokenizer, valid)
        self.valid_labels = [e.label for e in valid]
        # With jointly trained n-gram features, each text's hashed n-grams, computed once (an epoch's batches take their share).
        self.train_ngrams = ngram_bags(model.config, [e.text for e in train]) if model.trains_ngrams else None
        self.valid_ngrams = ngram_bags(model.config, [e.text for e in valid]) if model.trains_ngrams else None
        self.groups = model.layer_groups()

    def param_groups(self) -> list[dict]:
        return discriminative_param_groups(self.groups, self.recipe)

    def epoch_batches(self, rng: np.random.Generator) -> list[list[int]]:
        return bucket_batches([len(x) for x in self.train_ids], self.batch_size, shuffle=True, generator=rng)

    def training_step(self, batch: list[int]) -> StepOutput:
        batch = self.local_share(batch)
        if not batch:
            return self.empty_step()
        tokens, lengths = pad_sequences([self.train_ids[i] for i in batch])
        targets = torch.tensor([self.train_targets[i] for i in batch], device=self.device)
        logits = self.model(tokens.to(self.device), lengths, self.ngrams_of(self.train_ngrams, batch))
        return StepOutput(loss=F.cross_entropy(logits.float(), targets), units=len(batch))

    def ngrams_of(self, bags: list[list[int]] | None, batch: list[int]) -> NgramBatch | None:
        return None if bags is None else ngram_batch([bags[i] for i in batch], self.device)

    def predict_ids(self, ids: list[list[int]], ngrams: list[list[int]] | None = None) -> list[str]:
        return [self.labels[b] for b in text_logits(self.model, ids, ngrams).argmax(-1).tolist()]

    def evaluate(self) -> dict[str, float]:
        scores = classification_metrics(self.valid_labels, self.predict_ids(self.valid_ids, self.valid_ngrams), self.labels)
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}

    def save(self, directory: Path, exact: bool = False) -> None:
        save_classifier(self.model, self.tokenizer, directory)


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


def train_classifier(train: Sequence[Example], valid: Sequence[Example], out_dir: str | os.PathLike, *,
                     backbone: str = "default", head: HeadConfig | None = None, **options: Unpack[RecipeOptions]) -> TrainResult:
    """Run the whole recipe into `out_dir`; with `resume`, continue an interrupted run there.
    `options`: recipe, trainer, device, data_files, resume, log (nlp_apps.training.finetune.RecipeOptions).

    Under torchrun every process runs this; process 0 writes the files.
    """
    run, head = start_recipe(options, RECIPE_DEFAULTS, TRAINER_DEFAULTS), head or HeadConfig(**HEAD_DEFAULTS)
    labels = label_set(train, train[0].source.rpartition(":")[0] if train else "training set")
    check_known_labels(valid, labels)

    def build_task(backbone_dir: Path) -> ClassificationTask:
        model = build_head(pretrained_backbone(backbone_dir, run.recipe), dataclasses.replace(head, labels=labels), train)
        return ClassificationTask(model, load_model_tokenizer(backbone_dir), train, valid, run.recipe, seed=run.trainer.seed,
                                  device=run.device, data_files=run.data_files)

    stacked = head.ngram_features and head.ngram_combine == "stacked"
    record = read_json_record(Path(out_dir) / "metrics.json") if run.resume else {}
    if stacked and record.get("status") not in (None, "interrupted") and "stacking" not in record:
        # Training had ended and the stacking was cut short: stack only (more training would change the model).
        result = TrainResult(record["status"], record["steps"], record["best"].get("accuracy"), record["best"])
    else:
        result = run.fit(out_dir, backbone_dir=resolve_model_dir(backbone), texts=[e.text for e in train] + [e.text for e in valid],
                         build_task=build_task)
    if stacked and result.status != "interrupted":
        if distributed.is_main():
            try:
                result = stack_ngram_path(Path(out_dir), train, valid, result, run.device, run.log)
            except KeyboardInterrupt:  # the trained model is saved; --resume stacks it without training further
                run.log("interrupted while stacking the n-gram path")
                result = dataclasses.replace(result, status="interrupted")
        distributed.barrier()
        if distributed.broadcast_object(result.status) == "interrupted":  # every process stops where process 0 did
            result = dataclasses.replace(result, status="interrupted")
    return result


def stack_ngram_path(out_dir: Path, train: Sequence[Example], valid: Sequence[Example], result: TrainResult, device, log) -> TrainResult:
    """Fit the stacked n-gram path and its mix on the trained model in `out_dir` (tasks/sentiment/stacking.py), save the
    model again, and record the choice in metrics.json ("stacking") with the validation scores of what was kept. The RNN
    head's validation logits are computed once, on the run's device and under the precision predictions use."""
    from tasks.sentiment.pipeline import load
    from tasks.sentiment.stacking import fit_stacking

    started = time.monotonic()
    pipeline = load(out_dir, device=str(device))
    labels, texts = pipeline.labels, [e.text for e in valid]
    index = {label: i for i, label in enumerate(labels)}
    rnn_logits = pipeline.path_logits(texts, rnn_only=True)["rnn"]
    report, kept = fit_stacking(pipeline.model, rnn_logits, [e.text for e in train], [index[e.label] for e in train], texts,
                                [index[e.label] for e in valid], log=log)
    save_classifier(pipeline.model, pipeline.tokenizer, out_dir)
    scores = classification_metrics([e.label for e in valid], [labels[i] for i in kept.argmax(-1).tolist()], labels)
    best = {**result.metrics, "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
    metrics = read_json_record(out_dir / "metrics.json")
    write_metrics(out_dir / "metrics.json", {**metrics, "best": best, "stacking": {**report, "rnn_best": result.metrics,
                                                                                   "seconds": round(time.monotonic() - started, 1)}})
    return dataclasses.replace(result, best_metric=scores["accuracy"], metrics=best)


# ---- the `sentiment train` command's two halves (nlp_apps.commands.task_train) ----------------------

DATA_OPTIONS = ("fmt", "text_column", "label_column", "text_field", "label_field")


def configure(values: dict, log) -> Prepared:
    """The run configuration of `sentiment train`, after reading and checking the data and the backbone."""
    data_options = {name: values[name] for name in DATA_OPTIONS}
    recipe = recipe_config(values, RECIPE_DEFAULTS)
    train, valid = read(values["train_file"], **data_options), read(values["valid_file"], **data_options)
    check_known_labels(valid, label_set(train, str(values["train_file"])))
    check_backbone(values["backbone"])
    head = {name: HEAD_DEFAULTS[name] if values.get(name) is None else values[name] for name in ("ngram_features", "ngram_combine")}
    if values.get("grad_chunks") is not None:
        head["grad_chunks"] = values["grad_chunks"]
    if values.get("ngram_combine") is not None and not head["ngram_features"]:
        raise ValueError("--ngram-combine needs the n-gram path (--ngram-features)")
    run = {"data": {"train": str(values["train_file"]), "valid": str(values["valid_file"]), "options": data_options},
           "backbone": values["backbone"], "recipe": recipe.to_dict(),
           "head": HeadConfig(dropout=recipe.backbone_dropout, **head).to_dict(), "ensemble": values.get("ensemble") or 1}
    return Prepared(run, (train, valid))


def fit(run: dict, out_dir: Path, *, data, resume: bool, log) -> TrainResult:
    files = run["data"]
    train, valid = data or (read(files["train"], **files["options"]), read(files["valid"], **files["options"]))
    train_model = train_classifier
    if run.get("ensemble", 1) > 1:
        from tasks.sentiment.ensemble import train_ensemble

        train_model = functools.partial(train_ensemble, members=run["ensemble"])
    return train_model(train, valid, out_dir, backbone=run["backbone"], recipe=RecipeConfig.from_dict(run["recipe"], f"{out_dir}/run_config.json"),
                       head=HeadConfig.from_dict(run["head"]), trainer=TrainerConfig.from_dict(run["trainer"]), device=run["device"],
                       data_files=[files["train"], files["valid"]], resume=resume, log=log)
