"""A model is a directory: config.json + model.safetensors + tokenizer files (+ run records).

    config.json        {"format_version", "nlp_apps_version", "model_type", "backbone", "tokenizer",
                        "task", "head"}; unknown keys are an error
    model.safetensors  tensors only (no pickle); backbone weights under the "backbone." prefix
    tokenizer.model    sentencepiece model (or vocab.txt for a word vocabulary)

Every file is written atomically (temp file + rename). Loading never executes pickled code.
All backward-compatibility shims live in `migrate`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from nlp_apps import __version__
from nlp_apps.data.fileio import atomic_write_bytes, atomic_write_json
from nlp_apps.data.tokenizer import Tokenizer, load_tokenizer
from nlp_apps.errors import CheckpointError
from nlp_apps.models.backbone import BackboneConfig, RNNBackbone

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOP_LEVEL_KEYS = {"format_version", "nlp_apps_version", "model_type", "backbone", "tokenizer", "task", "head"}
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "pretrained" / "default"
BACKBONE_PREFIX = "backbone."


def resolve_model_dir(path: str | os.PathLike | None) -> Path:
    """None or "default" names the backbone shipped inside the package."""
    if path is None or str(path) == "default":
        return DEFAULT_MODEL_DIR
    return Path(path)


def save_model(
    path: str | os.PathLike,
    *,
    model_type: str,
    backbone_config: BackboneConfig,
    model: nn.Module,
    tokenizer: Tokenizer | None = None,
    task: str | None = None,
    head: dict | None = None,
    weights_dtype: torch.dtype | None = None,
) -> None:
    """Write `model` as a model directory. A bare RNNBackbone's keys get the "backbone." prefix."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    prefix = BACKBONE_PREFIX if isinstance(model, RNNBackbone) else ""
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if weights_dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(weights_dtype)
        tensors[prefix + name] = tensor.contiguous()
    from safetensors.torch import save as safetensors_bytes

    config = {
        "format_version": FORMAT_VERSION,
        "nlp_apps_version": __version__,
        "model_type": model_type,
        "backbone": backbone_config.to_dict(),
        "tokenizer": None,
        "task": task,
        "head": head,
    }
    if tokenizer is not None:
        config["tokenizer"] = tokenizer.save(path)
    atomic_write_bytes(path / WEIGHTS_FILE, safetensors_bytes(tensors, metadata={"format": "pt"}))
    atomic_write_json(path / CONFIG_FILE, config)


def read_config(path: str | os.PathLike) -> dict:
    """Read and validate config.json, migrating older format versions."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such model directory")
    if not path.is_dir():
        raise CheckpointError(path, "is a file, expected a model directory")
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(path, f"not a model directory ({CONFIG_FILE} is missing)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(config_path, f"invalid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise CheckpointError(config_path, "expected a JSON object")
    version = config.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(config_path, "format_version is missing or not an integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            config_path,
            f"format_version {version} is newer than this nlp-apps supports ({FORMAT_VERSION}); upgrade nlp-apps",
        )
    config = migrate(config)
    unknown = sorted(set(config) - TOP_LEVEL_KEYS)
    if unknown:
        raise CheckpointError(config_path, f"unknown config key(s): {', '.join(unknown)}")
    return config


def migrate(config: dict) -> dict:
    """Bring a config written by an older format version up to FORMAT_VERSION (none exist yet)."""
    return config


def read_backbone_config(path: Path, config: dict) -> BackboneConfig:
    try:
        return BackboneConfig.from_dict(config.get("backbone") or {}, source=str(path / CONFIG_FILE))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path / CONFIG_FILE, str(exc)) from None


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_path = path / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(path, f"{WEIGHTS_FILE} is missing")
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(weights_path, f"cannot read weights: {exc}") from None
    return {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}


def load_weights_into(module: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            path / WEIGHTS_FILE,
            f"weights do not match the config (missing: {missing[:5]}, unexpected: {unexpected[:5]})",
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                path / WEIGHTS_FILE, f"{name} has shape {tuple(tensor.shape)}, config expects {tuple(expected[name].shape)}"
            )
    module.load_state_dict(tensors)


def load_backbone(path: str | os.PathLike | None = None) -> RNNBackbone:
    """The backbone part of any model directory (a language model or a fine-tuned task model)."""
    path = resolve_model_dir(path)
    config = read_config(path)
    backbone = RNNBackbone(read_backbone_config(path, config))
    tensors = read_weights(path)
    own = {k[len(BACKBONE_PREFIX) :]: v for k, v in tensors.items() if k.startswith(BACKBONE_PREFIX)}
    load_weights_into(backbone, own, path)
    return backbone


def load_model_tokenizer(path: str | os.PathLike | None = None) -> Tokenizer:
    path = resolve_model_dir(path)
    config = read_config(path)
    if not config.get("tokenizer"):
        raise CheckpointError(path, "this model directory has no tokenizer")
    return load_tokenizer(path, config["tokenizer"])


def load_language_model(path: str | os.PathLike | None = None):
    """(RNNLanguageModel, Tokenizer, config dict) from a directory written by `nlp-apps pretrain`."""
    from nlp_apps.models.lm import RNNLanguageModel

    path = resolve_model_dir(path)
    config = read_config(path)
    if config.get("model_type") != "language_model":
        raise CheckpointError(path, f"holds a {config.get('model_type')!r} model, not a language model")
    model = RNNLanguageModel(read_backbone_config(path, config))
    load_weights_into(model, read_weights(path), path)
    return model, load_model_tokenizer(path), config
