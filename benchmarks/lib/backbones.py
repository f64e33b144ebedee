"""Which backbone a benchmark row started from, so rows of an earlier default stay comparable."""

from __future__ import annotations

import json

from nlp_apps.io.checkpoint import DEFAULT_MODEL_DIR, resolve_model_dir


def backbone_name(backbone: str) -> str:
    """"default, 131 min pretraining", or the shipped name or directory name of another backbone with its minutes."""
    directory = resolve_model_dir(backbone)
    manifest = json.loads((directory / "manifest.json").read_text())
    label = "default" if directory == DEFAULT_MODEL_DIR else directory.name
    return f"{label}, {manifest['wall_time_s'] / 60:.0f} min pretraining"
