"""The records a training run leaves beside its model: log.csv, metrics.json, manifest.json, curves.png."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from nlp_apps import __version__
from nlp_apps.data.fileio import atomic_write_json, atomic_write_text, sha256_file

UNIT_COLUMNS = {"tok": "tokens", "ex": "examples"}  # a task's unit -> the log.csv column that counts it


def units_column(unit: str) -> str:
    return UNIT_COLUMNS.get(unit, unit)


def write_log_csv(path: Path, rows: list[dict], units: str = "tokens") -> None:
    """All rows so far; evaluation columns (valid_*) are added as they appear. `units`: what the task counts."""
    columns = ["step", "epoch", units, "elapsed_s", "lr", "train_loss", f"{units}_per_s"]
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def hash_data_files(paths: Iterable[str | os.PathLike]) -> dict:
    """{absolute path: {sha256, bytes}}: computed once when a run starts, since resuming never reads the raw data."""
    return {str(Path(f).resolve()): {"sha256": sha256_file(f), "bytes": _size(Path(f))} for f in paths}


def write_manifest(
    path: Path,
    *,
    seed: int,
    data_files: dict | None,
    wall_time_s: float,
    started: float,
    device: str,
    extra: dict | None = None,
    resumed: bool = False,
) -> None:
    import numpy
    import torch

    versions = {"nlp_apps": __version__, "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    try:
        import sentencepiece

        versions["sentencepiece"] = sentencepiece.__version__
    except ImportError:  # pragma: no cover - a dependency, present in any install
        pass
    manifest = {
        "versions": versions,
        "seed": seed,
        "command": [Path(sys.argv[0]).name] + sys.argv[1:],
        "data_files": data_files,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_time_s": round(wall_time_s, 1),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mb": peak_rss_mb(),
        "platform": platform.platform(),
    }
    manifest.update(extra or {})
    if resumed and path.is_file():
        try:
            manifest = with_earlier_sessions(json.loads(path.read_text(encoding="utf-8")), manifest)
        except (OSError, ValueError, KeyError, TypeError):  # a damaged earlier manifest must not cost this one
            manifest["earlier_sessions"] = "unreadable"
    atomic_write_json(path, manifest)


def with_earlier_sessions(earlier: dict, current: dict) -> dict:
    """A resumed run's manifest: the first session's start and data hashes, the earlier sessions listed, the peak over all.

    wall_time_s is cumulative: the whole run's in the manifest, the run's so far in each earlier session.
    """
    sessions = earlier.get("earlier_sessions", []) + [
        {key: earlier.get(key) for key in ("command", "session_started", "started", "wall_time_s", "peak_rss_mb", "torch_threads")}
    ]
    for session in sessions:
        session["session_started"] = session.get("session_started") or session.pop("started", None)
        session.pop("started", None)
    merged = dict(current, earlier_sessions=sessions, session_started=current["started"])
    merged["started"] = earlier.get("started") or current["started"]
    if merged.get("data_files") is None:
        merged["data_files"] = earlier.get("data_files")
    merged["peak_rss_mb"] = max([current["peak_rss_mb"]] + [s["peak_rss_mb"] or 0 for s in sessions])
    return merged


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    VmHWM from /proc/self/status where there is one (Linux): ru_maxrss would include the high-water mark of
    the parent that forked this process (Linux carries it across exec), so `nlp-apps` launched from a large
    process would report that process's memory. Elsewhere ru_maxrss of RUSAGE_SELF (macOS reports bytes).
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def plot_curves(path: Path, rows: list[dict], metric: str) -> None:
    """Training loss and the validation metric against steps, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["train_loss"]) for r in rows if r.get("train_loss") not in (None, "")]
    valid = [(r["step"], r[metric]) for r in rows if r.get(metric) not in (None, "")]
    valid_loss = [(r["step"], r["valid_loss"]) for r in rows if r.get("valid_loss") not in (None, "")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    # Markers: a run with a single logged point still shows it (a lone line point is invisible).
    if train:
        axes[0].plot(*zip(*train), ".-", label="train loss")
    if valid_loss:
        axes[0].plot(*zip(*valid_loss), "o-", label="valid loss")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend()
    if valid:
        axes[1].plot(*zip(*valid), "o-")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel(metric)
    fig.tight_layout()
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


def write_metrics(path: Path, metrics: dict) -> None:
    atomic_write_json(path, metrics)
