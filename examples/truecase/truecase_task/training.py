"""Training the tagger. `TruecaseTraining` is what the core's Trainer drives (nlp_apps.training.trainer.TrainingTask):
the core's BatchedTask keeps the epoch's batches and their resume state; this file says what a batch is and how it
trains. `configure` and `fit` are the two halves of `nlp-apps truecase train` (the core builds the command)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nlp_apps.commands.options import recipe_config
from nlp_apps.commands.task_train import Prepared
from nlp_apps.data.batching import pad_sequences
from nlp_apps.io.checkpoint import check_backbone, load_model_tokenizer, resolve_model_dir
from nlp_apps.training.batched_task import BatchedTask
from nlp_apps.training.finetune import RecipeConfig, discriminative_param_groups, pretrained_backbone, run_recipe
from nlp_apps.training.trainer import StepOutput, TrainerConfig, TrainResult, resolve_device
from truecase_task import HeadConfig
from truecase_task.cli import RECIPE_DEFAULTS
from truecase_task.data import TAGS, WORD, case_of, read_dataset, truecase_metrics
from truecase_task.model import TruecasePipeline, build_head, encode_words, save


class TruecaseTraining(BatchedTask):
    metric, metric_mode, unit = "f1", "max", "word"

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
        # The loss is the mean over words, so `units` counts words: under torchrun it weighs each process's share.
        words = int((targets != -100).sum())
        return StepOutput(F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten().to(self.device)), units=words)

    def evaluate(self) -> dict[str, float]:
        scores = truecase_metrics(TruecasePipeline(self.model, self.tokenizer).predict(self.valid), self.valid)
        return {"f1": scores["f1"], "accuracy": scores["accuracy"]}

    def save(self, directory: Path, exact: bool = False) -> None:
        save(self.model, self.tokenizer, directory)


# ---- the `truecase train` command's two halves (the core calls them: nlp_apps.commands.task_train) ----


def configure(values: dict, log) -> Prepared:
    """The run configuration (stored as run_config.json, all a resumed run has), after reading the data and
    checking the backbone: a new run fails here, before an earlier run in --out is replaced."""
    recipe = recipe_config(values, RECIPE_DEFAULTS)
    train, valid = read_dataset(values["train_file"]), read_dataset(values["valid_file"])
    check_backbone(values["backbone"])
    run = {"data": {"train": str(values["train_file"]), "valid": str(values["valid_file"])}, "backbone": values["backbone"],
           "recipe": recipe.to_dict(), "head": HeadConfig(dropout=recipe.backbone_dropout).to_dict()}
    return Prepared(run, (train, valid))


def fit(run: dict, out_dir: Path, *, data, resume: bool, log) -> TrainResult:
    """Train the run into `out_dir` with the core's recipe (`data`: configure's, or None on --resume). Under torchrun
    every process runs this; the Trainer shares the batches (`local_share` above) and process 0 writes the files."""
    files, source = run["data"], f"{out_dir}/run_config.json"
    train, valid = data or (read_dataset(files["train"]), read_dataset(files["valid"]))
    recipe, head = RecipeConfig.from_dict(run["recipe"], source), HeadConfig.from_dict(run["head"], source)
    trainer, device = TrainerConfig.from_dict(run["trainer"]), resolve_device(run["device"])

    def build_task(backbone_dir):  # run_recipe calls this with the backbone to fine-tune (the LM-tuned one after stage 1)
        model = build_head(pretrained_backbone(backbone_dir, recipe), head)
        return TruecaseTraining(model, load_model_tokenizer(backbone_dir), train, valid, recipe, seed=trainer.seed, device=device,
                                data_files=[files["train"], files["valid"]])

    return run_recipe(out_dir, backbone_dir=resolve_model_dir(run["backbone"]), texts=[e.text.lower() for e in train],
                      build_task=build_task, recipe=recipe, trainer=trainer, device=device, resume=resume, log=log)
