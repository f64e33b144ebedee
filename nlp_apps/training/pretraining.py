"""Language-model pretraining as a task the Trainer can drive (forward and optional backward LM)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from nlp_apps.configs import config_from_dict
from nlp_apps.data.batching import BPTTBatcher
from nlp_apps.data.corpora import (
    CorpusSpec,
    corpus_name,
    count_documents,
    split_documents,
    tokenizer_sample,
    valid_documents,
    write_mixed_stream,
)
from nlp_apps.data.fileio import atomic_write_json
from nlp_apps.data.token_files import encode_documents, open_token_file, scan_corpus
from nlp_apps.data.tokenizer import EOS_ID, Tokenizer, load_tokenizer, train_tokenizer
from nlp_apps.errors import CheckpointError, DataError
from nlp_apps.io.checkpoint import load_language_model, load_model_tokenizer, read_config, resolve_model_dir, save_model
from nlp_apps.models.backbone import BackboneConfig, concat_state_rows, count_parameters, detach_state, map_state
from nlp_apps.models.lm import RNNLanguageModel, score_tokens
from nlp_apps.training import distributed
from nlp_apps.training.model_size import AUTO_SETTINGS, BUDGET_EPOCHS, choose_tier, describe_pick
from nlp_apps.training.runs import RUN_CONFIG_FILE, check_batch_shares, new_run, read_run_config, write_run_config
from nlp_apps.training.trainer import (
    StepOutput,
    Trainer,
    TrainerConfig,
    TrainResult,
    resolve_device,
    seed_everything,
)


class LanguageModelingTask:
    """Next-token prediction over a token stream with truncated BPTT.

    The recurrent state is carried from one segment to the next (detached), per direction.
    The early-stopping metric is the validation loss (mean over directions, nats per token).
    """

    metric = "loss"
    metric_mode = "min"
    unit = "tok"
    loss_is_token_nll = True  # the progress line shows its perplexity

    def __init__(
        self,
        model: RNNLanguageModel,
        tokenizer: Tokenizer,
        train_tokens: np.ndarray,
        valid_sets: list[tuple[str, np.ndarray, int]],
        *,
        batch_size: int,
        bptt: int,
        variable_length: bool = True,
        seed: int = 0,
        device: torch.device = torch.device("cpu"),
        data_files: tuple[str, ...] = (),
        weights_dtype: torch.dtype | None = None,
        eval_batch_size: int = 16,
    ):
        self.model = model.to(device)
        self.tokenizer = tokenizer
        self.device = device
        self.directions = model.config.directions
        self.batcher = BPTTBatcher(
            train_tokens,
            batch_size,
            bptt,
            variable_length=variable_length,
            bidirectional=len(self.directions) > 1,
            seed=seed,
            shard=distributed.shard(batch_size),
        )
        self.valid_sets = valid_sets  # (corpus name, token ids, whitespace words); one set: no per-corpus keys
        self.bptt, self.eval_batch_size = bptt, eval_batch_size
        self._data_files = list(data_files)
        self.weights_dtype = weights_dtype
        self.carried: dict[str, list | None] = {d: None for d in self.directions}

    def param_groups(self) -> list[dict]:
        return [{"params": list(self.model.parameters()), "lr_scale": 1.0}]

    def steps_per_epoch(self) -> int:
        return self.batcher.steps_per_epoch()

    def start_epoch(self, epoch: int) -> None:
        self.batcher.reset()
        self.carried = {d: None for d in self.directions}

    def next_batch(self):
        return self.batcher.next_batch()

    def training_step(self, batch) -> StepOutput:
        losses, units = [], 0
        for direction in self.directions:
            inputs, targets = (t.to(self.device, non_blocking=True) for t in batch[direction])
            loss, state = self.model.loss(inputs, targets, detach_state(self.carried[direction]), direction)
            self.carried[direction] = detach_state(state)
            losses.append(loss)
            units += targets.numel()
        return StepOutput(loss=torch.stack(losses).mean(), units=units)

    def evaluate(self) -> dict[str, float]:
        """Perplexities per direction (backward_* for the backward LM); with several corpora also per corpus
        (<name>_ppl, ...) beside the pooled figure. The loss is the pooled nats per token, averaged over directions."""
        results = {}
        losses = []
        for direction in self.directions:
            prefix = "" if direction == "forward" else "backward_"
            nll = tokens = words = 0
            for name, valid_tokens, valid_words in self.valid_sets:
                scored = score_tokens(
                    self.model,
                    valid_tokens,
                    valid_words,
                    batch_size=self.eval_batch_size,
                    bptt=max(self.bptt, 64),
                    direction=direction,
                )
                if len(self.valid_sets) > 1:
                    results[f"{name}_{prefix}ppl"] = scored.token_perplexity
                    results[f"{name}_{prefix}word_ppl"] = scored.word_perplexity
                nll, tokens, words = nll + scored.nll, tokens + scored.tokens, words + scored.words
            results[f"{prefix}ppl"] = float(np.exp(nll / tokens))
            results[f"{prefix}word_ppl"] = float(np.exp(nll / words))
            losses.append(nll / tokens)
        results["loss"] = float(np.mean(losses))
        return results

    def save(self, directory: Path, exact: bool = False) -> None:
        save_model(
            directory,
            model_type="language_model",
            backbone_config=self.model.config,
            model=self.model,
            tokenizer=self.tokenizer,
            weights_dtype=None if exact else self.weights_dtype,
        )

    def state_dict(self) -> dict:
        """The data position and the carried state of every batch row (from all processes)."""
        carried = {d: map_state(s, torch.Tensor.cpu) for d, s in self.carried.items() if s is not None}
        parts = distributed.gather_objects(carried)
        if len(parts) > 1:  # join the processes' batch rows
            carried = {d: concat_state_rows([p[d] for p in parts]) for d in carried}
        return {"batcher": self.batcher.state_dict(), "carried": carried}

    def load_state_dict(self, state: dict) -> None:
        """Continues a run saved with any number of processes, as long as the global batch is the same."""
        self.batcher.load_state_dict(state["batcher"])
        self.carried = {d: None for d in self.directions}
        rows = self.batcher.shard
        for direction, carried in state["carried"].items():
            # float32 is safe in either precision (bf16 -> float32 -> bf16 under autocast is exact)
            self.carried[direction] = map_state(carried, lambda t: t[:, rows].to(self.device).float())

    def data_files(self) -> list[str]:
        return self._data_files



DEFAULT_VOCAB_SIZE = 8000


@dataclass
class PretrainConfig:
    """Everything `nlp-apps pretrain` needs; saved as run_config.json so --resume can rebuild the run.

    The corpora are `corpora` (several named corpora, see nlp_apps.data.corpora), or one `train`/`valid`
    pair of text files, which becomes a single corpus. With `auto_size`, the model size (and the batch,
    BPTT, optimizer, peak lr and dropouts, as listed) is picked from the training tokens and the time budget when the run
    starts (nlp_apps/training/model_size.py); the fields then hold the picked values.
    """

    train: str | None = None
    valid: str | None = None
    corpora: list[CorpusSpec] = field(default_factory=list)
    paragraphs: bool = False  # with train/valid: a document per blank-line-separated paragraph
    valid_tokens: int | None = None  # per corpus: validate on at most this many tokens (whole documents)
    init_from: str | None = None  # start from this language model's weights and tokenizer (its architecture too)
    tokenizer_words: int = 5_000_000  # the tokenizer trains on a sample of the mix of about this many words
    tokenizer: str = "sentencepiece"  # sentencepiece | word
    vocab_size: int | None = None  # None: DEFAULT_VOCAB_SIZE, or the largest size a small corpus supports
    batch_size: int = 32
    bptt: int = 70
    variable_length: bool = True
    half: bool = False  # store the best model's weights in float16 (last/ stays float32)
    device: str = "auto"
    # Settings picked from the corpus size and the time budget (nlp_apps/training/model_size.py): any of
    # AUTO_SETTINGS; `nlp-apps pretrain` asks for them when no size option and no --init-from is given.
    auto_size: list[str] = field(default_factory=list)
    size_note: str | None = None  # the pick, as logged; the picked values are in the fields above
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "batch_size", "bptt"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.valid_tokens is not None and self.valid_tokens < 1:
            raise ValueError(f"valid_tokens must be at least 1, got {self.valid_tokens}")
        self.auto_size = list(self.auto_size)
        if unknown := sorted(set(self.auto_size) - set(AUTO_SETTINGS)):
            raise ValueError(f"auto_size: unknown setting(s) {', '.join(unknown)}; choose from {', '.join(AUTO_SETTINGS)}")
        if self.init_from and "model" in self.auto_size:
            raise ValueError("auto_size cannot pick the model of a run that starts from init_from")
        self.corpora = [c if isinstance(c, CorpusSpec) else CorpusSpec.from_dict(c) for c in self.corpora]
        if self.train is not None or self.valid is not None:
            if self.corpora:
                raise ValueError("give either corpora or a train/valid pair, not both")
            if not (self.train and self.valid):
                raise ValueError("a single corpus needs both train and valid")
            self.corpora = [CorpusSpec(name=corpus_name(self.train), train=[self.train], valid=self.valid,
                                       paragraphs=self.paragraphs)]
            self.train = self.valid = None
        if not self.corpora:
            raise ValueError("no training corpus given")

    @property
    def single(self) -> bool:
        """One corpus read in order: its token files keep the single-corpus names and its metrics no prefix."""
        return len(self.corpora) == 1 and self.corpora[0].weight == 1.0

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["corpora"] = [c.to_dict() for c in self.corpora]
        values["backbone"] = self.backbone.to_dict()
        values["trainer"] = self.trainer.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> PretrainConfig:
        values = dict(values)
        values["backbone"] = BackboneConfig.from_dict(values.get("backbone", {}), source)
        values["trainer"] = TrainerConfig.from_dict(values.get("trainer", {}), source)
        values["corpora"] = [CorpusSpec.from_dict(c, source) for c in values.get("corpora", [])]
        return config_from_dict(cls, values, source=source)

    def data_files(self) -> list[str]:
        return [p for c in self.corpora for p in (*c.train, *([c.valid] if c.valid else []))]




def valid_file(run: PretrainConfig, spec: CorpusSpec) -> str:
    return "valid.tokens" if run.single else f"valid.{spec.name}.tokens"


def prepare_corpora(run: PretrainConfig, data_dir: Path, log=print) -> Tokenizer:
    """Train the tokenizer on a sample of the mix and write train.tokens (the mixed stream) and the
    validation token files into `data_dir`."""
    counts = {spec.name: count_documents(spec) for spec in run.corpora}  # also checks every file
    for spec in run.corpora:
        if spec.valid:
            scan_corpus(spec.valid)
    if run.init_from:
        tokenizer = load_model_tokenizer(resolve_model_dir(run.init_from))
        log(f"starting from {resolve_model_dir(run.init_from)}: its weights and its {tokenizer.vocab_size}-entry tokenizer")
        return encode_corpora(run, data_dir, counts, tokenizer, log)
    sample = data_dir / "tokenizer-sample.txt"
    sampled = tokenizer_sample(run.corpora, counts, sample, words=run.tokenizer_words, seed=run.trainer.seed)
    size = run.vocab_size or DEFAULT_VOCAB_SIZE
    log(f"training a {run.tokenizer} tokenizer ({size} entries) on a sample of "
        f"{sum(sampled.values()):,} words ({', '.join(f'{k} {v:,}' for k, v in sampled.items())}) ...")
    try:
        tokenizer = train_tokenizer(run.tokenizer, sample, size, seed=run.trainer.seed, shrink_to_fit=run.vocab_size is None)
    except DataError as exc:  # name the user's corpora, not the temporary sample
        raise DataError(", ".join(spec.train[0] for spec in run.corpora), exc.problem) from None
    if tokenizer.vocab_size < size and run.vocab_size is None:
        log(f"the corpus supports at most {tokenizer.vocab_size} tokenizer entries: using {tokenizer.vocab_size} "
            f"(set --vocab-size to choose)")
    sample.unlink()
    return encode_corpora(run, data_dir, counts, tokenizer, log)


def encode_corpora(run: PretrainConfig, data_dir: Path, counts: dict, tokenizer: Tokenizer, log=print) -> Tokenizer:
    """Write train.tokens (the mixed stream) and the validation token files with `tokenizer`."""
    parts, summary = [], []
    for spec in run.corpora:
        train_docs, held_out = split_documents(spec, counts[spec.name])
        part = data_dir / ("train.tokens" if run.single else f"train.{spec.name}.tokens")
        stats = encode_documents(train_docs, tokenizer, part, source=spec.train[0])
        valid_docs = held_out if held_out is not None else valid_documents(spec)
        vstats = encode_documents(valid_docs, tokenizer, data_dir / valid_file(run, spec),
                                  source=spec.valid or spec.train[-1], max_tokens=run.valid_tokens)
        log(f"{spec.name}: train {stats.tokens:,} tokens, {stats.words:,} words, {stats.lines:,} documents; "
            f"valid {vstats.tokens:,} tokens, {vstats.words:,} words")
        parts.append(part)
        summary.append({"name": spec.name, "weight": spec.weight, "train_tokens": stats.tokens, "valid_tokens": vstats.tokens})
    if not run.single:
        streams = [open_token_file(p)[0] for p in parts]
        mixed = write_mixed_stream(streams, [s.weight for s in run.corpora], EOS_ID, data_dir / "train.tokens", seed=run.trainer.seed)
        words = sum(round(e["mix_tokens"] / e["train_tokens"] * open_token_file(p)[1].words)
                    for p, e in zip(parts, _with_mix_tokens(summary, mixed["per_corpus"])))
        dtype = streams[0].dtype.name
        del streams
        for part in parts:
            part.unlink()
            part.with_name(part.name + ".json").unlink()
        atomic_write_json(data_dir / "train.tokens.json", {"tokens": mixed["tokens"], "lines": 0, "words": words, "dtype": dtype})
        share = ", ".join(f"{e['name']} {e['mix_tokens'] / mixed['tokens']:.1%}" for e in summary)
        log(f"mixed stream: {mixed['tokens']:,} tokens per epoch ({share})")
    atomic_write_json(data_dir / "corpora.json", {"corpora": summary})
    return tokenizer


def _with_mix_tokens(summary: list[dict], per_corpus: list[int]) -> list[dict]:
    for entry, contributed in zip(summary, per_corpus):
        entry["mix_tokens"] = contributed
    return summary


def build_pretraining(run: PretrainConfig, out_dir: Path, *, resume: bool, log=print) -> Trainer:
    """Train the tokenizer and encode the corpora (new run) or reopen them (resume); build the Trainer.

    With several processes, process 0 prepares the data and the others open what it wrote.
    """
    data_dir = out_dir / "data"
    if resume:
        last = out_dir / "last" if (out_dir / "last").is_dir() else out_dir / "last.old"
        tokenizer = load_tokenizer(last, read_config(last)["tokenizer"])
    else:
        tokenizer_config = None
        if distributed.is_main():
            data_dir.mkdir(parents=True, exist_ok=True)
            tokenizer = prepare_corpora(run, data_dir, log)
            tokenizer_config = tokenizer.save(data_dir)  # the tokenizer the token files were written with
        tokenizer_config = distributed.broadcast_object(tokenizer_config)
        if not distributed.is_main():
            tokenizer = load_tokenizer(data_dir, tokenizer_config)
    train_tokens, _ = open_token_file(data_dir / "train.tokens")
    valid_sets = []
    for spec in run.corpora:
        tokens, stats = open_token_file(data_dir / valid_file(run, spec))
        valid_sets.append((spec.name, np.asarray(tokens), stats.words))
    if run.auto_size and not resume:  # a resumed run rebuilds what run_config.json recorded
        pick_size(run, len(train_tokens), log)
    backbone = dataclasses.replace(run.backbone, vocab_size=tokenizer.vocab_size)
    seed_everything(run.trainer.seed)
    model = RNNLanguageModel(backbone)
    if run.init_from and not resume:  # (a resumed run reads its own weights from last/)
        start, _, _ = load_language_model(resolve_model_dir(run.init_from))
        model.load_state_dict(start.state_dict())
    elif not resume:
        init_unigram_bias(model, train_tokens)
    try:
        task = LanguageModelingTask(
            model,
            tokenizer,
            train_tokens,
            valid_sets,
            batch_size=run.batch_size,
            bptt=run.bptt,
            variable_length=run.variable_length,
            seed=run.trainer.seed,
            device=resolve_device(run.device),
            data_files=tuple(run.data_files()),
            weights_dtype=torch.float16 if run.half else None,
        )
    except ValueError as exc:  # e.g. a corpus too small for the batch size
        raise DataError(run.corpora[0].train[0], str(exc)) from None
    run.backbone = backbone
    extra = {"parameters": count_parameters(model)}
    if (data_dir / "corpora.json").is_file():
        extra["corpora"] = json.loads((data_dir / "corpora.json").read_text(encoding="utf-8"))["corpora"]
    if run.size_note:
        extra["model_size"] = run.size_note
    return Trainer(task, run.trainer, out_dir, manifest_extra=extra)


def pick_size(run: PretrainConfig, train_tokens: int, log=print) -> None:
    """Set the settings `run.auto_size` names from the tier for its corpus and budget (see model_size), say so in one line."""
    tier = choose_tier(train_tokens, run.trainer.time_budget)
    picked = [s for s in run.auto_size if (s != "lr" or "optimizer" in run.auto_size or run.trainer.optimizer == tier.optimizer)
              and (s != "epochs" or run.trainer.time_budget)]  # the rate only for the tier's optimizer; epochs only with a budget
    if "model" in run.auto_size:
        run.backbone = dataclasses.replace(run.backbone, num_layers=tier.num_layers, emb_size=tier.emb_size,
                                           hidden_size=tier.hidden_size)
    if "batch_size" in run.auto_size:
        run.batch_size = tier.batch_size
    if "bptt" in run.auto_size:
        run.bptt = tier.bptt
    if "optimizer" in run.auto_size:
        run.trainer = dataclasses.replace(run.trainer, optimizer=tier.optimizer)
    if "lr" in picked:  # only where the run's optimizer is the tier's
        run.trainer = dataclasses.replace(run.trainer, lr=tier.lr)
    if "dropout" in run.auto_size:
        run.backbone = dataclasses.replace(run.backbone, input_dropout=tier.dropout, hidden_dropout=tier.dropout,
                                           output_dropout=tier.dropout)
    if "epochs" in picked:
        run.trainer = dataclasses.replace(run.trainer, epochs=BUDGET_EPOCHS)
    run.size_note = describe_pick(tier, picked, train_tokens, run.trainer.time_budget, run.backbone.cell)
    log(run.size_note)
    check_batch_shares(run.batch_size, unit="row")


UNIGRAM_SAMPLE_TOKENS = 20_000_000


def init_unigram_bias(model: RNNLanguageModel, train_tokens: np.ndarray) -> None:
    """Start the decoder bias at the log unigram distribution of the training tokens (add-one smoothed,
    counted on at most the first UNIGRAM_SAMPLE_TOKENS), so the untrained model already predicts about as well
    as a unigram model and training spends its first steps on context instead of token frequencies."""
    counts = np.bincount(np.asarray(train_tokens[:UNIGRAM_SAMPLE_TOKENS]), minlength=model.config.vocab_size)
    counts = counts[: model.config.vocab_size].astype(np.float64) + 1.0
    with torch.no_grad():
        model.decoder_bias.copy_(torch.from_numpy(np.log(counts / counts.sum())).float())


def pretrain(run: PretrainConfig, out_dir: str | os.PathLike, *, overwrite: bool = False, log=print) -> TrainResult:
    distributed.init_from_env()
    log = log if distributed.is_main() else _quiet
    for path in run.data_files():  # bad input must not cost an earlier run (--overwrite)
        scan_corpus(path)
    check_batch_shares(run.batch_size, unit="row")
    with new_run(out_dir, overwrite=overwrite) as run_dir:
        trainer = build_pretraining(run, run_dir, resume=False, log=log)
        write_run_config(run_dir, run.to_dict())  # with the vocabulary size the tokenizer ended up with
        return trainer.fit()


def _quiet(*args, **kwargs) -> None:
    """The log of processes other than process 0: they would only repeat its lines."""


def resume_pretraining(out_dir: str | os.PathLike, *, overrides: dict | None = None, log=print) -> TrainResult:
    """Continue an interrupted run from OUT/last; `overrides` may change the trainer's limits."""
    distributed.init_from_env()
    out_dir = Path(out_dir)
    log = log if distributed.is_main() else _quiet
    try:
        run = PretrainConfig.from_dict(read_run_config(out_dir), f"{out_dir / RUN_CONFIG_FILE}")
    except (ValueError, TypeError) as exc:
        raise CheckpointError(out_dir / RUN_CONFIG_FILE, str(exc)) from None
    if overrides:
        run.trainer = dataclasses.replace(run.trainer, **overrides)
        write_run_config(out_dir, run.to_dict())
    trainer = build_pretraining(run, out_dir, resume=True, log=log)
    return trainer.fit(resume=True)
