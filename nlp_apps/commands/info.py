"""`nlp-apps info DIR`: what a model directory holds, read from its files (no torch, no weights loaded)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import click

from nlp_apps.data.fileio import read_json_record


@click.command()
@click.argument("model", default="default")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(model: str, as_json: bool) -> None:
    """Show what a model directory holds: task, backbone, parameters, size, data, metrics, precision,
    and the command that trained it. MODEL is a directory or a shipped backbone's name [default]."""
    from nlp_apps.io.checkpoint import read_model_config, resolve_model_dir

    path = resolve_model_dir(model)
    summary = describe(path, read_model_config(path))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={_short(v)}" for k, v in value.items())
        elif isinstance(value, list):
            value = " ".join(map(str, value)) if key == "command" else ", ".join(map(str, value))
        click.echo(f"{key + ':':<16}{value}")


def describe(path: Path, config: dict) -> dict:
    manifest, metrics = read_json_record(path / "manifest.json"), read_json_record(path / "metrics.json")
    summary = {"directory": str(path), "task": config.get("task") or config.get("model_type")}
    for name, part in config.get("parts", {}).items():
        backbone = part.get("backbone") or {}
        directions = "bidirectional" if backbone.get("bidirectional") else "forward"
        summary[f"{name}"] = (f"{backbone.get('cell')} {backbone.get('num_layers')}x{backbone.get('hidden_size')}, emb "
                              f"{backbone.get('emb_size')}, {directions}, vocabulary {backbone.get('vocab_size')}")
    weights = path / "model.safetensors"
    if weights.is_file():
        summary["parameters"] = f"{count_parameters(weights):,}"
    summary["size"] = f"{_size(path, last=False) / 1e6:.1f} MB" + (
        f" (+ {_size(path / 'last') / 1e6:.1f} MB resumable state in last/)" if (path / "last").is_dir() else "")
    if manifest:
        summary["trained"] = f"{manifest.get('started', '?')}, {manifest.get('wall_time_s', '?')} s on {manifest.get('device', '?')}"
        summary["data"] = sorted(manifest.get("data_files") or {})
        precision = manifest.get("precision")
        if isinstance(precision, dict):
            summary["precision"] = f"{precision.get('chosen')} ({precision.get('reason')})"
        summary["command"] = manifest.get("command", [])
    if metrics:
        summary["status"] = f"{metrics.get('status')} after {metrics.get('steps')} steps"
        best = {k: v for k, v in (metrics.get("best") or {}).items() if isinstance(v, (int, float))}
        if best:
            summary["best"] = best
    return summary


def count_parameters(weights: Path) -> int:
    """Parameters in a safetensors file, from its JSON header alone."""
    with open(weights, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    total = 0
    for name, entry in header.items():
        if name != "__metadata__":
            count = 1
            for dim in entry["shape"]:
                count *= dim
            total += count
    return total


def _size(path: Path, last: bool = True) -> int:
    files = (f for f in path.rglob("*") if f.is_file())
    return sum(f.stat().st_size for f in files if last or "last" not in f.relative_to(path).parts[:1])


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
