"""Training an encoder-decoder with the core Trainer: the task that translation and summarization share.

Batches are (source, target) pairs bucketed by length; the loss is label-smoothed cross-entropy
per target token; validation decodes the validation sources (greedy, so evaluation stays cheap)
and scores them with the task's metric, whose headline score drives early stopping.

A late coverage phase (the model's config.coverage_from > 0, See et al. 2017): the model trains without
coverage until the Trainer's progress reaches coverage_from, then with the coverage feature and loss to
the end. Progress is the Trainer's own measure (nlp_apps.training.schedules), the larger of steps done /
planned steps and training time / time budget; the task keeps its step count and training time in its
resumable state, so a resumed run switches where an uninterrupted one does (at the same step when steps
decide) and, once switched, stays switched.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from nlp_apps.data.batching import pad_sequences
from nlp_apps.data.tokenizer import EOS_ID
from nlp_apps.data.windows import bucket_pair_batches
from nlp_apps.seq2seq.decoding import DecodeConfig, decode_all
from nlp_apps.training import distributed
from nlp_apps.training.batched_task import BatchedTask
from nlp_apps.training.trainer import StepOutput, TrainerConfig


class CoveragePhase:
    """When a late coverage phase begins: at `start` of the Trainer's progress, max(steps / planned_steps,
    elapsed / time_budget), counted by the task that owns it (`due` before each training step, then steps += 1)."""

    def __init__(self, start: float, planned_steps: int, time_budget: float | None):
        self.start, self.planned_steps, self.time_budget = start, max(1, planned_steps), time_budget
        self.steps = 0  # training steps done, across resumes
        self.elapsed_before = 0.0  # seconds of earlier sessions, across resumes
        self.session_start: float | None = None  # this session's clock, from its first step
        self.joined_at: int | None = None  # the step at which coverage joined (None: not yet)

    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.session_start if self.session_start is not None else 0.0)

    def progress(self) -> float:
        p = self.steps / self.planned_steps
        if self.time_budget:
            p = max(p, self.elapsed() / self.time_budget)
        return min(1.0, p)

    def due(self, device: torch.device) -> bool:
        """Whether the step about to run is in the coverage phase (the Trainer sets its learning rate at the same point)."""
        if self.session_start is None:
            self.session_start = time.monotonic()
        if self.joined_at is not None:
            return True
        due = self.progress() >= self.start
        if self.time_budget and distributed.active():  # the processes' clocks differ a little: one decision for all
            due = bool(distributed.max_tensor(torch.tensor([float(due)], dtype=torch.float64, device=device)).item())
        return due

    def state_dict(self) -> dict:
        return {"steps": self.steps, "elapsed": self.elapsed(), "joined_at": self.joined_at}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.elapsed_before, self.joined_at = int(state["steps"]), float(state["elapsed"]), state["joined_at"]
        self.session_start = None


def stage_trainer(trainer: TrainerConfig, backbone_dir: Path) -> TrainerConfig:
    """The trainer settings the task stage of `run_recipe` runs under: after a language-model stage, what that stage
    left of the time budget (as run_recipe computes it), so that the task's progress is the Trainer's."""
    from nlp_apps.training.finetune import LM_DIR, LM_DONE_MARKER, lm_stage_seconds

    backbone_dir = Path(backbone_dir)
    if trainer.time_budget and backbone_dir.name == LM_DIR and (backbone_dir / LM_DONE_MARKER).is_file():
        return dataclasses.replace(trainer, time_budget=max(1.0, trainer.time_budget - lm_stage_seconds(backbone_dir)))
    return trainer


class Seq2SeqTask(BatchedTask):
    unit = "tok"

    def __init__(
        self,
        model,
        train_pairs: Sequence[tuple[list[int], list[int]]],
        valid_sources: Sequence[list[int]],
        *,
        evaluate: Callable[[list[list[int]]], dict[str, float]],
        save: Callable[[Path], None],
        metric: str,
        param_groups: list[dict],
        batch_size: int = 64,
        max_decode_length: int = 100,
        seed: int = 0,
        device: torch.device = torch.device("cpu"),
        data_files: Sequence[str] = (),
        trainer: TrainerConfig | None = None,
        log: Callable[[str], None] | None = None,
    ):
        """train_pairs: (source ids, target ids) without </s>; `evaluate` scores the decoded validation
        outputs (ids, in the order of valid_sources); `save` writes a loadable model directory.
        `trainer`: the settings the Trainer runs this task with (`stage_trainer`), needed when the model's
        coverage joins late (config.coverage_from > 0); `log` says when it joins."""
        super().__init__(train_size=len(train_pairs), batch_size=batch_size, seed=seed, device=device, data_files=data_files)
        self.model = model.to(device)
        self.sources = [s for s, _ in train_pairs]
        self.targets = [t + [EOS_ID] for _, t in train_pairs]
        self.valid_sources = list(valid_sources)
        self._evaluate, self._save, self._groups = evaluate, save, param_groups
        self.metric, self.metric_mode = metric, "max"
        self.max_decode_length = max_decode_length
        self.log = log or (lambda message: None)
        self.coverage_phase: CoveragePhase | None = None
        self.last_coverage_loss: float | None = None  # the last step's coverage loss per scored token (None: off)
        config = model.config
        if config.coverage and config.coverage_from > 0:
            if trainer is None:
                raise ValueError("a late coverage phase (coverage_from > 0) needs the trainer's settings (trainer=...)")
            planned = trainer.epochs * self.steps_per_epoch()
            if trainer.max_steps is not None:
                planned = min(planned, trainer.max_steps)
            self.coverage_phase = CoveragePhase(config.coverage_from, planned, trainer.time_budget)
            self.model.coverage_active = False

    def param_groups(self) -> list[dict]:
        return self._groups

    def epoch_batches(self, rng: np.random.Generator) -> list[list[int]]:
        return bucket_pair_batches([len(s) for s in self.sources], [len(t) for t in self.targets], self.batch_size,
                                   shuffle=True, generator=rng)

    def training_step(self, batch: list[int]) -> StepOutput:
        if self.coverage_phase is not None:
            self._coverage_phase_step()
        batch = self.local_share(batch)
        if not batch:
            return self.empty_step()
        source, lengths = pad_sequences([self.sources[i] for i in batch])
        targets, _ = pad_sequences([self.targets[i] for i in batch])
        nll, coverage, tokens = self.model.loss_terms(source.to(self.device), lengths.to(self.device), targets.to(self.device))
        loss = nll
        if coverage is not None:
            loss = loss + self.model.config.coverage_weight * coverage
        self.last_coverage_loss = float(coverage.detach()) / max(1, tokens) if coverage is not None else None
        return StepOutput(loss=loss / max(1, tokens), units=tokens)

    def _coverage_phase_step(self) -> None:
        """Before each training step: coverage on from the step at which the phase begins."""
        phase = self.coverage_phase
        if phase.due(self.device) and phase.joined_at is None:
            phase.joined_at = phase.steps
            if distributed.is_main():
                self.log(f"step {phase.steps}: coverage joins (attention feature and loss, weight {self.model.config.coverage_weight:g}) "
                         f"at {phase.progress():.0%} of training (coverage_from {phase.start:g})")
        self.model.coverage_active = phase.joined_at is not None
        phase.steps += 1

    def evaluate(self) -> dict[str, float]:
        config = DecodeConfig(beam_size=1, max_length=self.max_decode_length)
        outputs = [h[0][1] for h in decode_all(self.model, self.valid_sources, config, device=self.device)]
        return self._evaluate(outputs)

    def save(self, directory: Path, exact: bool = False) -> None:
        self._save(directory)

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.coverage_phase is not None:
            state["coverage_phase"] = self.coverage_phase.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if self.coverage_phase is not None and "coverage_phase" in state:
            self.coverage_phase.load_state_dict(state["coverage_phase"])
            self.model.coverage_active = self.coverage_phase.joined_at is not None
