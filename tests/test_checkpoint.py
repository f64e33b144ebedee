import json

import pytest
import torch

from nlp_apps.data.tokenizer import WordTokenizer
from nlp_apps.errors import CheckpointError
from nlp_apps.io.checkpoint import FORMAT_VERSION, load_backbone, load_language_model, read_config, save_model
from nlp_apps.models.backbone import BackboneConfig, RNNBackbone
from nlp_apps.models.lm import RNNLanguageModel
from tests.conftest import BATCH, STEPS, VOCAB


@pytest.fixture
def word_tokenizer():
    return WordTokenizer(["<pad>", "<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(VOCAB - 4)])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_language_model_round_trip_is_exact(tmp_path, tiny_config, word_tokenizer, cell):
    config = BackboneConfig(**{**tiny_config.to_dict(), "cell": cell, "bidirectional": True, "tie_weights": cell != "gru"})
    model = RNNLanguageModel(config).eval()
    model.save_pretrained(tmp_path, tokenizer=word_tokenizer)
    loaded, tokenizer, saved_config = load_language_model(tmp_path)
    assert saved_config["format_version"] == FORMAT_VERSION
    assert tokenizer.tokens == word_tokenizer.tokens
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    tokens = torch.randint(0, VOCAB, (BATCH, STEPS))
    assert torch.equal(loaded.eval()(tokens)[0], model(tokens)[0])


def test_backbone_round_trip_and_backbone_of_a_language_model(tmp_path, tiny_config):
    backbone = RNNBackbone(tiny_config)
    backbone.save_pretrained(tmp_path / "bb")
    again = RNNBackbone.from_pretrained(tmp_path / "bb")
    assert all(torch.equal(again.state_dict()[k], v) for k, v in backbone.state_dict().items())
    lm = RNNLanguageModel(tiny_config)
    lm.save_pretrained(tmp_path / "lm")
    from_lm = load_backbone(tmp_path / "lm")
    assert all(torch.equal(from_lm.state_dict()[k], v) for k, v in lm.backbone.state_dict().items())


def test_half_precision_storage_loads_as_float32(tmp_path, tiny_config):
    lm = RNNLanguageModel(tiny_config)
    save_model(tmp_path, model_type="language_model", backbone_config=tiny_config, model=lm, weights_dtype=torch.float16)
    loaded = load_backbone(tmp_path)
    weight = loaded.embedding.weight
    assert weight.dtype == torch.float32
    torch.testing.assert_close(weight, lm.backbone.embedding.weight, atol=1e-3, rtol=1e-3)


def edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def edit_backbone_part(path, backbone):
    config = json.loads((path / "config.json").read_text())
    config["parts"]["backbone"]["backbone"] = backbone
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "change,message",
    [
        ({"format_version": FORMAT_VERSION + 1}, "newer than this nlp-apps supports"),
        ({"format_version": "1"}, "format_version is missing or not an integer"),
        ({"surprise": 1}, "unknown config key.*surprise"),
        ({"parts": []}, "parts.*not a JSON object"),
        ({"backbone": {"vocab_size": VOCAB, "hidden": 3}}, "unknown BackboneConfig key.*hidden"),
        ({"backbone": {"vocab_size": VOCAB + 1, "emb_size": 10, "hidden_size": 24}}, "model.safetensors: .*(weights do not match|has shape)"),
        ({"backbone": {"vocab_size": VOCAB, "emb_size": 10, "hidden_size": 24.5}}, r"backbone hidden_size must be an integer, got a number \(24.5\)"),
        ({"backbone": {"vocab_size": VOCAB, "emb_size": 10, "hidden_size": "24"}}, r'backbone hidden_size must be an integer, got a string \("24"\)'),
        ({"backbone": {"vocab_size": VOCAB, "tie_weights": "no"}}, "backbone tie_weights must be a boolean"),
        ({"backbone": {"vocab_size": VOCAB, "input_dropout": True}}, "backbone input_dropout must be a number, got a boolean"),
        ({"task": 5}, '"task" must be a string or null, got a number'),
        ({"model_type": ["language_model"]}, '"model_type" must be a string, got a list'),
        ({"head": "classifier"}, '"head" must be a JSON object or null'),
    ],
)
def test_bad_checkpoints_give_clear_errors(tmp_path, tiny_config, change, message):
    RNNBackbone(tiny_config).save_pretrained(tmp_path)
    if "backbone" in change:
        edit_backbone_part(tmp_path, change["backbone"])
    else:
        edit_config(tmp_path, **change)
    with pytest.raises(CheckpointError, match=message):
        load_backbone(tmp_path)


def test_missing_or_corrupt_files(tmp_path, tiny_config):
    with pytest.raises(CheckpointError, match="no such model directory"):
        read_config(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        read_config(tmp_path / "file")
    with pytest.raises(CheckpointError, match="config.json is missing"):
        read_config(tmp_path)
    RNNBackbone(tiny_config).save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_backbone(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="invalid JSON"):
        read_config(tmp_path / "m")
    (tmp_path / "m" / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_backbone(tmp_path / "m")


def test_a_backbone_directory_is_not_a_language_model(tmp_path, tiny_config):
    RNNBackbone(tiny_config).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="not a language model"):
        load_language_model(tmp_path)
