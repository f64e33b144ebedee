import dataclasses
import json
import math
import os
import signal

import numpy as np
import pytest
import torch

from nlp_apps.errors import TrainingError
from nlp_apps.models.lm import RNNLanguageModel
from nlp_apps.training.pretraining import LanguageModelingTask
from nlp_apps.training.schedules import lr_multiplier, slanted_triangular
from nlp_apps.training.trainer import Callback, StepOutput, Trainer, TrainerConfig, parse_duration, seed_everything
from tests.conftest import VOCAB, make_tiny_config


def make_task(tiny_config, seed=0):
    seed_everything(seed)
    config = type(tiny_config)(**{**tiny_config.to_dict(), "bidirectional": True, "weight_dropout": 0.2, "hidden_dropout": 0.2})
    rng = np.random.default_rng(0)
    train = rng.integers(4, VOCAB, size=3000)
    valid = rng.integers(4, VOCAB, size=300)
    return LanguageModelingTask(RNNLanguageModel(config), None, train, [("valid", valid, 250)], batch_size=5, bptt=9, seed=seed)


class InterruptAt(Callback):
    def __init__(self, step, use_signal=False):
        self.step, self.use_signal = step, use_signal

    def on_step_end(self, trainer, control):
        if trainer.step == self.step:
            if self.use_signal:
                os.kill(os.getpid(), signal.SIGTERM)  # the Trainer's handler turns this into a clean stop
            else:
                control.should_interrupt = True


def weights(task):
    return {k: v.clone() for k, v in task.model.state_dict().items()}


def no_save(task):
    task.save = lambda directory, exact=False: (directory.mkdir(parents=True, exist_ok=True), None)[1]
    return task


RESUME_CONFIG = TrainerConfig(epochs=2, eval_every=25, lr=0.01, progress=False, seed=3)


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory):
    """The straight run both ways of interrupting are compared with (trained once): (result, weights)."""
    straight = no_save(make_task(make_tiny_config()))
    result = Trainer(straight, RESUME_CONFIG, tmp_path_factory.mktemp("straight")).fit()
    return result, weights(straight)


@pytest.mark.parametrize("use_signal", [False, True])
def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, tiny_config, uninterrupted_run, use_signal):
    config = RESUME_CONFIG
    result, straight_weights = uninterrupted_run
    assert result.status == "finished" and result.steps > 70

    first = no_save(make_task(tiny_config))
    partial = Trainer(first, config, tmp_path / "b", callbacks=[InterruptAt(37, use_signal)]).fit()
    assert partial.status == "interrupted" and partial.steps == 37
    assert (tmp_path / "b" / "last" / "trainer_state.pt").is_file()

    second = no_save(make_task(tiny_config, seed=123))  # different init: everything must come from the checkpoint
    resumed = Trainer(second, config, tmp_path / "b").fit(resume=True)
    assert resumed.steps == result.steps
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert len(manifest["earlier_sessions"]) == 1  # the interrupted session is still on record
    assert manifest["peak_rss_mb"] >= manifest["earlier_sessions"][0]["peak_rss_mb"]
    for name, value in straight_weights.items():
        torch.testing.assert_close(weights(second)[name], value, rtol=0, atol=0, msg=name)


class ConstantLossTask:
    """A fake task whose loss never improves (for early stopping) or is NaN (for the guard)."""

    metric, metric_mode, unit = "loss", "min", "ex"

    def __init__(self, loss_value):
        self.model = torch.nn.Linear(2, 1)
        self.device = torch.device("cpu")
        self.loss_value = loss_value
        self.remaining = 0

    def param_groups(self):
        return [{"params": list(self.model.parameters()), "lr_scale": 1.0}]

    def steps_per_epoch(self):
        return 4

    def start_epoch(self, epoch):
        self.remaining = 4

    def next_batch(self):
        self.remaining -= 1
        return None if self.remaining < 0 else torch.ones(3, 2)

    def training_step(self, batch):
        return StepOutput(loss=self.model(batch).sum() * 0 + self.loss_value, units=3)

    def evaluate(self):
        return {"loss": 1.0}

    def save(self, directory, exact=False):
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), directory / "weights.pt")

    def state_dict(self):
        return {"remaining": self.remaining}

    def load_state_dict(self, state):
        self.remaining = state["remaining"]

    def data_files(self):
        return []


def test_early_stopping_after_patience_evaluations(tmp_path):
    result = Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=50, patience=2, progress=False), tmp_path).fit()
    assert result.status == "early_stopped"
    assert result.steps == 3 * 4  # best at epoch 1, then two epochs without improvement
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "log.csv").is_file()


class ReadLogAt(Callback):
    """Reads log.csv while the run is still going, right after the step that logs a training row."""

    def __init__(self, step, path):
        self.step, self.path, self.seen = step, path, None

    def on_step_end(self, trainer, control):
        if trainer.step == self.step:
            self.seen = self.path.read_text().splitlines()


def test_log_csv_is_current_during_a_run_without_a_progress_bar(tmp_path):
    reader = ReadLogAt(4, tmp_path / "log.csv")
    config = TrainerConfig(epochs=3, log_every=2, patience=None, progress=False)
    Trainer(ConstantLossTask(1.0), config, tmp_path, callbacks=[reader]).fit()
    assert reader.seen is not None and len(reader.seen) == 1 + 2  # header + the rows of steps 2 and 4, before any evaluation
    assert [row.split(",")[0] for row in reader.seen[1:]] == ["2", "4"]


def test_without_a_progress_bar_plain_lines_go_to_stderr(tmp_path, capsys):
    config = TrainerConfig(epochs=2, log_every=2, patience=None, progress=False)
    Trainer(ConstantLossTask(1.0), config, tmp_path).fit()
    lines = capsys.readouterr().err.splitlines()
    steps = [line for line in lines if line.startswith("step ")]
    assert steps and steps[0].startswith("step 2 epoch 1: loss=1.000") and "eta=" in steps[0]
    assert any(line.startswith("eval @ step") for line in lines)


@pytest.mark.parametrize("token_nll", [True, False])
def test_the_progress_line_shows_a_perplexity_only_for_a_plain_token_nll(tmp_path, capsys, token_nll):
    task = ConstantLossTask(1.0)
    task.unit, task.loss_is_token_nll = "tok", token_nll  # False: e.g. a label-smoothed seq2seq loss
    Trainer(task, TrainerConfig(epochs=1, log_every=2, patience=None, progress=False), tmp_path).fit()
    step_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert step_lines and all(("ppl=2.7" in line) == token_nll for line in step_lines)


def test_nan_loss_stops_with_a_clear_error_and_leaves_checkpoints_alone(tmp_path):
    task = ConstantLossTask(1.0)
    Trainer(task, TrainerConfig(epochs=1, progress=False), tmp_path).fit()
    before = (tmp_path / "last" / "weights.pt").read_bytes()
    task.loss_value = float("nan")
    with pytest.raises(TrainingError, match="loss became nan at step 1"):
        Trainer(task, TrainerConfig(epochs=1, progress=False), tmp_path).fit()
    assert (tmp_path / "last" / "weights.pt").read_bytes() == before


def test_time_budget_and_max_steps_stop_training(tmp_path):
    result = Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=100, max_steps=6, patience=None, progress=False), tmp_path).fit()
    assert (result.status, result.steps) == ("max_steps", 6)
    result = Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=10**6, time_budget=0.5, patience=None, progress=False), tmp_path / "t").fit()
    assert result.status == "time_budget"


def test_schedules():
    assert lr_multiplier("constant", 0.7) == 1.0
    assert lr_multiplier("linear", 0.25) == pytest.approx(0.75)
    assert lr_multiplier("cosine", 0.5) == pytest.approx(0.5)
    assert lr_multiplier("cosine", 0.05, warmup=0.1) == pytest.approx(0.5)
    assert slanted_triangular(0.0) == pytest.approx(1 / 32)
    assert slanted_triangular(0.1) == pytest.approx(1.0)
    assert slanted_triangular(1.0) == pytest.approx(1 / 32)
    assert slanted_triangular(0.55) == pytest.approx((1 + 0.5 * 31) / 32)
    assert lr_multiplier("slanted_triangular", 0.02, warmup=0.02) == pytest.approx(1.0)  # a shorter rise
    assert lr_multiplier("slanted_triangular", 0.51, warmup=0.02) == pytest.approx((1 + 0.5 * 31) / 32)
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_multiplier("step", 0.5)


def test_warmup_steps_cap_the_rise_of_a_long_run(tmp_path):
    """1,000 planned steps: the slanted triangle would rise for 100 of them; warmup_steps=20 peaks at step 20."""
    config = TrainerConfig(epochs=1000, max_steps=1000, lr=1.0, schedule="slanted_triangular", warmup_steps=20, patience=None, progress=False)
    trainer = Trainer(ConstantLossTask(1.0), config, tmp_path)
    rates = {}
    for step in (1, 10, 20, 60, 1000):
        trainer.step = step
        rates[step] = lr_multiplier(config.schedule, trainer.progress(), trainer.warmup())
    assert rates[1] < rates[10] < rates[20] == pytest.approx(1.0) and rates[60] < 1.0 and rates[1000] == pytest.approx(1 / 32)
    uncapped = Trainer(ConstantLossTask(1.0), dataclasses.replace(config, warmup_steps=None), tmp_path / "u")
    uncapped.step = 20
    assert uncapped.warmup() == pytest.approx(0.1) and lr_multiplier(config.schedule, uncapped.progress(), uncapped.warmup()) < 0.3


def test_parse_duration():
    assert parse_duration("90") == 90 and parse_duration("30m") == 1800 and parse_duration("1.5h") == 5400
    with pytest.raises(ValueError, match="30m"):
        parse_duration("soon")


def test_discriminative_lr_scales_param_groups(tmp_path):
    task = ConstantLossTask(1.0)
    task.param_groups = lambda: [
        {"params": [task.model.weight], "lr_scale": 1 / 2.6},
        {"params": [task.model.bias], "lr_scale": 1.0},
    ]
    trainer = Trainer(task, TrainerConfig(lr=0.01, schedule="constant", progress=False), tmp_path)
    trainer._started, trainer.elapsed_before = 0.0, 0.0
    trainer._set_lr()
    assert [g["lr"] for g in trainer.optimizer.param_groups] == pytest.approx([0.01 / 2.6, 0.01])
    assert math.isclose(trainer.config.lr, 0.01)
