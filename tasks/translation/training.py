"""Training a translator: pairs -> token ids -> the core's Seq2SeqTask, driven by the fine-tuning recipe.

The decoder (and its tokenizer) come from the target-language backbone (`default`: the shipped
English LM), the encoder from a source-language backbone, or a random one with a tokenizer
trained on the source side of the training data (`none`). The recipe's LM stage, when on,
fine-tunes the target LM on the target sentences first.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from nlp_apps.commands.options import recipe_config
from nlp_apps.commands.task_train import Prepared
from nlp_apps.data.fileio import atomic_write_text
from nlp_apps.data.tokenizer import load_tokenizer, train_tokenizer
from nlp_apps.io.checkpoint import check_backbone, load_language_model, load_model_tokenizer, read_config, resolve_model_dir
from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.seq2seq.model import RANDOM_DECODER_EMBEDDING_STD, init_random_decoder
from nlp_apps.seq2seq.training import Seq2SeqTask, stage_trainer
from nlp_apps.training import distributed
from nlp_apps.training.finetune import RecipeConfig, RecipeOptions, discriminative_param_groups, pretrained_backbone, start_recipe
from nlp_apps.training.trainer import TrainerConfig, TrainResult
from tasks.translation.adapter import Pair, read_pairs
from tasks.translation.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS
from tasks.translation.head import TranslatorConfig, build_head
from tasks.translation.metric import translation_metrics
from tasks.translation.pipeline import detokenize, save_translator

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11+

SOURCE_TOKENIZER_DIR = "source_tokenizer"


@dataclass
class DataLimits:
    max_source_len: int = 100  # tokens; longer sources are cut (counted)
    max_target_len: int = 100
    max_decode_len: int = 100
    source_vocab_size: int = 8000  # a tokenizer trained on the source side (--src-backbone none)


def encode_pairs(pairs: Sequence[Pair], source_tokenizer, target_tokenizer, limits: DataLimits) -> tuple[list, int]:
    """(source ids, target ids) per pair, cut to the limits; -> (pairs, how many were cut)."""
    sources = source_tokenizer.encode_batch([p.source for p in pairs])
    targets = target_tokenizer.encode_batch([p.target for p in pairs])
    cut = sum(len(s) > limits.max_source_len or len(t) > limits.max_target_len for s, t in zip(sources, targets))
    return [(s[: limits.max_source_len] or [0], t[: limits.max_target_len]) for s, t in zip(sources, targets)], cut


def source_side(out_dir: Path, src_backbone: str, train: Sequence[Pair], limits: DataLimits, seed: int, log=print):
    """(encoder backbone or None for a random one, source tokenizer). A tokenizer trained here is kept in
    OUT/source_tokenizer, so a resumed run reads the same ids."""
    if src_backbone != "none":
        backbone_dir = resolve_model_dir(src_backbone)
        return RNNBackbone.from_pretrained(backbone_dir), load_model_tokenizer(backbone_dir)
    folder = out_dir / SOURCE_TOKENIZER_DIR
    # Process 0 trains the tokenizer when no earlier start of this run did; every process then meets at the
    # barrier (each must, whatever it finds on disk) and reads the same file.
    if distributed.is_main() and not (folder / "tokenizer.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        corpus = folder / "source.txt"
        atomic_write_text(corpus, "\n".join(p.source for p in train) + "\n")
        tokenizer = train_tokenizer("sentencepiece", corpus, limits.source_vocab_size, seed=seed, shrink_to_fit=True)
        corpus.unlink()
        atomic_write_text(folder / "tokenizer.json", json.dumps(tokenizer.save(folder)))
        log(f"trained a {tokenizer.vocab_size}-piece source tokenizer on the source side of the training data")
    distributed.barrier()
    return None, load_tokenizer(folder, json.loads((folder / "tokenizer.json").read_text(encoding="utf-8")))


def train_translator(train: Sequence[Pair], valid: Sequence[Pair], out_dir: str | os.PathLike, *,
                     src_backbone: str = "none", tgt_backbone: str = "default", head: TranslatorConfig | None = None,
                     limits: DataLimits | None = None, **options: Unpack[RecipeOptions]) -> TrainResult:
    """Train into `out_dir` (early stopping on validation BLEU, greedy decoding); with `resume`, continue.
    `options`: recipe, trainer, device, data_files, resume, log (nlp_apps.training.finetune.RecipeOptions)."""
    head, limits = head or TranslatorConfig(), limits or DataLimits()
    run = start_recipe(options, RECIPE_DEFAULTS, TRAINER_DEFAULTS)
    out_dir, recipe, log = Path(out_dir), run.recipe, run.log
    encoder, source_tokenizer = source_side(out_dir, src_backbone, train, limits, run.trainer.seed, log)
    references = [[p.target for p in valid]]

    def build_task(backbone_dir: Path) -> Seq2SeqTask:
        target_lm, target_tokenizer, _ = load_language_model(backbone_dir)
        decoder = pretrained_backbone(backbone_dir, recipe)
        source = encoder_for(encoder, decoder, source_tokenizer, recipe)
        model = build_head(decoder, head, encoder=source, output_bias=target_lm.decoder_bias if recipe.pretrained else None)
        pairs, cut = encode_pairs(train, source_tokenizer, target_tokenizer, limits)
        if cut:
            log(f"{cut:,} training pair(s) cut to --max-source-len {limits.max_source_len} / --max-target-len {limits.max_target_len}")
        valid_sources = [s for s, _ in encode_pairs(valid, source_tokenizer, target_tokenizer, limits)[0]]

        def evaluate(outputs: list[list[int]]) -> dict[str, float]:
            scores = translation_metrics([detokenize(target_tokenizer, ids) for ids in outputs], references)
            return {"bleu": scores["bleu"], "chrf": scores["chrf"]}

        return Seq2SeqTask(model, pairs, valid_sources, evaluate=evaluate, metric="bleu",
                           save=lambda directory: save_translator(model, source_tokenizer, target_tokenizer, directory),
                           param_groups=discriminative_param_groups(model.layer_groups(), recipe),
                           batch_size=recipe.batch_size, max_decode_length=limits.max_decode_len, seed=run.trainer.seed,
                           device=run.device, data_files=run.data_files, trainer=stage_trainer(run.trainer, backbone_dir), log=log)

    target_dir = target_backbone_dir(tgt_backbone, out_dir, train, run.trainer.seed, log)
    return run.fit(out_dir, backbone_dir=target_dir, texts=[p.target for p in train], build_task=build_task)


def encoder_for(encoder: RNNBackbone | None, decoder: RNNBackbone, source_tokenizer, recipe: RecipeConfig) -> RNNBackbone:
    """The pretrained source backbone with the recipe's dropout, or a random bidirectional one shaped like the decoder."""
    if encoder is not None:
        drop = recipe.backbone_dropout
        config = dataclasses.replace(encoder.config, input_dropout=drop, hidden_dropout=drop, output_dropout=drop)
        tuned = RNNBackbone(config)
        if recipe.pretrained:
            tuned.load_state_dict(encoder.state_dict())
        return tuned
    config = dataclasses.replace(decoder.config, vocab_size=source_tokenizer.vocab_size, bidirectional=True)
    return RNNBackbone(config)


def target_backbone_dir(tgt_backbone: str, out_dir: Path, train: Sequence[Pair], seed: int, log=print) -> Path:
    """The target LM's directory; `none` writes a random LM with a tokenizer trained on the target side."""
    if tgt_backbone != "none":
        return resolve_model_dir(tgt_backbone)
    folder = out_dir / "target_lm"
    if not (folder / "config.json").is_file() and distributed.is_main():
        from nlp_apps.models.lm import RNNLanguageModel

        folder.mkdir(parents=True, exist_ok=True)
        corpus = folder / "target.txt"
        atomic_write_text(corpus, "\n".join(p.target for p in train) + "\n")
        tokenizer = train_tokenizer("sentencepiece", corpus, 8000, seed=seed, shrink_to_fit=True)
        corpus.unlink()
        torch.manual_seed(seed)
        language_model = RNNLanguageModel(random_backbone_config(tokenizer.vocab_size))
        init_random_decoder(language_model.backbone)  # a random decoder's output layer needs a larger scale than an LM's start
        language_model.save_pretrained(folder, tokenizer=tokenizer)
        log(f"target backbone: random, shaped like the default, with a {tokenizer.vocab_size}-piece tokenizer "
            f"(embedding, the tied output layer, at N(0, {RANDOM_DECODER_EMBEDDING_STD:g}^2))")
    distributed.barrier()
    return folder


def random_backbone_config(vocab_size: int):
    """The shape of a random target backbone (--tgt-backbone none): the default backbone's, forward only."""
    from nlp_apps.models.backbone import BackboneConfig

    default = read_config(resolve_model_dir("default"))["backbone"]
    return BackboneConfig(**{**default, "vocab_size": vocab_size, "bidirectional": False})


# ---- the `translation train` command's two halves (nlp_apps.commands.task_train) --------------------

def data_spec(values: dict, what: str) -> list[str | None]:
    """How run_config.json records a split: [file, source file, target file, source field, target field]; one of the
    first two must be given."""
    prefix = "" if what == "train" else "valid_"
    spec = [values[f"{what}_file"], values[f"{prefix}src"], values[f"{prefix}tgt"], values["src_field"], values["tgt_field"]]
    if spec[0] is None and spec[1] is None:
        flag = "--valid-" if what == "valid" else "--"
        raise ValueError(f"give the {what} pairs: --{what} FILE (TSV/CSV/JSONL) or {flag}src with {flag}tgt")
    return [str(v) if v is not None else None for v in spec]


def read_split(spec: Sequence[str | None], what: str, log) -> list[Pair]:
    path, src, tgt, src_field, tgt_field = spec
    result = read_pairs(path, src=src, tgt=tgt, src_field=src_field, tgt_field=tgt_field)
    if result.skipped_empty:
        log(f"{what}: skipped {result.skipped_empty:,} pair(s) with an empty side")
    return result.pairs


def configure(values: dict, log) -> Prepared:
    """The run configuration of `translation train`, after reading the pairs and checking the backbones."""
    specs = {what: data_spec(values, what) for what in ("train", "valid")}
    recipe = recipe_config(values, RECIPE_DEFAULTS)
    head = TranslatorConfig(attention=values["attention"], input_feeding=values["input_feeding"], label_smoothing=values["label_smoothing"],
                            dropout=recipe.backbone_dropout)
    limits = DataLimits(max_source_len=values["max_source_len"], max_target_len=values["max_target_len"], max_decode_len=values["max_decode_len"])
    pairs = {what: read_split(spec, what, log) for what, spec in specs.items()}
    if values["src_backbone"] != "none":
        check_backbone(values["src_backbone"])
    check_backbone("default" if values["tgt_backbone"] == "none" else values["tgt_backbone"])  # a random target LM is shaped like the default
    run = {"data": specs, "src_backbone": values["src_backbone"], "tgt_backbone": values["tgt_backbone"], "head": head.to_dict(),
           "recipe": recipe.to_dict(), "limits": dataclasses.asdict(limits)}
    return Prepared(run, (pairs["train"], pairs["valid"]))


def fit(run: dict, out_dir: Path, *, data, resume: bool, log) -> TrainResult:
    specs = run["data"]
    train, valid = data or (read_split(specs["train"], "train", log), read_split(specs["valid"], "valid", log))
    return train_translator(train, valid, out_dir, src_backbone=run["src_backbone"], tgt_backbone=run["tgt_backbone"],
                            head=TranslatorConfig.from_dict(run["head"]), recipe=RecipeConfig.from_dict(run["recipe"], f"{out_dir}/run_config.json"),
                            trainer=TrainerConfig.from_dict(run["trainer"]), limits=DataLimits(**run["limits"]), device=run["device"],
                            data_files=[v for v in (*specs["train"][:3], *specs["valid"][:3]) if v], resume=resume, log=log)
