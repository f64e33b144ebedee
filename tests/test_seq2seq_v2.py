"""Seq2seq v2: coverage for a last phase of training only (See et al. 2017), resumable; a random-start translator
(no backbone on either side) that overfits a dozen sentence pairs exactly."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from nlp_apps.cli import cli
from nlp_apps.models.backbone import BackboneConfig, RNNBackbone
from nlp_apps.seq2seq.model import EncoderDecoder, Seq2SeqConfig
from nlp_apps.seq2seq.training import CoveragePhase, Seq2SeqTask
from nlp_apps.training.trainer import Callback, Trainer, TrainerConfig

VOCAB = 23  # both sides (copy needs one vocabulary)
PAIRS = [([5, 6, 7], [4, 5]), ([8, 9], [6, 7, 8]), ([10, 11, 12, 13], [9]), ([14, 5], [10, 11, 12]), ([6, 15, 16], [13, 4]),
         ([17, 18], [14, 15, 5]), ([19, 7, 8], [16, 6]), ([20, 21], [17, 18, 7]), ([22, 9, 10], [8, 9, 10, 11]),
         ([11, 12], [12, 13]), ([13, 14, 15], [14, 16, 17]), ([16, 17], [18, 4, 6])]
CPU = torch.device("cpu")


def coverage_task(coverage_from: float, trainer: TrainerConfig, seed: int = 0) -> Seq2SeqTask:
    """A pointer-generator with coverage (dropout on, so that a resume must restore the random generators too)."""
    torch.manual_seed(seed)
    shared = BackboneConfig(vocab_size=VOCAB, emb_size=8, hidden_size=12, input_dropout=0.1, hidden_dropout=0.1, output_dropout=0.1)
    encoder = RNNBackbone(dataclasses.replace(shared, bidirectional=True))
    config = Seq2SeqConfig(attention="bahdanau", input_feeding=False, copy=True, coverage=True, coverage_from=coverage_from, dropout=0.1)
    model = EncoderDecoder(encoder, RNNBackbone(shared), config)
    return Seq2SeqTask(model, PAIRS, [s for s, _ in PAIRS[:3]], evaluate=lambda outputs: {"score": 0.0}, save=lambda directory: None,
                       metric="score", param_groups=[{"params": list(model.parameters())}], batch_size=4, trainer=trainer)


def trainer_config(**changes) -> TrainerConfig:
    # 12 pairs in batches of 4: 3 steps an epoch; 8 steps planned, so coverage_from 0.5 joins at step 4 (counted from 0)
    return TrainerConfig(**{**dict(epochs=100, max_steps=8, lr=0.01, eval_every=1000, patience=None, progress=False), **changes})


class Recorder(Callback):
    def __init__(self, task):
        self.task, self.losses, self.weights = task, [], []

    def on_step_end(self, trainer, control):
        self.losses.append(self.task.last_coverage_loss)
        self.weights.append(self.task.model.attention.coverage_projection.weight.detach().clone())


class InterruptAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer, control):
        if trainer.step == self.step:
            control.should_interrupt = True  # as on Ctrl-C: last/ is saved and fit returns


def test_coverage_joins_for_the_last_part_of_training_only(tmp_path):
    config = trainer_config()
    task = coverage_task(0.5, config)
    messages = []
    task.log = messages.append
    recorder = Recorder(task)
    assert not task.model.coverage_active
    assert torch.all(task.model.attention.coverage_projection.weight == 0)  # joins late: starts at zero
    Trainer(task, config, tmp_path / "run", callbacks=[recorder]).fit()
    assert recorder.losses[:4] == [None] * 4  # no coverage loss before the switch
    assert all(loss > 0 for loss in recorder.losses[4:]), recorder.losses  # and a real one after it
    assert all(torch.all(w == 0) for w in recorder.weights[:4])  # nor the coverage feature: its weight stays untouched
    assert not torch.all(recorder.weights[-1] == 0)
    assert task.coverage_phase.joined_at == 4 and task.model.coverage_active
    assert len(messages) == 1 and messages[0].startswith("step 4: coverage joins") and "50% of training" in messages[0]

    always = coverage_task(0.0, config)  # the old behaviour: coverage from the first step, its weight random as before
    assert always.coverage_phase is None and always.model.coverage_active
    assert not torch.all(always.model.attention.coverage_projection.weight == 0)
    recorder = Recorder(always)
    Trainer(always, config, tmp_path / "always", callbacks=[recorder]).fit()
    assert all(loss is not None for loss in recorder.losses)


def test_before_the_switch_the_model_is_the_model_without_coverage():
    """Coverage off (before the phase) and coverage on with its zero weight decode alike, to the bit."""
    task = coverage_task(0.5, trainer_config())
    model = task.model.eval()
    from nlp_apps.seq2seq.decoding import DecodeConfig, decode_all

    sources = [s for s, _ in PAIRS]
    off = decode_all(model, sources, DecodeConfig(beam_size=3, max_length=6))
    model.coverage_active = True
    on = decode_all(model, sources, DecodeConfig(beam_size=3, max_length=6))
    assert off == on


@pytest.mark.parametrize("interrupt_at", [3, 6])  # before the switch (step 4) and after it
def test_a_run_resumed_across_the_switch_is_bit_identical(tmp_path, interrupt_at):
    config = trainer_config()
    straight = coverage_task(0.5, config)
    Trainer(straight, config, tmp_path / "straight").fit()
    first = coverage_task(0.5, config)
    assert Trainer(first, config, tmp_path / "resumed", callbacks=[InterruptAt(interrupt_at)]).fit().status == "interrupted"
    resumed = coverage_task(0.5, config)  # a new process: the model, the task and the trainer built afresh
    assert Trainer(resumed, config, tmp_path / "resumed").fit(resume=True).steps == 8
    assert resumed.coverage_phase.joined_at == straight.coverage_phase.joined_at == 4
    expected = straight.model.state_dict()
    for name, value in resumed.model.state_dict().items():
        assert torch.equal(value, expected[name]), name


def test_under_a_time_budget_the_switch_follows_the_training_time_of_all_sessions():
    phase = CoveragePhase(0.8, planned_steps=10_000, time_budget=100.0)
    assert not phase.due(CPU)
    phase.load_state_dict({"steps": 3, "elapsed": 70.0, "joined_at": None})  # a resumed run: 70 s of 100 spent before
    assert not phase.due(CPU) and phase.progress() == pytest.approx(0.70, abs=0.01)
    phase.load_state_dict({"steps": 3, "elapsed": 80.5, "joined_at": None})
    assert phase.due(CPU)
    phase.load_state_dict({"steps": 3, "elapsed": 80.5, "joined_at": 3})
    phase.time_budget = 1000.0  # resumed with a longer budget: progress falls, coverage stays on
    assert phase.due(CPU)
    assert CoveragePhase(0.5, planned_steps=10, time_budget=None).state_dict()["steps"] == 0


def test_the_late_phase_needs_coverage_and_the_trainer_settings():
    with pytest.raises(ValueError, match="needs coverage"):
        Seq2SeqConfig(coverage=False, coverage_from=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Seq2SeqConfig(coverage=True, coverage_from=1.0)
    with pytest.raises(ValueError, match="trainer"):
        coverage_task(0.5, None)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_coverage_from_is_stored_logged_and_resumed(tmp_path, tiny_language_model, plugins_on):
    rows = [{"text": f"Hi team, the meeting on day {i} moves to room {i + 2}. Thanks, Anna", "summary": f"meeting day {i} room {i + 2}"}
            for i in range(8)]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "sum"
    common = ["--train", data, "--valid", data, "--backbone", tiny_language_model, "--batch-size", 4, "--no-progress", "--eval-every", 100]
    result = invoke("summarization", "train", *common, "--out", out, "--coverage-from", 0.9, "--max-steps", 2)
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run_config.json").read_text())
    assert run["head"]["coverage_from"] == 0.9 and json.loads((out / "config.json").read_text())["head"]["coverage_from"] == 0.9
    assert run["head"]["coverage"] is True  # --coverage-from alone turns coverage on (it is off by default)
    assert "coverage joins" not in result.output  # 2 steps planned: step 1 is at 50% of training
    resumed = invoke("summarization", "train", "--resume", out, "--max-steps", 10)  # 10 planned now: joins at step 9
    assert resumed.exit_code == 0, resumed.output
    assert "step 9: coverage joins (attention feature and loss, weight 1) at 90% of training" in resumed.output
    refused = invoke("summarization", "train", *common, "--out", tmp_path / "x", "--no-coverage", "--coverage-from", 0.5)
    assert refused.exit_code == 2 and "needs coverage" in refused.output
    plain = invoke("summarization", "train", *common, "--out", tmp_path / "plain", "--max-steps", 1)
    assert plain.exit_code == 0, plain.output
    assert json.loads((tmp_path / "plain" / "config.json").read_text())["head"]["coverage"] is False  # the default since 2026-12-07
    on = invoke("summarization", "train", *common, "--out", tmp_path / "on", "--max-steps", 1, "--coverage")
    assert on.exit_code == 0 and json.loads((tmp_path / "on" / "config.json").read_text())["head"]["coverage"] is True


def test_a_random_start_translator_overfits_a_dozen_pairs_exactly(tmp_path, monkeypatch):
    """--src-backbone none --tgt-backbone none with the translation defaults (lr, schedule, label smoothing, dropout,
    input feeding, tied output layer), only smaller than the default backbone and with more epochs: greedy decoding
    reproduces every training target. Without the random decoder's larger embedding init it reproduces none."""
    from nlp_apps.training.recipe_config import RecipeConfig
    from tasks.translation import training
    from tasks.translation.adapter import read_pairs
    from tasks.translation.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS
    from tasks.translation.pipeline import load

    shape = training.random_backbone_config
    monkeypatch.setattr(training, "random_backbone_config", lambda vocab_size: dataclasses.replace(shape(vocab_size), emb_size=256, hidden_size=256))
    # The dozen shortest demo pairs (the decoder's step loop is most of the time): one batch, one step an epoch.
    pairs = sorted(read_pairs(Path(training.__file__).parent / "demo" / "train.tsv").pairs, key=lambda p: len(p.source) + len(p.target))[:12]
    steps = 70  # measured: 12 of 12 from 52 steps, not yet at 45
    trainer = TrainerConfig(**{**TRAINER_DEFAULTS, "epochs": steps, "eval_every": steps, "patience": None, "progress": False, "keep_last": False})
    training.train_translator(pairs, pairs, tmp_path / "mt", src_backbone="none", tgt_backbone="none", recipe=RecipeConfig(**RECIPE_DEFAULTS),
                              trainer=trainer, device="cpu", log=lambda message: None)
    translations = load(tmp_path / "mt").predict([p.source for p in pairs], beam_size=1)
    assert translations == [p.target for p in pairs]



@pytest.mark.parametrize("pretrained", [False, True])
def test_a_random_start_summarizer_gets_the_random_decoders_init(tmp_path, tiny_language_model, pretrained):
    """--no-pretrained draws the decoder's (tied) embedding from N(0, 0.5^2) as translation's random decoder does;
    a pretrained one keeps the language model's. Measured at the default shape on a dozen demo documents, 120
    steps of the summarization defaults: 12 of 12 summaries reproduced with it, 0 of 12 without."""
    from nlp_apps.io.checkpoint import load_language_model
    from nlp_apps.seq2seq.model import RANDOM_DECODER_EMBEDDING_STD
    from nlp_apps.training.recipe_config import RecipeConfig
    from tasks.summarization import training
    from tasks.summarization.adapter import read_dataset
    from tasks.summarization.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS
    from tasks.summarization.pipeline import load

    documents = read_dataset(Path(training.__file__).parent / "demo" / "train.jsonl")[:4]
    trainer = TrainerConfig(**{**TRAINER_DEFAULTS, "max_steps": 1, "eval_every": 1, "lr": 1e-9, "progress": False, "keep_last": False})
    recipe = RecipeConfig(**{**RECIPE_DEFAULTS, "pretrained": pretrained, "lm_finetune": False})
    training.train_summarizer(documents, documents, tmp_path / "sum", backbone=str(tiny_language_model), recipe=recipe,
                              trainer=trainer, device="cpu", log=lambda message: None)
    embedding = load(tmp_path / "sum").model.decoder.embedding.weight[1:]  # row 0 is padding
    if pretrained:
        assert torch.allclose(embedding, load_language_model(tiny_language_model)[0].backbone.embedding.weight[1:], atol=1e-6)
    else:
        assert embedding.std().item() == pytest.approx(RANDOM_DECODER_EMBEDDING_STD, rel=0.1)
