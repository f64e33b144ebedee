"""The sentiment head's n-gram path (`--ngram-features`): hashed word uni- and bigrams, naive-Bayes weighted,
a linear layer whose logits add to the RNN head's."""

import itertools
import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from nlp_apps.models.backbone import BackboneConfig, RNNBackbone
from tasks.sentiment import TASK
from tasks.sentiment.adapter import Example
from tasks.sentiment.head import build_head, nb_ratios, ngram_batch, ngram_ids
from tasks.sentiment.head_config import HeadConfig

WORDS = ["red", "blue", "green", "cat", "dog", "sun", "moon", "tree"]


def word_order_set(path):
    """Only the order of two words carries the label: every word, and so every unigram, occurs equally often in both classes."""
    rows = [f"{a} {b}\tfirst\n{b} {a}\tsecond" for a, b in itertools.combinations(WORDS, 2)]
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def invoke(*args):
    from nlp_apps.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_bigrams_alone_are_learned_and_the_model_saves_and_loads_identically(tmp_path, tiny_language_model, plugins_on):
    import nlp_apps

    data = word_order_set(tmp_path / "order.tsv")
    out = tmp_path / "clf"
    result = invoke("sentiment", "train", "--train", data, "--valid", data, "--out", out, "--backbone", tiny_language_model, "--ngram-features",
                    "--ngram-combine", "joint", "--epochs", 8, "--patience", 8, "--batch-size", 8, "--dropout", 0, "--no-progress", "--seed", 0)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())["head"]
    assert config["ngram_features"] is True and config["ngram_buckets"] == 2**18
    weights = load_file(out / "model.safetensors")
    assert weights["ngrams.weight"].shape == weights["ngrams.ratios"].shape == (2**18, 2)
    examples = TASK.read_dataset(data)
    texts, labels = [e.text for e in examples], [e.label for e in examples]
    scores = json.loads(invoke("sentiment", "evaluate", "--model", out, "--data", data, "--json").output)
    assert scores["accuracy"] >= 0.9, scores
    assert nlp_apps.evaluate(out, data)["accuracy"] == scores["accuracy"]
    loaded = TASK.load(out)
    assert [p["label"] for p in loaded.predict(texts)] == [p["label"] for p in nlp_apps.load(out).predict(texts)]
    assert sum(p == t for p, t in zip([p["label"] for p in loaded.predict(texts)], labels)) / len(texts) == scores["accuracy"]
    # Saved again and loaded: exactly the same probabilities.
    TASK.save(loaded.model, loaded.tokenizer, tmp_path / "again")
    assert TASK.load(tmp_path / "again").predict(texts) == loaded.predict(texts)


def test_hashing_is_the_same_in_every_process():
    text = "It isn't GOOD, not good!"
    ids = ngram_ids(text, 2**18)
    # it, isn't, good, ",", not, "!" and their five bigrams (+ "good !"): crc32, not Python's salted hash().
    assert ids == [20114, 93907, 114241, 130421, 134201, 161588, 164718, 176693, 237745, 249480, 261146, 262099]
    code = f"from tasks.sentiment.head import ngram_ids; print(ngram_ids({text!r}, 2**18))"
    code += "; print(hash('good'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"})
    assert json.loads(other.stdout.splitlines()[0]) == ids and int(other.stdout.splitlines()[1]) != hash("good")  # another str hash, the same ids
    assert ngram_ids("it isn't good, not good!", 2**18) == ids  # lowercased
    assert ngram_ids("", 2**18) == [] and all(0 <= i < 7 for i in ngram_ids(text, 7))


def tiny_backbone():
    return RNNBackbone(BackboneConfig(vocab_size=37, emb_size=10, hidden_size=24, bidirectional=True, input_dropout=0, hidden_dropout=0,
                                      output_dropout=0))


EXAMPLES = [Example("not good", "neg", "x:1"), Example("good , not bad", "pos", "x:2"), Example("very good", "pos", "x:3")]


def test_without_the_option_the_head_is_the_rnn_head_and_with_it_starts_where_that_head_does():
    torch.manual_seed(0)
    old = build_head(tiny_backbone(), HeadConfig(), EXAMPLES)
    torch.manual_seed(0)
    new = build_head(tiny_backbone(), HeadConfig(ngram_features=True, ngram_buckets=64), EXAMPLES)
    names = list(old.state_dict())
    assert not any(name.startswith("ngrams") for name in names) and not hasattr(old, "ngrams")
    assert list(new.state_dict()) == names + ["ngrams.weight", "ngrams.ratios"]
    assert [n for n, _ in new.named_parameters()] == [n for n, _ in old.named_parameters()] + ["ngrams.weight"]
    # A model directory written before the option existed (no n-gram keys in its head config) is the RNN head.
    assert HeadConfig.from_dict({"labels": ["neg", "pos"], "hidden_size": 50, "dropout": 0.2, "chunk_size": 128, "grad_chunks": 4}).ngram_features is False
    # The n-gram weights start at zero: the same logits as the RNN head alone; they train with the head from the first step.
    old.eval(), new.eval()
    tokens, lengths = torch.randint(1, 37, (3, 4)), torch.tensor([4, 2, 3])
    ngrams = ngram_batch([ngram_ids(e.text, 64) for e in EXAMPLES])
    assert torch.equal(old(tokens, lengths), new(tokens, lengths, ngrams))
    assert new.layer_groups()[-1][-1] is new.ngrams.weight and len(new.layer_groups()) == len(old.layer_groups())
    with pytest.raises(ValueError, match="n-gram features"):
        new(tokens, lengths)
    with pytest.raises(ValueError, match="training examples"):
        build_head(tiny_backbone(), HeadConfig(labels=["neg", "pos"], ngram_features=True))


def test_naive_bayes_ratios_and_the_linear_path():
    bags = [[0, 1], [1, 2], [2]]
    ratios = nb_ratios(bags, [0, 1, 1], classes=2, buckets=4)
    # class 1: p = 1 + counts in class 1 over buckets 0..2 = [1, 2, 3] / 6, q = 1 + counts elsewhere = [2, 2, 1] / 5.
    expected = torch.log(torch.tensor([1 / 6, 2 / 6, 3 / 6]) / torch.tensor([2 / 5, 2 / 5, 1 / 5]))
    torch.testing.assert_close(ratios[:3, 1], expected)
    torch.testing.assert_close(ratios[:3, 0], -expected)  # two classes: one is the other's rest
    assert ratios[3].tolist() == [0.0, 0.0]  # never seen in training
    model = build_head(tiny_backbone(), HeadConfig(labels=["neg", "pos"], ngram_features=True, ngram_buckets=4, ngram_lr_scale=3.0),
                       [Example("a", "neg", "x"), Example("b", "pos", "x")])
    path = model.ngrams
    path.ratios.copy_(ratios)
    with torch.no_grad():
        path.weight.copy_(torch.arange(8.0).view(4, 2))
    ids, offsets = ngram_batch([[0, 1], [], [2]])
    out = path(ids, offsets)
    manual = torch.stack([(path.weight[[0, 1]] * ratios[[0, 1]]).sum(0) / 2**0.5, torch.zeros(2), path.weight[2] * ratios[2]])
    torch.testing.assert_close(out, 3.0 * manual)
    out.sum().backward()  # the factor is in the forward pass only: the gradient is the effective weights'
    torch.testing.assert_close(path.weight.grad[2], ratios[2])


@pytest.mark.parametrize("flag", ["joint", "--no-ngram-features", "stacked"])
def test_an_interrupted_run_resumes_to_the_same_weights_with_and_without_ngrams(tmp_path, tiny_language_model, plugins_on, monkeypatch, flag):
    from nlp_apps.training.trainer import Trainer
    from tests.test_trainer import InterruptAt

    files = TASK.demo_data()
    # stacked: the default head, no head options at all
    head = {"joint": ["--ngram-features", "--ngram-combine", "joint"], "stacked": []}.get(flag, [flag])
    common = ["sentiment", "train", "--train", files["valid"], "--valid", files["valid"], "--backbone", tiny_language_model, "--max-steps", 6,
              "--eval-every", 3, "--batch-size", 4, "--no-progress", "--seed", 1, "--no-lm-finetune", *head]
    assert invoke(*common, "--out", tmp_path / "whole").exit_code == 0
    fit = Trainer.fit

    def stopped_after_step_4(self, *args, **kwargs):
        self.callbacks.append(InterruptAt(4, use_signal=True))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", stopped_after_step_4)
    first = invoke(*common, "--out", tmp_path / "run")
    assert first.exit_code == 130, first.output
    monkeypatch.setattr(Trainer, "fit", fit)
    assert invoke("sentiment", "train", "--resume", tmp_path / "run").exit_code == 0
    ours, theirs = (load_file(tmp_path / run / "last" / "model.safetensors") for run in ("run", "whole"))
    if flag == "joint":
        assert bool(theirs["ngrams.weight"].abs().sum() > 0)
    elif flag == "stacked":  # trained as the RNN head alone; the stacking (once, at the end) fitted the saved model only
        assert not bool(theirs["ngrams.weight"].abs().sum() > 0)
        stacked = [load_file(tmp_path / run / "model.safetensors") for run in ("run", "whole")]
        assert all(torch.equal(stacked[0][name], stacked[1][name]) for name in stacked[1]) and bool(stacked[0]["ngrams.weight"].abs().sum() > 0)
        records = [json.loads((tmp_path / run / "metrics.json").read_text())["stacking"] for run in ("run", "whole")]
        assert records[0]["mix"] == records[1]["mix"] and records[0]["C"] == records[1]["C"]
    else:  # the RNN head alone
        assert not any(name.startswith("ngrams") for name in theirs)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["head"]["ngram_features"] is (flag != "--no-ngram-features")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[name], theirs[name]) for name in theirs)
    refused = invoke("sentiment", "train", "--resume", tmp_path / "run", head[0] if head else "--ngram-features")
    assert refused.exit_code == 2 and "--ngram-features cannot change when resuming" in refused.output


def test_a_stacking_cut_short_is_redone_on_resume_without_more_training(tmp_path, tiny_language_model, plugins_on, monkeypatch):
    from tasks.sentiment import stacking

    files = TASK.demo_data()
    args = ["sentiment", "train", "--train", files["valid"], "--valid", files["valid"], "--backbone", tiny_language_model, "--max-steps", 4,
            "--batch-size", 4, "--no-progress", "--seed", 1, "--ngram-features", "--ngram-combine", "stacked", "--out", tmp_path / "run"]
    fit = stacking.fit_stacking

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(stacking, "fit_stacking", killed)
    cut = invoke(*args)
    assert cut.exit_code == 130, cut.output  # an interrupt, as Ctrl-C during the stacking
    trained = load_file(tmp_path / "run" / "model.safetensors")
    assert "stacking" not in json.loads((tmp_path / "run" / "metrics.json").read_text())
    monkeypatch.setattr(stacking, "fit_stacking", fit)
    resumed = invoke("sentiment", "train", "--resume", tmp_path / "run")
    assert resumed.exit_code == 0, resumed.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 4 and "stacking" in metrics
    after = load_file(tmp_path / "run" / "model.safetensors")
    assert all(torch.equal(trained[name], after[name]) for name in trained if not name.startswith(("ngrams", "stack_")))


# ---- the stacked combination (`--ngram-combine stacked`, tasks/sentiment/stacking.py) ------------------------------


def test_a_stacked_head_trains_as_the_rnn_head_and_is_fitted_after(tmp_path, tiny_language_model, plugins_on):
    data = word_order_set(tmp_path / "order.tsv")
    out = tmp_path / "stacked"
    result = invoke("sentiment", "train", "--train", data, "--valid", data, "--out", out, "--backbone", tiny_language_model, "--ngram-features",
                    "--ngram-combine", "stacked", "--epochs", 1, "--batch-size", 8, "--no-progress", "--seed", 0)
    assert result.exit_code == 0, result.output
    assert "stacking: validation accuracy RNN head" in result.output
    stacking = json.loads((out / "metrics.json").read_text())["stacking"]
    # Only the order of two words carries the label: the n-gram path (bigrams) learns it; after one epoch the RNN head has not.
    assert stacking["valid_accuracy_ngrams"] == 1.0 and stacking["valid_accuracy_rnn"] < 0.9, stacking
    assert stacking["valid_accuracy"] >= max(stacking["valid_accuracy_rnn"], stacking["valid_accuracy_ngrams"])
    assert json.loads((out / "metrics.json").read_text())["best"]["accuracy"] == stacking["valid_accuracy"]
    # The saved model is the fitted one: it scores what the stacking chose, the same after another save and load.
    assert json.loads(invoke("sentiment", "evaluate", "--model", out, "--data", data, "--json").output)["accuracy"] == stacking["valid_accuracy"]
    loaded = TASK.load(out)
    assert loaded.model.stack_mix.tolist() == pytest.approx(stacking["mix"], abs=1e-4)
    TASK.save(loaded.model, loaded.tokenizer, tmp_path / "again")
    examples = TASK.read_dataset(data)
    texts = [e.text for e in examples]
    assert TASK.load(tmp_path / "again").predict(texts) == loaded.predict(texts)
    # Each path's logits in one pass: the mix is what predict gives, each path scores what the stacking measured.
    paths = loaded.path_logits(texts)
    assert [loaded.labels[i] for i in paths["stacked"].argmax(-1)] == [p["label"] for p in loaded.predict(texts)]
    for name in ("rnn", "ngrams"):
        right = sum(loaded.labels[i] == e.label for i, e in zip(paths[name].argmax(-1).tolist(), examples))
        assert right / len(examples) == pytest.approx(stacking[f"valid_accuracy_{name}"])
    refused = invoke("sentiment", "train", "--train", data, "--valid", data, "--out", tmp_path / "x", "--no-ngram-features", "--ngram-combine", "stacked")
    assert refused.exit_code == 2 and "--ngram-combine needs the n-gram path (--ngram-features)" in refused.output


def test_before_fitting_a_stacked_head_is_the_rnn_head_and_its_ngram_weights_never_train():
    torch.manual_seed(0)
    rnn = build_head(tiny_backbone(), HeadConfig(), EXAMPLES)
    torch.manual_seed(0)
    stacked = build_head(tiny_backbone(), HeadConfig(ngram_features=True, ngram_buckets=64, ngram_combine="stacked"), EXAMPLES)
    rnn.eval(), stacked.eval()
    tokens, lengths = torch.randint(1, 37, (3, 4)), torch.tensor([4, 2, 3])
    ngrams = ngram_batch([ngram_ids(e.text, 64) for e in EXAMPLES])
    assert torch.equal(rnn(tokens, lengths), stacked(tokens, lengths)) and torch.equal(rnn(tokens, lengths), stacked(tokens, lengths, ngrams))
    assert not stacked.ngrams.weight.requires_grad and stacked.ngrams.lr_scale == 1.0
    assert all(p is not stacked.ngrams.weight for group in stacked.layer_groups() for p in group)
    with torch.no_grad():
        stacked.stack_mix.copy_(torch.tensor([0.5, 2.0]))
        stacked.stack_bias.copy_(torch.tensor([0.1, -0.1]))
        stacked.ngrams.weight.normal_()
    expected = 0.5 * rnn(tokens, lengths) + 2.0 * stacked.ngrams(*ngrams) + torch.tensor([0.1, -0.1])
    torch.testing.assert_close(stacked(tokens, lengths, ngrams), expected)
    with pytest.raises(ValueError, match="n-gram features"):
        stacked(tokens, lengths)  # fitted: the n-grams are needed
    with pytest.raises(ValueError, match="ngram_combine"):
        HeadConfig(ngram_combine="sum")


def test_the_mix_is_kept_only_where_it_beats_each_path_alone():
    from tasks.sentiment.stacking import fit_stacking

    texts = [f"{a} {b}" for a, b in itertools.combinations(WORDS, 2)] + [f"{b} {a}" for a, b in itertools.combinations(WORDS, 2)]
    targets = [0] * 28 + [1] * 28
    model = build_head(tiny_backbone(), HeadConfig(labels=["first", "second"], ngram_features=True, ngram_buckets=2**12, ngram_combine="stacked"),
                       [Example(t, "first" if y == 0 else "second", "x") for t, y in zip(texts, targets)])
    # An RNN head that is right everywhere: the n-gram path cannot add to it and the pure RNN head is kept at (1, 0) ...
    perfect = torch.tensor([[2.0, -2.0] if y == 0 else [-2.0, 2.0] for y in targets])
    report, logits = fit_stacking(model, perfect, texts, targets, texts, targets, log=lambda line: None)
    assert report["valid_accuracy"] == 1.0 and report["chosen"] in ("mix", "rnn") and logits.shape == (56, 2)
    # ... and one that is wrong everywhere is outweighed: never below the better path alone.
    report, logits = fit_stacking(model, -perfect, texts, targets, texts, targets, log=lambda line: None)
    assert report["valid_accuracy_rnn"] == 0.0 and report["valid_accuracy"] == report["valid_accuracy_ngrams"] == 1.0
    assert (logits.argmax(-1) == torch.tensor(targets)).all()
