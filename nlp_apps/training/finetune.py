"""The fine-tuning recipe every task calls (ULMFiT, Howard & Ruder 2018), driven by the Trainer.

1. (optional) fine-tune the pretrained language model on the task's own texts, both directions,
   with its share of the run's time budget;
2. the task puts its head on the (fine-tuned) backbone, with dropout overrides inside the backbone;
3. train with discriminative learning rates (each layer down learns `lr_decay` times slower) and
   gradual unfreezing (the head first, the layers below join one by one).
Each step can be switched off to measure what it is worth.

A task hands the recipe a factory that builds its TrainingTask on a backbone directory; the task's
model lists its parameters from the bottom (embedding) to the top (head) in `layer_groups()`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypedDict

import torch
from torch import nn

from nlp_apps.data.fileio import atomic_write_text
from nlp_apps.data.token_files import encode_text
from nlp_apps.errors import CheckpointError
from nlp_apps.io.checkpoint import load_language_model, read_config
from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.training import distributed
from nlp_apps.training.pretraining import LanguageModelingTask
from nlp_apps.training.recipe_config import RecipeConfig
from nlp_apps.training.runs import check_batch_shares
from nlp_apps.training.trainer import Trainer, TrainerConfig, TrainResult, resolve_device, seed_everything
from nlp_apps.training.unfreezing import GradualUnfreezing

LM_DIR = "lm_finetuned"
LM_DONE_MARKER = ".complete"


# ---- layers and learning rates ----------------------------------------------------------------


def discriminative_param_groups(layer_groups: Sequence[Sequence[nn.Parameter]], recipe: RecipeConfig) -> list[dict]:
    """Optimizer groups: the top group learns at the full rate, each one below `lr_decay` times slower."""
    top = len(layer_groups) - 1
    decay = recipe.lr_decay if recipe.discriminative_lr else 1.0
    return [{"params": list(group), "lr_scale": decay ** -(top - i)} for i, group in enumerate(layer_groups)]


def pretrained_backbone(backbone_dir: str | os.PathLike, recipe: RecipeConfig) -> RNNBackbone:
    """The backbone a task head goes on: the pretrained weights (or random ones, for the ablation),
    with the recipe's dropout inside it."""
    drop = recipe.backbone_dropout
    backbone = RNNBackbone.from_pretrained(backbone_dir, input_dropout=drop, hidden_dropout=drop, output_dropout=drop)
    if not recipe.pretrained:
        backbone = RNNBackbone(backbone.config)
    return backbone


# ---- stage 1: the language model on the task's texts -------------------------------------------


def finetune_language_model(backbone_dir, texts: Sequence[str], lm_dir: Path, recipe: RecipeConfig, *, seed: int,
                            device: torch.device, progress: bool | None, resume: bool = False, log=print) -> TrainResult:
    """Fine-tune the pretrained LM (every direction it has) on the task's texts, into `lm_dir`.

    The last 5% of the text is held out to report the fine-tuned perplexity.
    """
    model, tokenizer, _ = load_language_model(backbone_dir)
    tokens, words = encode_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", tokenizer)
    held_out = max(1, len(tokens) // 20)
    batch_size = max(distributed.world_size(), min(32, (len(tokens) - held_out) // 80))
    task = LanguageModelingTask(model, tokenizer, tokens[:-held_out], [("task", tokens[-held_out:], max(1, words // 20))],
                                batch_size=batch_size, bptt=70, seed=seed, device=device)
    config = TrainerConfig(epochs=recipe.lm_epochs, lr=recipe.lm_lr, schedule="slanted_triangular", patience=None,
                           seed=seed, progress=progress, clip=0.25, time_budget=recipe.lm_time_budget)
    log(f"fine-tuning the language model on {len(tokens):,} tokens of task text ({recipe.lm_epochs} epoch(s)) ...")
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


# ---- the whole recipe ------------------------------------------------------------------------------


def run_recipe(
    out_dir: str | os.PathLike,
    *,
    backbone_dir: Path,
    texts: Sequence[str],
    build_task: Callable[[Path], object],
    recipe: RecipeConfig,
    trainer: TrainerConfig,
    device: torch.device,
    resume: bool = False,
    manifest_extra: dict | None = None,
    log=print,
) -> TrainResult:
    """LM fine-tuning on `texts` (if the recipe asks and the backbone has an LM head), then the task.

    `build_task(backbone_dir)` returns the task's TrainingTask built on that backbone directory (the
    fine-tuned one when stage 1 ran); its model's `layer_groups()` drive gradual unfreezing. With
    `resume`, each stage continues where it was interrupted. Under torchrun every process calls this.
    """
    out_dir = Path(out_dir)
    lm_dir = out_dir / LM_DIR
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
            lm_result = finetune_language_model(backbone_dir, texts, lm_dir, recipe, seed=trainer.seed, device=device,
                                                progress=trainer.progress, resume=resume_lm, log=log)
            if lm_result.status == "interrupted":
                return lm_result
            backbone_dir = lm_dir
    if trainer.time_budget:
        # The task gets what the LM stage left of the budget. The LM stage's own record counts (not
        # this session's clock), so a resumed run keeps the task's budget unchanged.
        lm_seconds = None
        if distributed.is_main():  # one budget for all processes: process 0's
            lm_seconds = lm_stage_seconds(lm_dir) if backbone_dir == lm_dir else time.monotonic() - started
        lm_seconds = distributed.broadcast_object(lm_seconds)
        trainer = dataclasses.replace(trainer, time_budget=max(1.0, trainer.time_budget - lm_seconds))
    seed_everything(trainer.seed)
    task = build_task(backbone_dir)
    callbacks = [GradualUnfreezing(task.model.layer_groups(), recipe.unfreeze_span, recipe.unfreeze_steps)] if recipe.gradual_unfreezing else []
    extra = {"recipe": recipe.to_dict(), **(manifest_extra or {})}
    resume_task = resume and (out_dir / "last" / "trainer_state.pt").is_file()
    result = Trainer(task, trainer, out_dir, callbacks=callbacks, manifest_extra=extra).fit(resume=resume_task)
    if distributed.is_main():
        shutil.rmtree(lm_dir / "last", ignore_errors=True)
    return result



# ---- a task's train function -------------------------------------------------------------------------


class RecipeOptions(TypedDict, total=False):
    """The keyword arguments every task's train function takes besides its data, backbone(s), head and limits,
    all optional: `train_classifier(train, valid, out_dir, recipe=..., trainer=..., device="cuda")`."""

    recipe: RecipeConfig | None  # the fine-tuning recipe [the task's RECIPE_DEFAULTS]
    trainer: TrainerConfig | None  # epochs, learning rate, time budget, ... [the task's TRAINER_DEFAULTS]
    device: str  # "auto" (the default): CUDA when present, else CPU
    data_files: Sequence[str]  # the files the data was read from, hashed into the run's manifest [none]
    resume: bool  # continue the interrupted run in out_dir [False]
    log: Callable[[str], None]  # where progress lines go [print]


@dataclasses.dataclass(frozen=True)
class RecipeRun:
    """A task train function's RecipeOptions with the task's defaults filled in and the device resolved."""

    recipe: RecipeConfig
    trainer: TrainerConfig
    device: torch.device
    data_files: Sequence[str]
    resume: bool
    log: Callable[[str], None]

    def fit(self, out_dir: str | os.PathLike, *, backbone_dir: Path, texts: Sequence[str], build_task: Callable[[Path], object]) -> TrainResult:
        """`run_recipe` with this run's recipe, trainer, device, resume and log."""
        return run_recipe(out_dir, backbone_dir=backbone_dir, texts=texts, build_task=build_task, recipe=self.recipe, trainer=self.trainer,
                          device=self.device, resume=self.resume, log=self.log)


def start_recipe(options: dict, recipe_defaults: dict, trainer_defaults: dict) -> RecipeRun:
    """The start of every task's train function, from its RecipeOptions: join the torchrun group (under torchrun; every
    process runs the function and process 0 writes the files), fill in the task's defaults, check that a batch splits
    over the processes, resolve the device. An unknown option is a TypeError, as for any keyword argument."""
    unknown = sorted(set(options) - RecipeOptions.__optional_keys__)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
    distributed.init_from_env()
    recipe = options.get("recipe") or RecipeConfig(**recipe_defaults)
    trainer = options.get("trainer") or TrainerConfig(**trainer_defaults)
    check_batch_shares(recipe.batch_size)
    return RecipeRun(recipe, trainer, resolve_device(options.get("device", "auto")), options.get("data_files", ()),
                     options.get("resume", False), options.get("log", print))
