"""Model directories with several named parts (format version 2), version-1 directories, atomic saves."""

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import nlp_apps
from nlp_apps.data.tokenizer import WordTokenizer
from nlp_apps.errors import CheckpointError
from nlp_apps.io import checkpoint
from nlp_apps.io.checkpoint import (
    DEFAULT_MODEL_DIR,
    FORMAT_VERSION,
    Part,
    load_backbone,
    load_language_model,
    load_model_tokenizer,
    load_parts,
    load_weights,
    read_config,
    read_model_config,
    save_model,
    save_model_dir,
)
from nlp_apps.models.backbone import BackboneConfig, RNNBackbone
from nlp_apps.models.lm import RNNLanguageModel
from tests.conftest import HIDDEN, VOCAB


def words(n, stem):
    return WordTokenizer(["<pad>", "<unk>", "<s>", "</s>"] + [f"{stem}{i}" for i in range(n - 4)])


class Seq2Seq(nn.Module):
    """A stand-in for a translation model: two backbones (the parts) and a head of its own."""

    def __init__(self, encoder: BackboneConfig, decoder: BackboneConfig):
        super().__init__()
        self.encoder, self.decoder = RNNBackbone(encoder), RNNBackbone(decoder)
        self.bridge = nn.Linear(self.encoder.output_size, self.decoder.output_size)


@pytest.fixture
def two_parts(tiny_config):
    german = BackboneConfig(**{**tiny_config.to_dict(), "vocab_size": VOCAB, "bidirectional": True})
    english = BackboneConfig(**{**tiny_config.to_dict(), "vocab_size": VOCAB + 4, "cell": "gru", "tie_weights": False})
    torch.manual_seed(0)
    model = Seq2Seq(german, english)
    return model, {"encoder": Part(german, words(VOCAB, "de")), "decoder": Part(english, words(VOCAB + 4, "en"))}


def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("loading a model directory must not unpickle")

    for module, name in ((torch, "load"), (pickle, "load"), (pickle, "loads")):
        monkeypatch.setattr(module, name, refuse)


def test_two_part_model_round_trip(tmp_path, two_parts, monkeypatch):
    model, parts = two_parts
    save_model_dir(tmp_path / "mt", model, parts, model_type="seq2seq", task="translation", head={"beam": 4})
    config = json.loads((tmp_path / "mt" / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION == 2 and set(config["parts"]) == {"encoder", "decoder"}
    assert config["parts"]["decoder"]["tokenizer"]["file"] == "tokenizers/decoder/vocab.txt"
    assert (tmp_path / "mt" / "tokenizers" / "encoder" / "vocab.txt").is_file()

    no_unpickling(monkeypatch)
    loaded = load_parts(tmp_path / "mt")
    assert list(loaded) == ["decoder", "encoder"]  # sorted on disk
    assert {name: part.backbone for name, part in loaded.items()} == {name: part.backbone for name, part in parts.items()}
    assert loaded["encoder"].tokenizer.tokens == parts["encoder"].tokenizer.tokens
    assert loaded["decoder"].tokenizer.tokens == parts["decoder"].tokenizer.tokens
    rebuilt = load_weights(tmp_path / "mt", Seq2Seq(loaded["encoder"].backbone, loaded["decoder"].backbone), device="meta")
    assert next(rebuilt.parameters()).device.type == "meta"
    rebuilt = load_weights(tmp_path / "mt", Seq2Seq(loaded["encoder"].backbone, loaded["decoder"].backbone))
    for name, value in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[name], value), name
    assert read_model_config(tmp_path / "mt")["head"] == {"beam": 4}

    # One part on its own, e.g. to start another model from this encoder.
    decoder = load_backbone(tmp_path / "mt", part="decoder")
    assert all(torch.equal(decoder.state_dict()[k], v) for k, v in model.decoder.state_dict().items())
    assert load_model_tokenizer(tmp_path / "mt", part="encoder").tokens == parts["encoder"].tokenizer.tokens
    with pytest.raises(CheckpointError, match="config.json: has no part 'backbone' \\(parts: decoder, encoder\\)"):
        load_backbone(tmp_path / "mt")


def test_save_refuses_parts_the_model_cannot_rebuild(tmp_path, two_parts):
    model, parts = two_parts
    with pytest.raises(TypeError, match="no RNNBackbone attribute 'bridge'"):
        save_model_dir(tmp_path / "a", model, {"bridge": parts["encoder"]}, model_type="seq2seq")
    with pytest.raises(ValueError, match="part 'decoder': the backbone config given differs"):
        save_model_dir(tmp_path / "b", model, {"decoder": parts["encoder"]}, model_type="seq2seq")
    with pytest.raises(ValueError, match="part name 'Encoder'"):
        save_model_dir(tmp_path / "c", model, {"Encoder": parts["encoder"]}, model_type="seq2seq")
    assert list(tmp_path.iterdir()) == []


def write_version_1(path, model: nn.Module, backbone: BackboneConfig, tokenizer, **fields):
    """A directory exactly as format version 1 wrote it (nlp-apps 0.1.0 before named parts)."""
    path.mkdir()
    prefix = "backbone." if isinstance(model, RNNBackbone) else ""
    save_file({prefix + k: v.contiguous() for k, v in model.state_dict().items()}, str(path / "model.safetensors"))
    config = {"format_version": 1, "nlp_apps_version": "0.1.0", "model_type": "language_model", "task": None, "head": None,
              "backbone": backbone.to_dict(), "tokenizer": tokenizer.save(path)}
    (path / "config.json").write_text(json.dumps({**config, **fields}))


def test_version_1_language_model_still_loads(tmp_path, tiny_config):
    torch.manual_seed(0)
    lm = RNNLanguageModel(tiny_config).eval()
    write_version_1(tmp_path / "v1", lm, tiny_config, words(VOCAB, "w"))
    loaded, tokenizer, config = load_language_model(tmp_path / "v1")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in lm.state_dict().items())
    assert tokenizer.vocab_size == VOCAB and config["backbone"] == tiny_config.to_dict()
    assert set(read_config(tmp_path / "v1")) == {"format_version", "nlp_apps_version", "model_type", "task", "head", "backbone", "tokenizer"}
    assert list(read_model_config(tmp_path / "v1")["parts"]) == ["backbone"]
    assert load_parts(tmp_path / "v1")["backbone"].backbone == tiny_config
    assert torch.equal(load_backbone(tmp_path / "v1").embedding.weight, lm.backbone.embedding.weight)
    pipeline = nlp_apps.load(tmp_path / "v1", device="meta")
    assert next(pipeline.model.parameters()).device.type == "meta"


def test_the_earlier_shipped_backbone_is_a_version_1_directory_that_still_loads():
    earlier = DEFAULT_MODEL_DIR.parent / "gutenberg-v1"  # the default until backbone v2 (format 2) shipped
    assert json.loads((earlier / "config.json").read_text())["format_version"] == 1
    assert read_model_config(earlier)["parts"]["backbone"]["tokenizer"]["file"] == "tokenizer.model"
    assert read_model_config(DEFAULT_MODEL_DIR)["format_version"] == 2


@pytest.fixture
def sentiment_registry(monkeypatch):
    """The sentiment plug-in registered directly (hermetic: no installed entry points needed)."""
    from nlp_apps import registry
    from tasks.sentiment import TASK

    installed = registry.Registry()
    installed.register(TASK)
    monkeypatch.setattr(registry, "_REGISTRY", installed)


def test_sentiment_models_old_and_new_load_on_the_requested_device(tmp_path, tiny_config, sentiment_registry):
    from tasks.sentiment import SentimentClassifier
    from tasks.sentiment.head_config import HeadConfig

    torch.manual_seed(0)
    classifier = SentimentClassifier(RNNBackbone(tiny_config), HeadConfig(labels=["negative", "positive"], hidden_size=8)).eval()
    tokenizer = words(VOCAB, "w")
    write_version_1(tmp_path / "v1", classifier, tiny_config, tokenizer, model_type="classifier", task="sentiment",
                    head=classifier.config.to_dict())
    save_model(tmp_path / "v2", model_type="classifier", backbone_config=tiny_config, model=classifier, tokenizer=tokenizer,
               task="sentiment", head=classifier.config.to_dict())
    for version in ("v1", "v2"):
        pipeline = nlp_apps.load(tmp_path / version)
        assert next(pipeline.model.parameters()).device.type == "cpu"
        probabilities = pipeline.probabilities(["w1 w2 w3", "w4"])
        tokens, lengths = torch.tensor([[5, 6, 7], [8, 0, 0]]), torch.tensor([3, 1])
        torch.testing.assert_close(probabilities, torch.softmax(classifier(tokens, lengths), -1).detach())
        on_meta = nlp_apps.load(tmp_path / version, device="meta")
        assert next(on_meta.model.parameters()).device.type == "meta"


def test_a_newer_format_version_is_a_clear_error(tmp_path, tiny_config):
    RNNLanguageModel(tiny_config).save_pretrained(tmp_path, tokenizer=words(VOCAB, "w"))
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "format_version": FORMAT_VERSION + 1}))
    message = f"{tmp_path / 'config.json'}: format_version 3 is newer than this nlp-apps supports \\(2\\); upgrade nlp-apps"
    for loader in (nlp_apps.load, load_parts, load_backbone, read_config):
        with pytest.raises(CheckpointError, match=message):
            loader(tmp_path)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda c: c["parts"].update(Encoder=c["parts"].pop("encoder")), "part name 'Encoder' must match"),
        (lambda c: c["parts"]["encoder"].update(vocab="x"), "unknown key\\(s\\) in part 'encoder': vocab"),
        (lambda c: c["parts"]["encoder"]["tokenizer"].update(file="../../secret"), "part 'encoder': the tokenizer file must be"),
        (lambda c: c["parts"]["decoder"]["backbone"].update(hidden_size=HIDDEN + 6), "model.safetensors: \\S+ has shape .*, config expects"),
    ],
)
def test_bad_part_entries_give_one_line_errors(tmp_path, two_parts, edit, message):
    model, parts = two_parts
    save_model_dir(tmp_path, model, parts, model_type="seq2seq")
    config = json.loads((tmp_path / "config.json").read_text())
    edit(config)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message) as error:
        loaded = load_parts(tmp_path)
        load_weights(tmp_path, Seq2Seq(loaded["encoder"].backbone, loaded["decoder"].backbone))
    assert "\n" not in str(error.value)


def test_a_missing_part_tokenizer_file_is_named(tmp_path, two_parts):
    model, parts = two_parts
    save_model_dir(tmp_path, model, parts, model_type="seq2seq")
    (tmp_path / "tokenizers" / "decoder" / "vocab.txt").unlink()
    with pytest.raises(CheckpointError, match="tokenizer file vocab.txt is missing"):
        load_parts(tmp_path)


def snapshot(path):
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_saves_are_all_or_nothing(tmp_path, tiny_config, monkeypatch):
    run = tmp_path / "run"
    torch.manual_seed(0)
    old, new = RNNLanguageModel(tiny_config), RNNLanguageModel(tiny_config)
    old.save_pretrained(run, tokenizer=words(VOCAB, "old"))
    (run / "log.csv").write_text("step,loss\n")  # a run directory holds more than the model
    before = snapshot(run)

    def broken_json(path, value):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "atomic_write_json", broken_json)
        with pytest.raises(OSError, match="disk full"):
            new.save_pretrained(run, tokenizer=words(VOCAB, "new"))
        with pytest.raises(OSError, match="disk full"):
            new.save_pretrained(tmp_path / "fresh", tokenizer=words(VOCAB, "new"))
    assert snapshot(run) == before  # unchanged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no half-written directory, no staging leftovers

    # A crash while the files move in leaves no model rather than a mix of two.
    real_replace = os.replace

    def crash_before_config(src, dst):
        if str(dst) == str(run / "config.json"):
            raise OSError("power cut")
        real_replace(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash_before_config)
        with pytest.raises(OSError, match="power cut"):
            new.save_pretrained(run, tokenizer=words(VOCAB, "new"))
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_language_model(run)

    new.save_pretrained(run, tokenizer=words(VOCAB, "new"))
    loaded, tokenizer, _ = load_language_model(run)
    assert torch.equal(loaded.backbone.embedding.weight, new.backbone.embedding.weight) and tokenizer.tokens[4] == "new0"
    assert (run / "log.csv").read_text() == "step,loss\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_backbones_shipped_beside_the_default_resolve_by_name(tmp_path, monkeypatch):
    from nlp_apps.io import checkpoint

    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "config.json").write_text("{}")
    (tmp_path / "gutenberg-v1").mkdir()
    (tmp_path / "gutenberg-v1" / "config.json").write_text("{}")
    monkeypatch.setattr(checkpoint, "DEFAULT_MODEL_DIR", tmp_path / "default")
    monkeypatch.chdir(tmp_path / "default")  # no folder of that name here
    assert checkpoint.resolve_model_dir("gutenberg-v1") == tmp_path / "gutenberg-v1"
    assert checkpoint.resolve_model_dir("default") == tmp_path / "default"
    assert checkpoint.resolve_model_dir("runs/mine") == checkpoint.Path("runs/mine")
    assert checkpoint.shipped_backbones() == ["default", "gutenberg-v1"]
