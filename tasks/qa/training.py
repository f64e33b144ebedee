"""Training a span extractor: the task the core's fine-tuning recipe drives (nlp_apps.training.finetune).

Every window of every question is a training feature: the loss is the cross-entropy of the start
and of the end pointer over [null, tokens], so windows that do not hold the answer learn to point
at the null, which keeps span scores comparable across windows. Validation reads every window
and scores with the official SQuAD definitions; a model that may answer "no answer" (trained on
data with unanswerable questions) gets its null threshold tuned on the validation set at each
evaluation, and saves it with its weights. Early stopping follows validation F1.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from nlp_apps.commands.options import recipe_config
from nlp_apps.commands.task_train import Prepared
from nlp_apps.errors import DataError
from nlp_apps.io.checkpoint import check_backbone, load_model_tokenizer, resolve_model_dir
from nlp_apps.training.batched_task import BatchedTask
from nlp_apps.training.finetune import RecipeConfig, RecipeOptions, discriminative_param_groups, pretrained_backbone, start_recipe
from nlp_apps.training.trainer import StepOutput, TrainerConfig, TrainResult
from tasks.qa.adapter import QAExample
from tasks.qa.cli import read
from tasks.qa.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS
from tasks.qa.features import Featurizer, training_batches
from tasks.qa.head import SpanExtractor, build_head
from tasks.qa.head_config import HeadConfig
from tasks.qa.metric import best_null_threshold, squad_metrics
from tasks.qa.pipeline import read_questions, save_qa

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11+


class QATask(BatchedTask):
    metric = "f1"
    metric_mode = "max"
    unit = "ex"

    def __init__(self, model: SpanExtractor, tokenizer, train: Sequence[QAExample], valid: Sequence[QAExample],
                 recipe: RecipeConfig, *, seed: int = 0, device: torch.device = torch.device("cpu"),
                 data_files: Sequence[str] = (), log=print):
        self.model, self.tokenizer, self.recipe = model.to(device), tokenizer, recipe
        self.train = Featurizer(tokenizer, model.config).build([(e.context, e.question) for e in train], [e.answers for e in train])
        super().__init__(train_size=len(self.train.features), batch_size=recipe.batch_size, seed=seed, device=device,
                         data_files=data_files)
        if self.train.unaligned:
            log(f"{self.train.unaligned:,} training answer(s) cover no visible token; trained as no answer")
        self.valid_pairs = [(e.context, e.question) for e in valid]
        self.valid_references = [[a.text for a in e.answers] for e in valid]
        self.version = "2.0" if model.config.no_answer or any(not refs for refs in self.valid_references) else "1.1"
        self.groups = model.layer_groups()

    def param_groups(self) -> list[dict]:
        return discriminative_param_groups(self.groups, self.recipe)

    def epoch_batches(self, rng: np.random.Generator) -> list[list[int]]:
        return training_batches(self.train, self.batch_size, rng)

    def training_step(self, indices: list[int]) -> StepOutput:
        indices = self.local_share(indices)
        if not indices:
            return self.empty_step()
        batch = self.train.batch(indices)
        start_logits, end_logits = self.model(**batch.inputs(self.device))
        loss = (F.cross_entropy(start_logits, batch.starts.to(self.device))
                + F.cross_entropy(end_logits, batch.ends.to(self.device))) / 2
        return StepOutput(loss=loss, units=len(indices))

    def evaluate(self) -> dict[str, float]:
        config = self.model.config
        readings = read_questions(self.model, self.tokenizer, self.valid_pairs)
        if config.no_answer:
            config.null_threshold = best_null_threshold([r.span for r in readings], [r.null_margin for r in readings],
                                                        self.valid_references)
        answers = [r.answer(config.no_answer, config.null_threshold)["answer"] for r in readings]
        scores = squad_metrics(answers, self.valid_references, self.version)
        metrics = {"f1": scores["f1"], "exact_match": scores["exact_match"]}
        if self.version == "2.0":
            metrics.update({k: scores[k] for k in ("has_ans_f1", "no_ans_f1") if k in scores}, null_threshold=config.null_threshold)
        return metrics

    def save(self, directory: Path, exact: bool = False) -> None:
        save_qa(self.model, self.tokenizer, directory)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "null_threshold": self.model.config.null_threshold}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.model.config.null_threshold = float(state["null_threshold"])


def check_training_set(train: Sequence[QAExample], source: str) -> None:
    if not any(e.answers for e in train):
        raise DataError(source, "no question in the training set has an answer; a span extractor needs some")


def train_qa(train: Sequence[QAExample], valid: Sequence[QAExample], out_dir: str | os.PathLike, *,
             backbone: str = "default", head: HeadConfig | None = None, **options: Unpack[RecipeOptions]) -> TrainResult:
    """Run the recipe into `out_dir` (early stopping on validation F1); with `resume`, continue there.
    `options`: recipe, trainer, device, data_files, resume, log (nlp_apps.training.finetune.RecipeOptions).

    Under torchrun every process runs this; process 0 writes the files.
    """
    run, head = start_recipe(options, RECIPE_DEFAULTS, TRAINER_DEFAULTS), head or HeadConfig()
    check_training_set(train, train[0].source.split(":")[0] if train else "training set")
    if any(not e.answers for e in valid) and not any(not e.answers for e in train):
        run.log("the validation set has unanswerable questions but the training set has none: the model always answers")

    def build_task(backbone_dir: Path) -> QATask:
        model = build_head(pretrained_backbone(backbone_dir, run.recipe), dataclasses.replace(head), train)
        return QATask(model, load_model_tokenizer(backbone_dir), train, valid, run.recipe, seed=run.trainer.seed, device=run.device,
                      data_files=run.data_files, log=run.log)

    contexts = list(dict.fromkeys(e.context for e in [*train, *valid]))
    return run.fit(out_dir, backbone_dir=resolve_model_dir(backbone), texts=contexts, build_task=build_task)


# ---- the `qa train` command's two halves (nlp_apps.commands.task_train) ----------------------------

HEAD_OPTIONS = ("attention", "hidden_size", "question_match", "max_passage_len", "doc_stride", "windows", "max_question_len", "max_answer_len")


def configure(values: dict, log) -> Prepared:
    """The run configuration of `qa train`, after reading and checking the data and the backbone."""
    recipe = recipe_config(values, RECIPE_DEFAULTS)
    head = HeadConfig(dropout=recipe.backbone_dropout, **{name: values[name] for name in HEAD_OPTIONS})
    train, valid = read(values["train_file"], values["fmt"], log), read(values["valid_file"], values["fmt"], log)
    if head.windows == "sliding" and head.doc_stride < head.max_answer_len - 1:
        log(f"warning: --doc-stride {head.doc_stride} is below --max-answer-len - 1 ({head.max_answer_len - 1}): an answer that crosses a "
            "window edge fits in no window, so it can be neither learned nor predicted")
    check_training_set(train.examples, str(values["train_file"]))
    check_backbone(values["backbone"])
    log(f"train: {len(train.examples):,} questions (SQuAD {train.version}); valid: {len(valid.examples):,}")
    run = {"data": {"train": str(values["train_file"]), "valid": str(values["valid_file"]), "format": values["fmt"]},
           "backbone": values["backbone"], "recipe": recipe.to_dict(), "head": head.to_dict()}
    return Prepared(run, (train.examples, valid.examples))


def fit(run: dict, out_dir: Path, *, data, resume: bool, log) -> TrainResult:
    files = run["data"]
    train, valid = data or (read(files["train"], files["format"], log).examples, read(files["valid"], files["format"], log).examples)
    return train_qa(train, valid, out_dir, backbone=run["backbone"], recipe=RecipeConfig.from_dict(run["recipe"], f"{out_dir}/run_config.json"),
                    head=HeadConfig.from_dict(run["head"]), trainer=TrainerConfig.from_dict(run["trainer"]), device=run["device"],
                    data_files=[files["train"], files["valid"]], resume=resume, log=log)
