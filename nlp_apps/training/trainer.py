"""The Trainer owns the loop: devices, LR schedule, clipping, evaluation, early stopping,
best/last checkpoints, resume, progress and logs. A task only defines its step.

A run directory looks like:

    OUT/                 the best model so far (a loadable model directory)
      log.csv  metrics.json  manifest.json  curves.png
      last/              the latest state: model + trainer_state.pt, used by --resume
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from nlp_apps.errors import TrainingError
from nlp_apps.precision import Choice, autocast, resolve_precision
from nlp_apps.threads import ThreadSharing
from nlp_apps.training import distributed
from nlp_apps.training.checkpointing import load_last, save_last
from nlp_apps.training.records import (
    hash_data_files,
    plot_curves,
    units_column,
    write_log_csv,
    write_manifest,
    write_metrics,
)
from nlp_apps.training.runs import prepare_run_dir  # noqa: F401 (re-exported)
from nlp_apps.training.schedules import SLANTED_CUT, lr_multiplier
from nlp_apps.training.trainer_config import TrainerConfig, parse_duration  # noqa: F401 (re-exported)
from nlp_apps.training.weight_average import WeightAverage


@dataclass
class StepOutput:
    loss: torch.Tensor  # scalar, the quantity to minimise
    units: int  # what `loss` is the mean over (tokens, words or examples): weighs each process's share under torchrun; throughput


class TrainingTask(Protocol):
    """What the Trainer needs from a task (language modelling or a fine-tuning task).

    `nlp_apps.training.batched_task.BatchedTask` implements the epoch, resume and data-file methods for a
    task whose epoch is a shuffled list of batches; the fine-tuning tasks subclass it."""

    model: nn.Module
    device: torch.device
    metric: str  # key of evaluate()'s result used for early stopping and best checkpoints
    metric_mode: str  # "min" or "max"
    unit: str  # "tok" or "ex", for the progress bar
    # Optional: loss_is_token_nll = True makes the progress line show exp(loss) as a perplexity.

    def param_groups(self) -> list[dict]: ...  # [{"params": [...], "lr_scale": float}, ...]
    def steps_per_epoch(self) -> int: ...
    def start_epoch(self, epoch: int) -> None: ...
    def next_batch(self) -> Any: ...  # None at the end of an epoch
    def training_step(self, batch: Any) -> StepOutput: ...
    def evaluate(self) -> dict[str, float]: ...
    def save(self, directory: Path, exact: bool = False) -> None: ...  # a loadable model dir; exact: full precision
    def state_dict(self) -> dict: ...  # data position, carried recurrent state, ...
    def load_state_dict(self, state: dict) -> None: ...
    def data_files(self) -> list[str]: ...


@dataclass
class Control:
    """The only thing a callback may change."""

    should_stop: bool = False  # finish now as if the budget ran out (evaluates, saves)
    should_interrupt: bool = False  # save last/ and stop, as on Ctrl-C


class Callback:
    def on_train_start(self, trainer: Trainer, control: Control) -> None: ...
    def on_step_end(self, trainer: Trainer, control: Control) -> None: ...
    def on_eval_end(self, trainer: Trainer, metrics: dict, control: Control) -> None: ...
    def on_save(self, trainer: Trainer, directory: Path) -> None: ...

    def lr_factors(self, trainer: Trainer) -> Sequence[float] | None:
        """A factor per optimizer group on this step's scheduled learning rate; None: no change."""
        return None

    def state_dict(self) -> dict:  # saved in last/ and handed back on resume
        return {}

    def load_state_dict(self, state: dict) -> None: ...


# When processes disagree on why to stop, the highest-ranked reason wins.
STOP_REASONS = (None, "time_budget", "max_steps", "stopped", "interrupted")


@dataclass
class TrainResult:
    status: str  # finished | early_stopped | time_budget | max_steps | stopped | interrupted
    steps: int
    best_metric: float | None
    metrics: dict = field(default_factory=dict)


def resolve_device(name: str = "auto") -> torch.device:
    """auto: CUDA when present. With several processes each one takes the GPU of its local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and distributed.active():
        return torch.device("cuda", distributed.local_rank())
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    def __init__(
        self,
        task: TrainingTask,
        config: TrainerConfig,
        out_dir: str | os.PathLike,
        callbacks: Iterable[Callback] = (),
        manifest_extra: dict | None = None,
    ):
        # Every process must schedule and stop alike, so all of them use process 0's settings.
        self.task, self.config, self.out_dir = task, distributed.broadcast_object(config), Path(out_dir)
        self.callbacks = list(callbacks)
        self.manifest_extra = manifest_extra or {}
        self.control = Control()
        self.step = 0
        self.epoch = 0
        self.units = 0
        self.mid_epoch = False
        self.best_metric: float | None = None
        self.best_metrics: dict = {}
        self.bad_evals = 0
        self.elapsed_before = 0.0
        self.train_seconds = 0.0  # optimizer steps only: no evaluation, no checkpointing
        self.log_rows: list[dict] = []
        self.row_loss, self.row_steps = 0.0, 0  # training loss summed over the steps since the last log row
        self.last_eval_step = -1
        self.shared_elapsed = 0.0  # with several processes: the elapsed time they agreed on at the last step
        self.optimizer = self._build_optimizer()
        self._signal = None
        self._parallel: distributed.DataParallelStep | None = None  # under torchrun, while fit runs
        self.precision: Choice | None = None  # resolved when fit starts; a resumed run keeps its own
        self.weight_average: WeightAverage | None = None  # with config.average_decay: made when fit starts, or loaded

    # ---- setup -------------------------------------------------------------------------

    def _build_optimizer(self) -> torch.optim.Optimizer:
        groups = []
        for group in self.task.param_groups():
            params = [p for p in group["params"]]
            groups.append({"params": params, "lr": self.config.lr * group.get("lr_scale", 1.0), "lr_scale": group.get("lr_scale", 1.0)})
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=self.config.lr, momentum=self.config.momentum, weight_decay=self.config.weight_decay)
        return torch.optim.AdamW(groups, lr=self.config.lr, betas=self.config.betas, weight_decay=self.config.weight_decay)

    def planned_steps(self) -> int:
        planned = self.config.epochs * self.task.steps_per_epoch()
        if self.config.max_steps is not None:
            planned = min(planned, self.config.max_steps)
        return max(1, planned)

    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self._started)

    def progress(self) -> float:
        p = self.step / self.planned_steps()
        if self.config.time_budget:
            # Processes must agree on the learning rate to the last bit, so they share one clock.
            elapsed = self.shared_elapsed if distributed.active() else self.elapsed()
            p = max(p, elapsed / self.config.time_budget)
        return min(1.0, p)

    def warmup(self) -> float:
        """The fraction of training spent warming up: the schedule's own, capped at config.warmup_steps steps
        (progress per step so far tells what fraction that many steps are, in a time budget too)."""
        warmup = SLANTED_CUT if self.config.schedule == "slanted_triangular" else self.config.warmup
        if self.config.warmup_steps is not None and self.step > 0:
            warmup = min(warmup, self.config.warmup_steps * self.progress() / self.step)
        return warmup

    def _set_lr(self) -> float:
        factor = lr_multiplier(self.config.schedule, self.progress(), self.warmup())
        gates = [1.0] * len(self.optimizer.param_groups)
        for cb in self.callbacks:
            factors = cb.lr_factors(self)
            if factors is not None:
                gates = [g * f for g, f in zip(gates, factors, strict=True)]
        for group, gate in zip(self.optimizer.param_groups, gates):
            group["lr"] = self.config.lr * factor * group["lr_scale"] * gate
        return self.config.lr * factor

    # ---- the loop ----------------------------------------------------------------------

    def fit(self, resume: bool = False) -> TrainResult:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._resumed = resume
        # Hashed once, at the start of a run: a resumed session never needs the raw data (it may have moved).
        self._data_hashes = hash_data_files(self.task.data_files()) if not resume and distributed.is_main() else None
        sharing = ThreadSharing(log=self._print)
        if resume:
            self._load_last()
            self._print(f"resuming at step {self.step}")
        if self.precision is None:  # a new run, or a resumed one saved before precision was recorded
            choice = resolve_precision(self.config.precision, self.task.model, self.task.device)
            self.precision = distributed.broadcast_object(choice)  # every process runs alike
            self._record_precision()
        self._print(self.precision.describe())
        if not resume:
            seed_everything(self.config.seed)
            if distributed.rank() > 0:  # its own dropout masks; data order comes from the task's seeded generators
                torch.manual_seed(self.config.seed + 7919 * distributed.rank())  # (CUDA generators too)
        distributed.broadcast_parameters(self.task.model)
        if self.config.average_decay and self.weight_average is None:
            self.weight_average = WeightAverage(self.task.model, self.config.average_decay)
        if distributed.active():
            trained = [p for group in self.optimizer.param_groups for p in group["params"]]
            self._parallel = distributed.DataParallelStep(self.task.model, self.task.training_step, extra=trained)
        self.shared_elapsed = self.elapsed_before
        self._started = time.monotonic()
        self._first_step = self.step
        self._wall_started = time.time()
        self._last_checkpoint = time.monotonic()
        status, bar = None, None
        window_loss, window_units, window_steps, window_start = 0.0, 0, 0, time.monotonic()
        self._install_signal_handlers()
        try:
            sharing.start()
            for cb in self.callbacks:
                cb.on_train_start(self, self.control)
            bar = self._progress_bar()
            while self.epoch < self.config.epochs and status is None:
                if not self.mid_epoch:
                    self.task.start_epoch(self.epoch)
                    self.mid_epoch = True
                while status is None:
                    batch = self.task.next_batch()
                    if batch is None:
                        break
                    lr = self._set_lr()
                    step_start = time.monotonic()
                    loss, units = self._train_step(batch)
                    self.train_seconds += time.monotonic() - step_start
                    self.step += 1
                    self.units += units
                    window_loss, window_units, window_steps = window_loss + loss, window_units + units, window_steps + 1
                    self.row_loss, self.row_steps = self.row_loss + loss, self.row_steps + 1
                    if bar is not None:
                        bar.update(1)
                    if self.step % self.config.log_every == 0 or (bar is not None and window_steps >= 10):
                        rate = window_units / max(1e-9, time.monotonic() - window_start)
                        mean_loss = window_loss / window_steps
                        if bar is not None:
                            bar.set_postfix_str(self._postfix(mean_loss, rate, lr), refresh=False)
                        if self.step % self.config.log_every == 0:
                            self._log_train_row(lr, rate)
                            if bar is None:  # no bar (--no-progress, a log file): one plain line instead
                                self._print(f"step {self.step} epoch {self.epoch + 1}: {self._postfix(mean_loss, rate, lr)}")
                        window_loss, window_units, window_steps, window_start = 0.0, 0, 0, time.monotonic()
                    for cb in self.callbacks:
                        cb.on_step_end(self, self.control)
                    sharing.check()
                    status, checkpoint_due = self._agree(
                        self._stop_reason(), time.monotonic() - self._last_checkpoint > self.config.checkpoint_every)
                    if status is None and self.config.eval_every and self.step % self.config.eval_every == 0:
                        status = self._evaluate()
                    if status is None and checkpoint_due:
                        self._save_last()
                if status is None:  # the epoch ended
                    self.epoch += 1
                    self.mid_epoch = False
                    if not self.config.eval_every:
                        status = self._evaluate()
            if status is None:
                status = "finished"
            if status != "interrupted" and self.last_eval_step != self.step:
                self._evaluate()
        finally:
            sharing.stop()
            if self._parallel is not None:  # its hooks leave the parameters (a later stage may train them)
                self._parallel.close()
                self._parallel = None
            if bar is not None:
                bar.close()
            self._restore_signal_handlers()
        if status == "interrupted" or self.config.keep_last:
            self._save_last()
        elif distributed.is_main():  # --drop-last: the model stays, the resumable state (optimizer and all) goes
            shutil.rmtree(self.out_dir / "last", ignore_errors=True)
        self._write_records(status)
        distributed.barrier()  # the other processes may read what process 0 wrote once fit returns
        return TrainResult(status=status, steps=self.step, best_metric=self.best_metric, metrics=self.best_metrics)

    def _train_step(self, batch: Any) -> tuple[float, int]:
        model = self.task.model
        model.train()
        if self._parallel is not None:
            # Several processes: DistributedDataParallel averages the gradients while the backward pass runs,
            # each process's loss weighed by its share of the global batch's units (distributed.DataParallelStep).
            with autocast(self.precision.precision, self.task.device):
                loss, units = self._parallel.forward(batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss_value, units = self._parallel.backward(loss, units)
        else:
            with autocast(self.precision.precision, self.task.device):
                out = self.task.training_step(batch)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            loss_value, units = float(out.loss.detach()), out.units
        if not math.isfinite(loss_value):
            raise TrainingError(
                f"loss became {loss_value} at step {self.step + 1}; lower --lr or raise --clip "
                f"(checkpoints in {self.out_dir} are left as they were)"
            )
        if self.config.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.clip)
        self.optimizer.step()
        if self.weight_average is not None:
            self.weight_average.update()
        return loss_value, units

    def _agree(self, status: str | None, checkpoint_due: bool) -> tuple[str | None, bool]:
        """With several processes: one stop reason, one checkpoint decision and one clock for all."""
        if not distributed.active():
            return status, checkpoint_due
        local = torch.tensor([self.elapsed(), STOP_REASONS.index(status), float(checkpoint_due)], dtype=torch.float64)
        elapsed, reason, due = distributed.max_tensor(local.to(self.task.device)).tolist()
        self.shared_elapsed = elapsed
        return STOP_REASONS[int(reason)], bool(due)

    def _stop_reason(self) -> str | None:
        if self._signal is not None or self.control.should_interrupt:
            return "interrupted"
        if self.control.should_stop:
            return "stopped"
        if self.config.max_steps is not None and self.step >= self.config.max_steps:
            return "max_steps"
        if self.config.time_budget and self.elapsed() >= self.config.time_budget:
            return "time_budget"
        return None

    def _evaluate(self) -> str | None:
        with self._averaged_weights():  # the weights validated are the weights a new best saves
            return self._evaluate_and_keep_best()

    def _averaged_weights(self):
        return self.weight_average.applied() if self.weight_average is not None else contextlib.nullcontext()

    def _evaluate_and_keep_best(self) -> str | None:
        metrics = None
        if distributed.is_main():
            with autocast(self.precision.precision, self.task.device):
                metrics = self.task.evaluate()
        metrics = distributed.broadcast_object(metrics)
        self.last_eval_step = self.step
        value = metrics[self.task.metric]
        better = self.best_metric is None or (
            value < self.best_metric if self.task.metric_mode == "min" else value > self.best_metric
        )
        row = {"step": self.step, "epoch": self.epoch, self._units_column(): self.units, "elapsed_s": round(self.elapsed(), 1)}
        train_loss = self._take_row_loss()
        if train_loss is not None:  # so that even a run shorter than log_every has a training curve
            row["train_loss"] = train_loss
        row.update({f"valid_{k}" if not k.startswith("valid_") else k: v for k, v in metrics.items()})
        self.log_rows.append(row)
        if better:
            self.best_metric, self.bad_evals = value, 0
            self.best_metrics = dict(metrics, step=self.step)
            if distributed.is_main():
                self.task.save(self.out_dir)
                for cb in self.callbacks:
                    cb.on_save(self, self.out_dir)
        else:
            self.bad_evals += 1
        self._print(f"eval @ step {self.step}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()) + (" (best)" if better else ""))
        for cb in self.callbacks:
            cb.on_eval_end(self, metrics, self.control)
        if distributed.is_main():
            write_log_csv(self.out_dir / "log.csv", self.log_rows, self._units_column())
        if self.config.patience is not None and self.bad_evals >= self.config.patience:
            return "early_stopped"
        return None

    def _record_precision(self) -> None:
        """The chosen precision goes into the run's run_config.json (where the command wrote one)."""
        from nlp_apps.training.runs import RUN_CONFIG_FILE, write_run_config

        path = self.out_dir / RUN_CONFIG_FILE
        if not distributed.is_main() or not path.is_file():
            return
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return
        if isinstance(values.get("trainer"), dict):
            values["trainer"]["precision"] = self.precision.precision
            write_run_config(self.out_dir, values)

    # ---- checkpoints -------------------------------------------------------------------

    def _save_last(self) -> None:
        save_last(self)

    def _load_last(self) -> None:
        load_last(self)

    # ---- signals, progress, records ----------------------------------------------------

    def _install_signal_handlers(self) -> None:
        self._previous_handlers = {}

        def handler(signum, frame):
            if self._signal is not None:  # a second Ctrl-C: give up at once
                raise KeyboardInterrupt
            self._signal = signum
            self._print("interrupt received: saving a resumable checkpoint after this step...")

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous_handlers[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: no handlers, Ctrl-C behaves as usual
                pass

    def _restore_signal_handlers(self) -> None:
        for sig, previous in self._previous_handlers.items():
            signal.signal(sig, previous)

    def _shows_bar(self) -> bool:
        """--progress forces the bar and --no-progress turns it off; unset, a log file gets plain lines."""
        return sys.stderr.isatty() if self.config.progress is None else self.config.progress

    def _progress_bar(self):
        if not self._shows_bar() or not distributed.is_main():
            return None
        from tqdm import tqdm

        tty = sys.stderr.isatty()
        return tqdm(
            total=self.planned_steps(),
            initial=self.step,
            unit="step",
            # tqdm's own ETA ignores the time budget; ours is in the postfix.
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} steps [{elapsed}{postfix}]",
            dynamic_ncols=True,
            mininterval=0.5 if tty else 30.0,
            file=sys.stderr,
            leave=True,
        )

    def _postfix(self, loss: float, rate: float, lr: float) -> str:
        parts = [f"loss={loss:.3f}"]
        if getattr(self.task, "loss_is_token_nll", False):  # not a label-smoothed or combined loss
            parts.append(f"ppl={math.exp(min(loss, 50)):.1f}")
        parts.append(f"{rate:,.0f} {self.task.unit}/s")
        parts.append(f"lr={lr:.2g}")
        parts.append(f"eta={format_seconds(self._eta())}")
        return " ".join(parts)

    def _eta(self) -> float:
        """Seconds left: the planned steps at the current pace, or the time budget if it ends first."""
        elapsed_here = time.monotonic() - self._started
        steps_here = max(1, self.step - self._first_step)
        eta = (self.planned_steps() - self.step) * elapsed_here / steps_here
        if self.config.time_budget:
            eta = min(eta, self.config.time_budget - self.elapsed())
        return max(0.0, eta)

    def _units_column(self) -> str:
        return units_column(self.task.unit)

    def _take_row_loss(self) -> float | None:
        """The mean training loss since the last log row (None if no step ran since), for a new row."""
        if not self.row_steps:
            return None
        loss = self.row_loss / self.row_steps
        self.row_loss, self.row_steps = 0.0, 0
        return round(loss, 5)

    def _log_train_row(self, lr: float, rate: float) -> None:
        units = self._units_column()
        self.log_rows.append(
            {
                "step": self.step,
                "epoch": self.epoch,
                units: self.units,
                "elapsed_s": round(self.elapsed(), 1),
                "lr": lr,
                "train_loss": self._take_row_loss(),
                f"{units}_per_s": round(rate, 1),
            }
        )
        if distributed.is_main():  # kept current, so a run without a progress bar can be followed in log.csv
            write_log_csv(self.out_dir / "log.csv", self.log_rows, self._units_column())

    def _print(self, message: str) -> None:
        if not distributed.is_main():
            return
        if self._shows_bar():
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def _write_records(self, status: str) -> None:
        if not distributed.is_main():
            return
        wall = self.elapsed()
        metrics = {
            "status": status,
            "steps": self.step,
            "epochs_completed": self.epoch,
            f"{self.task.unit}_trained": self.units,
            "wall_seconds": round(wall, 1),
            "train_seconds": round(self.train_seconds, 1),
            f"{self.task.unit}_per_s": round(self.units / max(self.train_seconds, 1e-9), 1),
            "best": self.best_metrics,
            "precision": self.precision.precision,
            "precision_reason": self.precision.reason,
        }
        write_metrics(self.out_dir / "metrics.json", metrics)
        write_log_csv(self.out_dir / "log.csv", self.log_rows, self._units_column())
        if self.log_rows:
            plot_curves(self.out_dir / "curves.png", self.log_rows, f"valid_{self.task.metric}".replace("valid_valid_", "valid_"))
        write_manifest(
            self.out_dir / "manifest.json",
            seed=self.config.seed,
            data_files=self._data_hashes,
            wall_time_s=wall,
            started=self._wall_started,
            device=str(self.task.device),
            extra={"trainer": self.config.to_dict(), "precision": {"chosen": self.precision.precision, "reason": self.precision.reason},
                   **self.manifest_extra},
            resumed=self._resumed,
        )


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"
