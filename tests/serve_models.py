"""Tiny models of every served task, saved as model directories: shared by tests/test_serve.py and
tests/test_serve_browser.py (each builds them once per module from the session's tiny LM)."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

TASKS = ("sentiment", "translation", "summarization", "qa")


def build_model_dirs(tiny_language_model: Path, folder: Path) -> dict[str, Path]:
    """{"lm": the tiny LM, TASK: a tiny TASK model fine-tuned from nothing (an untrained head)}, in `folder`."""
    import torch

    from nlp_apps.io.checkpoint import load_backbone, load_model_tokenizer

    specs = {ep.name: ep.load() for ep in metadata.entry_points(group="nlp_apps.tasks") if ep.name in TASKS}
    dirs = {"lm": Path(tiny_language_model)}
    for name, spec in specs.items():
        torch.manual_seed(0)
        train = list(spec.read_dataset(spec.demo_data()["train"]))
        spec.save(spec.build_head(load_backbone(tiny_language_model), spec.head_config(), train), load_model_tokenizer(tiny_language_model),
                  folder / name)
        dirs[name] = folder / name
    # the records a training run leaves beside its model: what it read, and its validation score
    (folder / "sentiment" / "metrics.json").write_text(json.dumps({"best": {"accuracy": 0.75, "loss": 0.5}}), encoding="utf-8")
    (folder / "sentiment" / "manifest.json").write_text(json.dumps({"data_files": {"/data/sst2/train.tsv": {}}}), encoding="utf-8")
    return dirs
