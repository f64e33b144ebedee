"""What every training command does around the Trainer: prepare --out (an earlier run is replaced only
with --overwrite), check the batch against the process count before anything is touched, keep the
run's configuration for --resume, and leave nothing half-written when a new run fails early."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from nlp_apps.data.fileio import atomic_write_json
from nlp_apps.errors import CheckpointError, DataError, SetupError
from nlp_apps.training import distributed

RUN_CONFIG_FILE = "run_config.json"


def check_batch_shares(batch_size: int, unit: str = "example") -> None:
    """Under torchrun every process needs a share of each batch."""
    if batch_size < distributed.world_size():
        raise SetupError(f"batch size {batch_size} is smaller than the {distributed.world_size()} processes; "
                         f"each process needs at least one {unit}")


RUN_MARKERS = ("run_config.json", "config.json", "last")


def prepare_run_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to mix two runs in one directory; --overwrite replaces an earlier run only."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(out_dir, "--out exists and is a file, expected a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        holds_run = any((out_dir / marker).exists() for marker in RUN_MARKERS)
        if not holds_run:
            raise DataError(out_dir, "--out is a non-empty directory that holds no run; choose an empty or new directory")
        if not overwrite:
            raise DataError(out_dir, "--out already holds a run; pass --overwrite to replace it or --resume to continue it")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def refuse_earlier_run(out_dir: str | os.PathLike, overwrite: bool) -> None:
    """Fail fast on an earlier run in --out without --overwrite (before data is read); new_run checks --out in full."""
    out = Path(out_dir)
    if not overwrite and out.is_dir() and any((out / marker).exists() for marker in RUN_MARKERS):
        raise DataError(out, "--out already holds a run; pass --overwrite to replace it or --resume to continue it")


@contextlib.contextmanager
def new_run(out_dir: str | os.PathLike, *, overwrite: bool, run_config: dict | None = None) -> Iterator[Path]:
    """Prepare `out_dir` for a new run (process 0), write its run_config.json, and remove the directory
    again if the run fails before anything resumable was written (see holds_progress)."""
    out_dir = Path(out_dir)
    if distributed.is_main():
        prepare_run_dir(out_dir, overwrite)
        if run_config is not None:
            atomic_write_json(out_dir / RUN_CONFIG_FILE, run_config)
    distributed.barrier()
    try:
        yield out_dir
    except BaseException:
        if distributed.is_main() and not holds_progress(out_dir):
            shutil.rmtree(out_dir, ignore_errors=True)
        raise


def holds_progress(out_dir: Path) -> bool:
    """Whether a run directory holds something to resume or keep: a last/ anywhere in it (see latest_state) or a
    finished part's metrics.json (an ensemble member that dropped its last/)."""
    return latest_state(out_dir) is not None or any(out_dir.glob("*/metrics.json"))


def latest_state(out_dir: str | os.PathLike) -> Path | None:
    """The run's resumable state: OUT/last, or else the last/ written most recently below OUT (a task's language-model
    stage, an ensemble's member); None when there is none."""
    out_dir = Path(out_dir)
    if (out_dir / "last").is_dir():
        return out_dir / "last"
    below = [path for path in out_dir.rglob("last") if path.is_dir()]
    return max(below, key=lambda path: path.stat().st_mtime) if below else None


def read_run_config(out_dir: str | os.PathLike) -> dict:
    """The configuration a run stored for --resume."""
    path = Path(out_dir) / RUN_CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(out_dir, f"nothing to resume: {RUN_CONFIG_FILE} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CheckpointError(path, f"not valid JSON: {exc}") from None


def write_run_config(out_dir: str | os.PathLike, values: dict) -> None:
    if distributed.is_main():
        atomic_write_json(Path(out_dir) / RUN_CONFIG_FILE, values)
