"""The table of served models: `NAME=DIR` specs loaded once at startup, and what each model is.

Requests name a model only by its name in this table; a path never comes from a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp_apps.data.fileio import read_json_record
from nlp_apps.errors import NlpAppsError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # safe in a URL path, an HTML id and a metric label
LANGUAGE_MODEL = "language_model"
LM_METRIC = "ppl"  # what `pretrain` keeps its best model on (validation perplexity per token)


class ModelSpecError(NlpAppsError):
    """A --model NAME=DIR option that cannot work."""


@dataclass
class ServedModel:
    """One loaded model: its name in the API, its task ("language_model" for an LM) and its record."""

    name: str
    task: str
    pipeline: Any
    trained_on: list[str] = field(default_factory=list)
    metric: dict | None = None  # {"name": ..., "value": ...}: the validation score of the saved model

    def public(self) -> dict:
        return {"name": self.name, "task": self.task, "trained_on": self.trained_on, "metric": self.metric}


def parse_spec(spec: str) -> tuple[str, str]:
    """"NAME=DIR" -> (name, dir). DIR may be a shipped backbone's name ("default")."""
    name, equals, directory = spec.partition("=")
    if not equals or not name or not directory:
        raise ModelSpecError(f"{spec!r}: expected NAME=DIR, e.g. sst2=runs/sst2 or lm=default")
    if not NAME.match(name):
        raise ModelSpecError(f"{spec!r}: a model name is 1-64 letters, digits, '_' or '-', starting with a letter or digit")
    return name, directory


def check_specs(specs: list[str]) -> list[tuple[str, Path]]:
    """Parse the specs and check each directory exists, before anything is loaded."""
    from nlp_apps.io.checkpoint import resolve_model_dir

    pairs, seen = [], set()
    for spec in specs:
        name, directory = parse_spec(spec)
        if name in seen:
            raise ModelSpecError(f"{spec!r}: the name {name!r} is given twice")
        path = resolve_model_dir(directory)
        if not path.is_dir():
            raise ModelSpecError(f"{spec!r}: no model directory {directory}")
        seen.add(name)
        pairs.append((name, path))
    return pairs


def load_models(specs: list[str], device: str = "cpu", precision: str = "auto") -> dict[str, ServedModel]:
    """{name: ServedModel} for `NAME=DIR` specs, each loaded with `nlp_apps.load`."""
    from nlp_apps.io.loading import load

    return {name: describe(name, load(path, device=device, precision=precision), path) for name, path in check_specs(specs)}


def describe(name: str, pipeline: Any, path: str | Path | None = None) -> ServedModel:
    """A ServedModel for a loaded pipeline: its task from the directory's config.json, and what it was
    trained on and scored on validation data from manifest.json and metrics.json (when present)."""
    if not NAME.match(name):
        raise ModelSpecError(f"{name!r}: a model name is 1-64 letters, digits, '_' or '-', starting with a letter or digit")
    path = path if path is not None else getattr(pipeline, "path", None)
    folder = Path(path) if path else None
    config, manifest, metrics = ({} if folder is None else read_json_record(folder / file) for file in ("config.json", "manifest.json", "metrics.json"))
    task = config.get("task") or (LANGUAGE_MODEL if hasattr(pipeline, "generate") and hasattr(pipeline, "perplexity") else None)
    if task is None:
        raise ModelSpecError(f"model {name!r}: cannot tell its task (give a ServedModel, or a pipeline loaded from a model directory)")
    return ServedModel(name, task, pipeline, trained_on=_trained_on(manifest), metric=_best_metric(task, metrics.get("best")))


def _trained_on(manifest: dict) -> list[str]:
    """Corpus names for a pretraining mix, else the training data files (their last two path parts: no server paths)."""
    corpora = manifest.get("corpora")
    if isinstance(corpora, list) and corpora:
        return [str(c.get("name")) for c in corpora if isinstance(c, dict)]
    files = manifest.get("data_files")
    return ["/".join(Path(f).parts[-2:]) for f in sorted(files)] if isinstance(files, dict) else []


def _best_metric(task: str, best) -> dict | None:
    if not isinstance(best, dict):
        return None
    key = LM_METRIC if task == LANGUAGE_MODEL else _task_metric_name(task)
    value = best.get(key)
    return {"name": key, "value": value} if isinstance(value, (int, float)) else None


def _task_metric_name(task: str) -> str | None:
    from nlp_apps.registry import get_registry

    try:
        return get_registry().get(task).metric_name
    except Exception:  # an uninstalled or broken task: the model loaded, only its score is unknown
        return None


