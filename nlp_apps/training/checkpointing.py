"""The Trainer's resumable state in OUT/last/: the exact model, the optimizer, the task's data position,
the callbacks' state and every random generator, written beside the old copy and swapped in, so a crash
never leaves a torn checkpoint. Loaded with torch.load(weights_only=True): no pickled code runs."""

from __future__ import annotations

import os
import random
import shutil
import time

import numpy as np
import torch

from nlp_apps.errors import CheckpointError
from nlp_apps.precision import Choice, check_precision
from nlp_apps.training import distributed
from nlp_apps.training.weight_average import WeightAverage

TRAINER_STATE_FILE = "trainer_state.pt"


def save_last(trainer) -> None:
    """Write last/ completely beside the old one, then swap, so a crash never leaves a torn copy.

    With several processes every one of them calls this (the task's state and the random
    generators are gathered from all), and process 0 writes.
    """
    task_state = trainer.task.state_dict()
    rng_states = distributed.gather_objects(rng_state())
    trainer._last_checkpoint = time.monotonic()
    if not distributed.is_main():
        return
    final, staging, old = trainer.out_dir / "last", trainer.out_dir / "last.tmp", trainer.out_dir / "last.old"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    trainer.task.save(staging, exact=True)
    state = {
        "step": trainer.step,
        "epoch": trainer.epoch,
        "units": trainer.units,
        "mid_epoch": trainer.mid_epoch,
        "best_metric": trainer.best_metric,
        "best_metrics": trainer.best_metrics,
        "bad_evals": trainer.bad_evals,
        "elapsed": trainer.elapsed(),
        "train_seconds": trainer.train_seconds,
        "last_eval_step": trainer.last_eval_step,
        "log_rows": trainer.log_rows,
        "model": trainer.task.model.state_dict(),  # exact weights, whatever format task.save uses
        "optimizer": trainer.optimizer.state_dict(),
        "task": task_state,
        "callbacks": [cb.state_dict() for cb in trainer.callbacks],
        "rng": rng_states[0],
        "rng_per_process": rng_states,
        "precision": [trainer.precision.precision, trainer.precision.reason],
    }
    if trainer.weight_average is not None:
        state["weight_average"] = trainer.weight_average.state_dict()
    torch.save(state, staging / TRAINER_STATE_FILE)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)
    for cb in trainer.callbacks:
        cb.on_save(trainer, final)


def load_last(trainer) -> None:
    last = trainer.out_dir / "last"
    if not (last / TRAINER_STATE_FILE).is_file() and (trainer.out_dir / "last.old" / TRAINER_STATE_FILE).is_file():
        last = trainer.out_dir / "last.old"  # a crash happened mid-swap
    state_path = last / TRAINER_STATE_FILE
    if not state_path.is_file():
        raise CheckpointError(trainer.out_dir, "nothing to resume: last/trainer_state.pt is missing")
    try:
        state = torch.load(state_path, map_location=trainer.task.device, weights_only=True)
    except Exception as exc:  # torch raises several types for a bad or unsafe file
        raise CheckpointError(state_path, f"cannot read trainer state: {exc}") from None
    required = ("model", "optimizer", "task", "rng", "elapsed", "step", "epoch", "units", "mid_epoch",
                "best_metric", "best_metrics", "bad_evals", "last_eval_step", "log_rows")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(state_path, f"trainer state lacks {', '.join(missing)}")
    trainer.task.model.load_state_dict(state["model"])
    try:
        trainer.optimizer.load_state_dict(state["optimizer"])
    except ValueError as exc:  # the task's parameter groups changed since the state was saved
        raise CheckpointError(state_path, f"optimizer state does not fit this run's parameter groups: {exc}") from None
    trainer.task.load_state_dict(state["task"])
    if trainer.config.average_decay and "weight_average" in state:  # else the average starts from the weights resumed
        trainer.weight_average = WeightAverage(trainer.task.model, trainer.config.average_decay)
        try:
            trainer.weight_average.load_state_dict(state["weight_average"])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(state_path, f"cannot restore the weight average: {exc}") from None
    for callback, callback_state in zip(trainer.callbacks, state.get("callbacks", [])):
        callback.load_state_dict(callback_state)
    for key in ("step", "epoch", "units", "mid_epoch", "best_metric", "best_metrics", "bad_evals", "last_eval_step", "log_rows"):
        setattr(trainer, key, state[key])
    trainer.elapsed_before = state["elapsed"]
    if "precision" in state:  # a resumed run keeps the precision it started with, so it stays exact
        reason = state["precision"][1].split("; kept from the run's start")[0]  # said once, however many resumes
        trainer.precision = Choice(check_precision(state["precision"][0]), f"{reason}; kept from the run's start")
    # States written before train_seconds existed count all wall time as training time.
    trainer.train_seconds = state.get("train_seconds", state["elapsed"])
    per_process = state.get("rng_per_process", [])
    rng = per_process[distributed.rank()] if len(per_process) == distributed.world_size() else state["rng"]
    reseed = len(per_process) != distributed.world_size() and distributed.rank() > 0
    torch.set_rng_state(rng["torch"].cpu())
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state(("MT19937", np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate((3, tuple(rng["python"][0]), rng["python"][1]))
    if reseed:  # saved with another process count: this process needs dropout masks of its own
        torch.manual_seed(trainer.config.seed + 7919 * distributed.rank() + trainer.step)  # CUDA generators too


def rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": _numpy_state(),
        "python": [list(random.getstate()[1]), random.getstate()[2]],
    }


def _numpy_state() -> list:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return [keys.tolist(), int(pos), int(has_gauss), float(cached)]
