"""Training a summarizer: documents -> token ids -> the core's Seq2SeqTask, driven by the fine-tuning recipe.

Encoder and decoder start from the same English backbone (`default`), so both sides share its
tokenizer and copying needs no extended vocabulary. Long documents are cut at max_source_len tokens
(counted). Early stopping on the mean of validation ROUGE-1/2/L (greedy decoding).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nlp_apps.commands.options import recipe_config
from nlp_apps.commands.task_train import Prepared
from nlp_apps.io.checkpoint import check_backbone, load_language_model, resolve_model_dir
from nlp_apps.seq2seq.model import init_random_decoder
from nlp_apps.seq2seq.training import Seq2SeqTask, stage_trainer
from nlp_apps.training.finetune import RecipeConfig, RecipeOptions, discriminative_param_groups, pretrained_backbone, start_recipe
from nlp_apps.training.trainer import TrainerConfig, TrainResult
from tasks.summarization.adapter import Document
from tasks.summarization.cli import read
from tasks.summarization.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS
from tasks.summarization.head import build_head
from tasks.summarization.head_config import SummarizerConfig
from tasks.summarization.metric import rouge_scores
from tasks.summarization.pipeline import DEFAULT_MAX_SOURCE_LEN, detokenize, save_summarizer

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11+


@dataclass
class SummaryLimits:
    max_source_len: int = DEFAULT_MAX_SOURCE_LEN  # tokens; longer documents are cut (counted)
    max_target_len: int = 40
    max_decode_len: int = 30


def encode_documents(documents: Sequence[Document], tokenizer, limits: SummaryLimits) -> tuple[list, int]:
    """(document ids, summary ids) per document, cut to the limits -> (pairs, how many documents were cut)."""
    sources = tokenizer.encode_batch([" ".join(d.text.split()) for d in documents])
    targets = tokenizer.encode_batch([" ".join((d.summary or "").split()) for d in documents])
    cut = sum(len(s) > limits.max_source_len for s in sources)
    return [(s[: limits.max_source_len] or [0], t[: limits.max_target_len]) for s, t in zip(sources, targets)], cut


def train_summarizer(train: Sequence[Document], valid: Sequence[Document], out_dir: str | os.PathLike, *,
                     backbone: str = "default", head: SummarizerConfig | None = None, limits: SummaryLimits | None = None,
                     **options: Unpack[RecipeOptions]) -> TrainResult:
    """Train into `out_dir` (early stopping on validation ROUGE, greedy decoding); with `resume`, continue.
    `options`: recipe, trainer, device, data_files, resume, log (nlp_apps.training.finetune.RecipeOptions)."""
    head, limits = head or SummarizerConfig(), limits or SummaryLimits()
    run = start_recipe(options, RECIPE_DEFAULTS, TRAINER_DEFAULTS)
    recipe, log = run.recipe, run.log
    references = [d.references for d in valid]

    def build_task(backbone_dir: Path) -> Seq2SeqTask:
        language_model, tokenizer, _ = load_language_model(backbone_dir)
        pretrained = pretrained_backbone(backbone_dir, recipe)
        model = build_head(pretrained, head, output_bias=language_model.decoder_bias if recipe.pretrained else None)
        if not recipe.pretrained:
            init_random_decoder(model.decoder)  # as translation's random decoder: a larger output-layer scale
        pairs, cut = encode_documents(train, tokenizer, limits)
        if cut:
            log(f"{cut:,} training document(s) cut to --max-source-len {limits.max_source_len} tokens")
        valid_sources = [s for s, _ in encode_documents(valid, tokenizer, limits)[0]]

        def evaluate(outputs: list[list[int]]) -> dict[str, float]:
            scores = rouge_scores([detokenize(tokenizer, ids) for ids in outputs], references, confidence=False)
            return {k: scores[k] for k in ("rouge", "rouge1", "rouge2", "rougeL")}

        return Seq2SeqTask(model, pairs, valid_sources, evaluate=evaluate, metric="rouge",
                           save=lambda directory: save_summarizer(model, tokenizer, directory),
                           param_groups=discriminative_param_groups(model.layer_groups(), recipe),
                           batch_size=recipe.batch_size, max_decode_length=limits.max_decode_len, seed=run.trainer.seed,
                           device=run.device, data_files=run.data_files, trainer=stage_trainer(run.trainer, backbone_dir), log=log)

    return run.fit(out_dir, backbone_dir=resolve_model_dir(backbone), texts=[d.text for d in train], build_task=build_task)


# ---- the `summarization train` command's two halves (nlp_apps.commands.task_train) ---------------

def configure(values: dict, log) -> Prepared:
    """The run configuration of `summarization train`, after reading the data and checking the backbone.

    run["data"] keeps each side as the argument list of `cli.read` (file, src, tgt, text field, summary
    field, skip-empty): the layout of the runs before the core built the command, so they still resume.
    """
    coverage_from = values.get("coverage_from", 0.0)
    coverage = bool(coverage_from) if values["coverage"] is None else values["coverage"]  # --coverage-from F turns it on
    head = SummarizerConfig(attention=values["attention"], copy=values["copy"], coverage=coverage, coverage_from=coverage_from,
                            label_smoothing=values["label_smoothing"], dropout=values["backbone_dropout"])
    recipe = recipe_config(values, RECIPE_DEFAULTS)
    limits = SummaryLimits(max_source_len=values["max_source_len"], max_target_len=values["max_target_len"])
    fields = [values["text_field"], values["summary_field"], values["skip_empty"]]
    sides = {what: [str(v) if isinstance(v, Path) else v for v in (*files, *fields)]
             for what, files in (("train", (values["train_file"], values["src"], values["tgt"])),
                                 ("valid", (values["valid_file"], values["valid_src"], values["valid_tgt"])))}
    data = read(*sides["train"], "train", log), read(*sides["valid"], "valid", log)
    check_backbone(values["backbone"])
    run = {"data": sides, "backbone": values["backbone"], "head": head.to_dict(), "recipe": recipe.to_dict(), "limits": asdict(limits)}
    return Prepared(run, data)


def fit(run: dict, out_dir: Path, *, data, resume: bool, log) -> TrainResult:
    sides = run["data"]
    train, valid = data or (read(*sides["train"], "train", log), read(*sides["valid"], "valid", log))
    source = f"{out_dir}/run_config.json"
    return train_summarizer(train, valid, out_dir, backbone=run["backbone"], head=SummarizerConfig.from_dict(run["head"], source),
                            recipe=RecipeConfig.from_dict(run["recipe"], source), trainer=TrainerConfig.from_dict(run["trainer"]),
                            limits=SummaryLimits(**run["limits"]), device=run["device"],
                            data_files=[v for v in (*sides["train"][:3], *sides["valid"][:3]) if v], resume=resume, log=log)
