"""A model is a directory: config.json + model.safetensors + tokenizer files (+ run records).

A model holds one or more named *parts*, each a pretrained backbone with its own tokenizer (a
classifier has one, "backbone"; a translation model two, say "encoder" and "decoder"), plus
whatever the task adds on top (its "head").

    config.json        {"format_version": 2, "nlp_apps_version", "model_type", "task", "head",
                        "parts": {NAME: {"backbone": BackboneConfig, "tokenizer": {...} or null}}};
                        unknown keys are an error
    model.safetensors  the task module's state_dict, tensors only (no pickle). Part NAME is the
                       module's attribute `NAME`, an RNNBackbone, so its weights are the keys
                       "NAME."; the head's keys are whatever else the module holds
    tokenizer.model    the tokenizer of the part named "backbone" (vocab.txt for a word vocabulary)
    tokenizers/NAME/tokenizer.model   the tokenizer of any other part

The path of each tokenizer file is in its part's "tokenizer" entry ("file"), so loading does not
rely on the naming rule. Format version 1 (one backbone: top-level "backbone" and "tokenizer"
keys) is read as a model with the single part "backbone"; that shim lives in `migrate`.

A save builds the whole directory beside its destination first. A new directory then appears
with one rename; an existing one (a run directory also holds logs and checkpoints) loses its
config.json while the new files move in and gets the new one last, so a crash leaves either the
old model, the new model, or no model (a clear "config.json is missing"), never a mix.
Loading never executes pickled code: JSON, safetensors and tokenizer files only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import torch
from torch import nn

from nlp_apps import __version__
from nlp_apps.data.fileio import atomic_write_bytes, atomic_write_json
from nlp_apps.data.tokenizer import Tokenizer, load_tokenizer
from nlp_apps.errors import CheckpointError
from nlp_apps.models.backbone import BackboneConfig, RNNBackbone

FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZERS_DIR = "tokenizers"
TOP_LEVEL_KEYS = {"format_version", "nlp_apps_version", "model_type", "task", "head", "parts"}
PART_KEYS = {"backbone", "tokenizer"}
DEFAULT_PART = "backbone"  # the one part of a single-backbone model (and of every version-1 directory)
PART_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "pretrained" / "default"
BACKBONE_PREFIX = DEFAULT_PART + "."


class Part(NamedTuple):
    """One pretrained backbone of a model and the tokenizer its token ids come from."""

    backbone: BackboneConfig
    tokenizer: Tokenizer | None


def resolve_model_dir(path: str | os.PathLike | None) -> Path:
    """None or "default" names the backbone shipped inside the package; another bare name of a backbone
    shipped beside it (e.g. "gutenberg-v1", the earlier default) names that one; anything else is a path."""
    if path is None or str(path) == "default":
        return DEFAULT_MODEL_DIR
    shipped = DEFAULT_MODEL_DIR.parent / str(path)
    if not Path(path).exists() and "/" not in str(path) and (shipped / "config.json").is_file():
        return shipped
    return Path(path)


def shipped_backbones() -> list[str]:
    """The names `resolve_model_dir` knows: "default" and the other backbones shipped in the package."""
    return sorted(p.name for p in DEFAULT_MODEL_DIR.parent.iterdir() if (p / "config.json").is_file())


# ---- saving ------------------------------------------------------------------------------


def save_model_dir(
    path: str | os.PathLike,
    model: nn.Module,
    parts: Mapping[str, Part | tuple[BackboneConfig, Tokenizer | None]],
    *,
    model_type: str,
    task: str | None = None,
    head: dict | None = None,
    weights_dtype: torch.dtype | None = None,
) -> None:
    """Write `model` and its parts as a model directory (see the module docstring).

    Each part name is the attribute of `model` that holds that part's RNNBackbone. A bare
    RNNBackbone is saved as the single part "backbone" (its keys get the "backbone." prefix).
    """
    path = Path(path).resolve()  # the staging directory must be on the destination's file system
    prefix = BACKBONE_PREFIX if isinstance(model, RNNBackbone) else ""
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if weights_dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(weights_dtype)
        tensors[prefix + name] = tensor.contiguous()
    parts = {name: Part(*part) for name, part in parts.items()}
    check_parts(model, parts)
    from safetensors.torch import save as safetensors_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    staging.mkdir()
    try:
        config = {
            "format_version": FORMAT_VERSION,
            "nlp_apps_version": __version__,
            "model_type": model_type,
            "task": task,
            "head": head,
            "parts": {name: {"backbone": part.backbone.to_dict(), "tokenizer": save_tokenizer(staging, name, part.tokenizer)}
                      for name, part in parts.items()},
        }
        atomic_write_bytes(staging / WEIGHTS_FILE, safetensors_bytes(tensors, metadata={"format": "pt"}))
        atomic_write_json(staging / CONFIG_FILE, config)
        publish(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
    """A single-backbone model (the part "backbone": `model.backbone`, or `model` itself)."""
    save_model_dir(path, model, {DEFAULT_PART: Part(backbone_config, tokenizer)}, model_type=model_type, task=task,
                   head=head, weights_dtype=weights_dtype)


def check_parts(model: nn.Module, parts: Mapping[str, Part]) -> None:
    """Each part must be an RNNBackbone attribute with the given config, or loading could not rebuild it."""
    for name, part in parts.items():
        if not PART_NAME.match(name):
            raise ValueError(f"part name {name!r} must match {PART_NAME.pattern}")
        module = model if isinstance(model, RNNBackbone) and name == DEFAULT_PART else getattr(model, name, None)
        if not isinstance(module, RNNBackbone):
            raise TypeError(f"part {name!r}: the model has no RNNBackbone attribute {name!r}")
        if module.config != part.backbone:
            raise ValueError(f"part {name!r}: the backbone config given differs from the model's {name}.config")


def save_tokenizer(directory: Path, part: str, tokenizer: Tokenizer | None) -> dict | None:
    if tokenizer is None:
        return None
    relative = Path() if part == DEFAULT_PART else Path(TOKENIZERS_DIR, part)
    (directory / relative).mkdir(parents=True, exist_ok=True)
    config = tokenizer.save(directory / relative)
    return {**config, "file": (relative / config["file"]).as_posix()}


def publish(staging: Path, path: Path) -> None:
    """Move a completely written model directory from `staging` to `path`."""
    if not path.exists():
        os.replace(staging, path)
        return
    (path / CONFIG_FILE).unlink(missing_ok=True)  # no model rather than new weights under an old config
    files = sorted(p for p in staging.rglob("*") if p.is_file() and p.name != CONFIG_FILE)
    for file in [*files, staging / CONFIG_FILE]:
        target = path / file.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(file, target)


# ---- reading the config --------------------------------------------------------------------


def read_model_config(path: str | os.PathLike) -> dict:
    """Read and validate config.json, migrated to the current format (with "parts")."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such model directory")
    if not path.is_dir():
        raise CheckpointError(path, "is a file, expected a model directory")
    config_path = path / CONFIG_FILE
    if not config_path.is_file() and (path / "last").is_dir():  # a training run stopped before its first evaluation
        raise CheckpointError(path, f"holds an unfinished run with no evaluated model yet; resume it with --resume {path}, "
                                    f"or use {path / 'last'}")
    if not config_path.is_file():
        raise CheckpointError(path, f"not a model directory ({CONFIG_FILE} is missing)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(config_path, f"invalid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise CheckpointError(config_path, "expected a JSON object")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
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
    for key, types, what in TOP_LEVEL_TYPES:
        if key in config and not isinstance(config[key], types):
            raise CheckpointError(config_path, f'"{key}" must be {what}, got {json_type(config[key])}')
    check_parts_config(config_path, config.get("parts"))
    return config


# Top-level keys whose values the loaders use directly (a task name looks up the plug-in, a head is a dict of options).
TOP_LEVEL_TYPES = (("nlp_apps_version", str, "a string"), ("model_type", str, "a string"), ("task", (str, type(None)), "a string or null"),
                   ("head", (dict, type(None)), "a JSON object or null"))


def json_type(value) -> str:
    """A parsed JSON value named for a one-line message: 'a string ("20")', 'a list', 'null'."""
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "a JSON object"
    if value is None:
        return "null"
    name = "a boolean" if isinstance(value, bool) else "a string" if isinstance(value, str) else "a number"
    return f"{name} ({json.dumps(value)[:40]})"


def migrate(config: dict) -> dict:
    """Bring a config written by an older format version up to FORMAT_VERSION."""
    if config["format_version"] < 2:  # one backbone, at the top level
        config = dict(config)
        part = {"backbone": config.pop("backbone", None), "tokenizer": config.pop("tokenizer", None)}
        config.update(format_version=2, parts={DEFAULT_PART: part})
    return config


def check_parts_config(config_path: Path, parts) -> None:
    if not isinstance(parts, dict):
        raise CheckpointError(config_path, '"parts" is missing or not a JSON object')
    for name, part in parts.items():
        if not PART_NAME.match(name):
            raise CheckpointError(config_path, f"part name {name!r} must match {PART_NAME.pattern}")
        if not isinstance(part, dict):
            raise CheckpointError(config_path, f"part {name!r} must be a JSON object")
        unknown = sorted(set(part) - PART_KEYS)
        if unknown:
            raise CheckpointError(config_path, f"unknown key(s) in part {name!r}: {', '.join(unknown)}")
        tokenizer = part.get("tokenizer")
        if tokenizer is None:
            continue
        if not isinstance(tokenizer, dict):
            raise CheckpointError(config_path, f"part {name!r}: tokenizer must be a JSON object or null")
        file = tokenizer.get("file", "")
        if not isinstance(file, str) or PurePosixPath(file).is_absolute() or ".." in PurePosixPath(file).parts:
            raise CheckpointError(config_path, f"part {name!r}: the tokenizer file must be a path inside the model directory")


def check_backbone(path: str | os.PathLike | None) -> Path:
    """The model directory a run starts from ('default', a shipped name or a path), checked before training starts:
    it must hold a readable config with a backbone part."""
    directory = resolve_model_dir(path)
    model_part(directory, read_model_config(directory), DEFAULT_PART)
    return directory


def read_config(path: str | os.PathLike) -> dict:
    """The config in the single-backbone layout: the part "backbone" as top-level "backbone" and
    "tokenizer" keys (None for a model without that part). For callers that predate parts."""
    config = read_model_config(path)
    part = config["parts"].get(DEFAULT_PART) or {}
    view = {key: value for key, value in config.items() if key != "parts"}
    view.update(backbone=part.get("backbone"), tokenizer=part.get("tokenizer"))
    return view


def read_task_head(path: Path, config: dict, task: str, what: str, head_config: type):
    """The head's config of a task model directory (`head_config.from_dict` of config.json's "head"), after checking
    that `config` (its config.json, as read) is a `task` model: otherwise "holds a ... model, not {what}"."""
    if config.get("task") != task:
        raise CheckpointError(path, f"holds a {config.get('task') or config.get('model_type')!r} model, not {what}")
    try:
        return head_config.from_dict(config.get("head") or {}, source=str(path / CONFIG_FILE))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path / CONFIG_FILE, str(exc)) from None


def load_task_model(path: str | os.PathLike, task: str, what: str, head_config: type, build, device: str = "cpu") -> nn.Module:
    """A single-backbone task model from its directory (as `save_model` writes it), on `device`: config.json
    checked to hold a `task` model (else "not {what}"), build(backbone, head config), its weights loaded."""
    path = Path(path)
    config = read_config(path)
    model = build(RNNBackbone(read_backbone_config(path, config)), read_task_head(path, config, task, what, head_config))
    load_weights_into(model, read_weights(path), path)
    return model.to(device)


def read_backbone_config(path: Path, config: dict) -> BackboneConfig:
    """The BackboneConfig of a `read_config` view or of one part's entry in `read_model_config`."""
    values = config.get("backbone")
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise CheckpointError(path / CONFIG_FILE, f"the backbone config must be a JSON object, got {json_type(values)}")
    for field in dataclasses.fields(BackboneConfig):  # a wrong type must not reach torch (e.g. hidden_size 20.5, tie_weights "no")
        expected = type(field.default)
        if field.name in values and expected in JSON_NAMES and not json_value_fits(values[field.name], expected):
            raise CheckpointError(path / CONFIG_FILE, f"backbone {field.name} must be {JSON_NAMES[expected]}, got {json_type(values[field.name])}")
    try:
        return BackboneConfig.from_dict(values, source=str(path / CONFIG_FILE))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path / CONFIG_FILE, str(exc)) from None


JSON_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def json_value_fits(value, expected: type) -> bool:
    """Whether a parsed JSON value can stand for a config field of type `expected` (bool, int, float or str)."""
    if isinstance(value, bool) or expected is bool:
        return isinstance(value, bool) and expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def model_part(path: Path, config: dict, part: str) -> dict:
    if part not in config["parts"]:
        raise CheckpointError(path / CONFIG_FILE, f"has no part {part!r} (parts: {', '.join(config['parts']) or 'none'})")
    return config["parts"][part]


# ---- loading -------------------------------------------------------------------------------


def load_parts(path: str | os.PathLike | None = None) -> dict[str, Part]:
    """{part name: Part(BackboneConfig, Tokenizer or None)}: what a task needs to rebuild its module."""
    path = resolve_model_dir(path)
    config = read_model_config(path)
    parts = {}
    for name, part in config["parts"].items():
        tokenizer = load_tokenizer(path, part["tokenizer"]) if part.get("tokenizer") else None
        parts[name] = Part(read_backbone_config(path, part), tokenizer)
    return parts


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


def load_weights(path: str | os.PathLike | None, module: nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """Fill `module` (built by the task from `load_parts`) with the directory's weights; returns it on `device`."""
    path = resolve_model_dir(path)
    load_weights_into(module, read_weights(path), path)
    return module.to(device)


def load_backbone(path: str | os.PathLike | None = None, part: str = DEFAULT_PART) -> RNNBackbone:
    """One backbone of any model directory (a language model, or a part of a fine-tuned task model)."""
    path = resolve_model_dir(path)
    backbone = RNNBackbone(read_backbone_config(path, model_part(path, read_model_config(path), part)))
    prefix = part + "."
    own = {k[len(prefix) :]: v for k, v in read_weights(path).items() if k.startswith(prefix)}
    load_weights_into(backbone, own, path)
    return backbone


def load_model_tokenizer(path: str | os.PathLike | None = None, part: str = DEFAULT_PART) -> Tokenizer:
    path = resolve_model_dir(path)
    tokenizer = model_part(path, read_model_config(path), part).get("tokenizer")
    if not tokenizer:
        raise CheckpointError(path, "this model directory has no tokenizer" + (f" for part {part!r}" if part != DEFAULT_PART else ""))
    return load_tokenizer(path, tokenizer)


def load_language_model(path: str | os.PathLike | None = None):
    """(RNNLanguageModel, Tokenizer, config dict in the `read_config` layout) from a directory written by `nlp-apps pretrain`."""
    from nlp_apps.models.lm import RNNLanguageModel

    path = resolve_model_dir(path)
    config = read_config(path)
    if config.get("model_type") != "language_model":
        raise CheckpointError(path, f"holds a {config.get('task') or config.get('model_type')!r} model, not a language model")
    model = RNNLanguageModel(read_backbone_config(path, config))
    load_weights_into(model, read_weights(path), path)
    return model, load_model_tokenizer(path), config
