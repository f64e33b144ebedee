"""The backbone shipped inside the package loads offline and is usable as documented."""

import json

import pytest
import torch

from nlp_apps.io.checkpoint import DEFAULT_MODEL_DIR, read_config, resolve_model_dir, shipped_backbones
from nlp_apps.models.backbone import RNNBackbone


def test_default_backbone_is_shipped_small_and_bidirectional():
    files = {p.name for p in DEFAULT_MODEL_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.model", "manifest.json"} <= files
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir())
    assert size < 25 * 2**20
    config = read_config(DEFAULT_MODEL_DIR)
    assert config["model_type"] == "language_model" and config["backbone"]["bidirectional"]
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    weights = (DEFAULT_MODEL_DIR / "model.safetensors").stat().st_size
    assert weights <= 2 * manifest["parameters"] + 2**16  # stored in float16: 2 bytes per parameter (+ header)


def test_default_backbone_loads_and_encodes_both_ways():
    backbone = RNNBackbone.from_pretrained().eval()
    tokens = torch.tensor([[10, 20, 30, 40], [50, 60, 0, 0]])
    out = backbone.encode(tokens, torch.tensor([4, 2]))
    assert out["forward"].last_hidden_state.shape == (2, 4, backbone.output_size)
    assert out["backward"].last_hidden_state.shape == (2, 4, backbone.output_size)


def test_default_language_model_beats_uniform_on_the_demo_text():
    from importlib import resources

    import nlp_apps

    lm = nlp_apps.load()
    text = resources.files("nlp_apps").joinpath("resources/demo.txt").read_text(encoding="utf-8")
    result = lm.perplexity(text)
    assert result.token_perplexity < lm.tokenizer.vocab_size / 10
    assert lm.generate("It was", max_tokens=5, seed=0) == lm.generate("It was", max_tokens=5, seed=0)


@pytest.mark.parametrize("name", ["gutenberg-v1", "backbone-v2"])
def test_the_earlier_defaults_stay_loadable_by_name(name):
    assert name in shipped_backbones()
    import nlp_apps

    earlier = nlp_apps.load(name)
    assert resolve_model_dir(name).name == name and earlier.tokenizer.vocab_size == 8000
    assert earlier.perplexity("It was a dark and stormy night.").token_perplexity < 8000


def test_the_default_is_backbone_v3_continued_from_v2():
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    first = manifest["earlier_sessions"][0]["command"] if manifest.get("earlier_sessions") else manifest["command"]
    assert "--init-from" in first and (DEFAULT_MODEL_DIR / "tokenizer.model").read_bytes() == (
        resolve_model_dir("backbone-v2") / "tokenizer.model").read_bytes()
