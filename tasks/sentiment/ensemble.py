"""An ensemble of sentiment classifiers (`nlp-apps sentiment train --ensemble N`): N members trained one after another,
each with 1/N of the time budget (and the run's --epochs), into OUT/member-K; the ensemble's class probabilities are
the mean of the members'. Member K's seed is N * SEED + K, so ensembles of different --seed share no member.

Why: runs of one recipe differ by a point or two from seed to seed on SST-2, and an average of short runs cancels
much of that. Three 10-minute runs, averaged, scored 87.84 on SST-2 dev, against 86.20 for one 30-minute run and
87.08 for the three alone (mean); docs/benchmarks.md, SST-2.

The model directory: OUT/member-K/ are whole classifier directories (each loads alone, with its own n-gram path and
mix); OUT/config.json says "ensemble" (model_type), the task and the members (in "head"); OUT/metrics.json holds the
ensemble's validation scores and each member's. config.json is written last: until every member has trained, the
directory is a run to resume, not a model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from nlp_apps import __version__
from nlp_apps.data.fileio import atomic_write_json, read_json_record
from nlp_apps.errors import CheckpointError
from nlp_apps.io.checkpoint import CONFIG_FILE, FORMAT_VERSION
from nlp_apps.training import distributed
from nlp_apps.training.records import write_metrics
from nlp_apps.training.trainer import TrainerConfig, TrainResult
from tasks.sentiment.adapter import Example
from tasks.sentiment.defaults import HEAD_DEFAULTS, TRAINER_DEFAULTS
from tasks.sentiment.head_config import HeadConfig
from tasks.sentiment.metric import classification_metrics

MODEL_TYPE = "ensemble"
COMBINE = "mean_probabilities"


def member_name(index: int) -> str:
    return f"member-{index}"


def member_trainer(trainer: TrainerConfig, index: int, members: int) -> TrainerConfig:
    """Member `index`'s limits: its own seed (members * seed + index), and its share of the time budget (the epoch cap
    is each member's)."""
    budget = None if trainer.time_budget is None else trainer.time_budget / members
    return dataclasses.replace(trainer, seed=members * trainer.seed + index, time_budget=budget)


def member_finished(directory: Path, stacked: bool) -> bool:
    """Whether a member's training (and, for a stacked head, its stacking) ended; an interrupted one is resumed."""
    record = read_json_record(directory / "metrics.json")
    return record.get("status") not in (None, "interrupted") and (not stacked or "stacking" in record)


def train_ensemble(train: Sequence[Example], valid: Sequence[Example], out_dir: str | os.PathLike, *, members: int,
                   backbone: str = "default", head: HeadConfig | None = None, **options) -> TrainResult:
    """Train `members` classifiers into out_dir/member-K (`train_classifier` each, with options' trainer split by
    `member_trainer`), then write the ensemble's config.json and metrics.json. With `resume`, members that finished are
    kept, an interrupted one continues, the rest start. `options`: as `train_classifier`'s."""
    from tasks.sentiment.training import train_classifier

    if members < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {members}")
    out_dir, log = Path(out_dir), options.get("log", print)
    trainer = options.pop("trainer", None) or TrainerConfig(**TRAINER_DEFAULTS)
    resume = options.pop("resume", False)
    if options.get("recipe") is not None and options["recipe"].lm_time_budget is not None:  # a budget given for the LM stage: shared too
        options["recipe"] = dataclasses.replace(options["recipe"], lm_time_budget=options["recipe"].lm_time_budget / members)
    head = head or HeadConfig(**HEAD_DEFAULTS)
    stacked = head.ngram_features and head.ngram_combine == "stacked"
    results = []
    for index in range(members):
        directory = out_dir / member_name(index)
        member = member_trainer(trainer, index, members)
        if resume and member_finished(directory, stacked):
            record = read_json_record(directory / "metrics.json")
            best = record.get("best") or {}
            results.append(TrainResult(record["status"], record.get("steps", 0), best.get("accuracy"), best))
            continue
        budget = "" if member.time_budget is None else f", {member.time_budget / 60:.3g} min"
        log(f"ensemble: member {index + 1} of {members} (seed {member.seed}{budget}) in {directory}")
        result = train_classifier(train, valid, directory, backbone=backbone, head=head, trainer=member,
                                  resume=resume and directory.is_dir(), **options)
        if result.status == "interrupted":
            return TrainResult("interrupted", sum(r.steps for r in results) + result.steps, None, {})
        results.append(result)
    if not distributed.is_main():
        return results[-1]
    return finish_ensemble(out_dir, members, valid, results, log)


def finish_ensemble(out_dir: Path, members: int, valid: Sequence[Example], results: list[TrainResult], log) -> TrainResult:
    """Score the ensemble on the validation set, write metrics.json, then config.json (which makes the directory a model)."""
    names = [member_name(i) for i in range(members)]
    ensemble = EnsemblePipeline([load_member(out_dir / name) for name in names], out_dir)
    predicted = [p["label"] for p in ensemble.predict([e.text for e in valid])] if valid else []
    scores = classification_metrics([e.label for e in valid], predicted, ensemble.labels)
    best = {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
    record = {"status": results[-1].status, "steps": sum(r.steps for r in results), "best": best,
              "train_seconds": round(sum(read_json_record(out_dir / n / "metrics.json").get("train_seconds", 0.0) for n in names), 1),
              "members": [{"dir": name, "status": r.status, "steps": r.steps, "accuracy": r.metrics.get("accuracy")}
                          for name, r in zip(names, results)]}
    write_metrics(out_dir / "metrics.json", record)
    atomic_write_json(out_dir / CONFIG_FILE, {"format_version": FORMAT_VERSION, "nlp_apps_version": __version__, "model_type": MODEL_TYPE,
                                              "task": "sentiment", "head": {"members": names, "combine": COMBINE}, "parts": {}})
    alone = ", ".join(f"{r.metrics.get('accuracy', float('nan')):.4f}" for r in results)
    log(f"ensemble of {members}: validation accuracy {best['accuracy']:.4f} (members alone: {alone})")
    return TrainResult(results[-1].status, record["steps"], best["accuracy"], best)


def load_member(directory: Path, device: str = "cpu"):
    from tasks.sentiment.pipeline import load

    return load(directory, device=device)


def load_ensemble(path: Path, head: dict, device: str = "cpu") -> EnsemblePipeline:
    """The ensemble a config.json's "head" describes ({"members": [directory names], "combine": "mean_probabilities"})."""
    names = head.get("members")
    if head.get("combine") != COMBINE or not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise CheckpointError(path / CONFIG_FILE, f'an ensemble\'s "head" needs "combine": "{COMBINE}" and a list of 2 or more member directories')
    for name in names:
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise CheckpointError(path / CONFIG_FILE, f"member {name!r} must be a directory inside the ensemble")
    pipelines = [load_member(path / name, device) for name in names]
    for name, pipeline in zip(names[1:], pipelines[1:]):
        if pipeline.labels != pipelines[0].labels:
            raise CheckpointError(path / name, f"labels {pipeline.labels} differ from the first member's {pipelines[0].labels}")
    return EnsemblePipeline(pipelines, path)


class EnsemblePipeline:
    """Sentiment pipelines behind one: SentimentPipeline's methods, the members' class probabilities averaged."""

    def __init__(self, members: list, path: Path | None = None):
        self.members, self.path = members, path
        self.labels = members[0].labels

    @property
    def precision(self) -> str:
        return getattr(self.members[0], "precision", "auto")

    @precision.setter
    def precision(self, value: str) -> None:
        for member in self.members:
            member.precision = value

    @property
    def stacked(self) -> bool:
        return all(member.stacked for member in self.members)

    def probabilities(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """(N, C): the mean of the members' class probabilities."""
        return torch.stack([m.probabilities(texts, batch_size).float() for m in self.members]).mean(0)

    def path_logits(self, texts: Sequence[str], batch_size: int = 64, rnn_only: bool = False) -> dict[str, torch.Tensor]:
        """Each path's log mean probability over the members (their softmax is the mean of the members' softmaxes)."""
        by_member = [m.path_logits(texts, batch_size, rnn_only) for m in self.members]
        return {path: torch.stack([logits[path].float().softmax(-1) for logits in by_member]).mean(0).log() for path in by_member[0]}

    def predict(self, texts: Sequence[str] | str, batch_size: int = 64) -> list[dict]:
        """As SentimentPipeline.predict, from the averaged probabilities."""
        from nlp_apps.data.inputs import text_list
        from tasks.sentiment.pipeline import label_predictions

        texts, _ = text_list(texts)
        return label_predictions(self.labels, self.probabilities(texts, batch_size))
