import pytest
import torch
from torch import nn

from nlp_apps.training.trainer import Callback, Control, StepOutput, Trainer, TrainerConfig
from nlp_apps.training.unfreezing import GradualUnfreezing


class FakeTrainer:
    def __init__(self, groups=()):
        self.at, self.step = 0.0, 0
        self.optimizer = torch.optim.AdamW([{"params": g} for g in groups] or [nn.Parameter(torch.zeros(1))])

    def progress(self):
        return self.at


def layered_groups():
    layers = [nn.Linear(3, 3) for _ in range(4)]  # bottom .. top
    return layers, [list(layer.parameters()) for layer in layers]


def trainable(layers):
    return [all(p.requires_grad for p in layer.parameters()) for layer in layers]


def test_the_top_group_trains_first_and_the_rest_join_by_the_span():
    layers, groups = layered_groups()
    callback, trainer = GradualUnfreezing(groups, span=0.3), FakeTrainer(groups)
    callback.on_train_start(trainer, Control())
    assert trainable(layers) == [False, False, False, True]
    seen = []
    for step in range(101):
        trainer.at = step / 100
        callback.on_step_end(trainer, Control())
        seen.append(sum(trainable(layers)))
    assert seen == sorted(seen)  # never re-frozen
    assert seen[9] == 1 and seen[10] == 2 and seen[20] == 3 and seen[30] == 4
    assert trainable(layers) == [True] * 4


def test_max_steps_ends_the_span_sooner_in_a_long_run():
    layers, groups = layered_groups()
    callback, trainer = GradualUnfreezing(groups, span=0.3, max_steps=30), FakeTrainer(groups)
    callback.on_train_start(trainer, Control())
    seen = []
    for step in range(31):  # a long run: 1,000 steps planned, so progress is step / 1000
        trainer.step, trainer.at = step, step / 1000
        callback.on_step_end(trainer, Control())
        seen.append(sum(trainable(layers)))
    assert seen[9] == 1 and seen[10] == 2 and seen[20] == 3 and seen[30] == 4  # by steps, not by 30% of 1,000
    assert callback.lr_factors(trainer) == [0.0, 1.0, 1.0, 1.0]  # the bottom group has just joined: its rate rises over one share
    trainer.step = 40
    assert callback.lr_factors(trainer) == pytest.approx([1.0] * 4)
    trainer.step, trainer.at = 15, 0.15 / 0.3 * 0.3 * 2  # a short run where the span comes first: progress decides
    assert GradualUnfreezing(groups, span=0.3, max_steps=10**6).progress(trainer) == trainer.at
    with pytest.raises(ValueError, match="steps must be at least 1"):
        GradualUnfreezing(groups, max_steps=0)


def test_a_resumed_run_recomputes_the_frozen_groups_from_progress():
    layers, groups = layered_groups()
    trainer = FakeTrainer(groups)
    trainer.at = 0.15
    GradualUnfreezing(groups, span=0.3).on_train_start(trainer, Control())
    assert trainable(layers) == [False, False, True, True]


def test_a_single_group_always_trains_and_bad_spans_are_refused():
    layer = nn.Linear(2, 2)
    callback = GradualUnfreezing([list(layer.parameters())])
    callback.on_train_start(FakeTrainer([list(layer.parameters())]), Control())
    assert all(p.requires_grad for p in layer.parameters())
    with pytest.raises(ValueError, match="span"):
        GradualUnfreezing([list(layer.parameters())], span=0.0)


def test_a_joining_group_warms_up_from_zero_learning_rate():
    _, groups = layered_groups()
    callback, trainer = GradualUnfreezing(groups, span=0.3), FakeTrainer(groups)
    gates = lambda: callback.lr_factors(trainer)
    callback.on_train_start(trainer, Control())
    assert gates() == [0.0, 0.0, 0.0, 1.0]
    trainer.at = 0.15  # the third group from the bottom joined at 0.1 and is half warmed up
    callback.on_step_end(trainer, Control())
    assert gates() == pytest.approx([0.0, 0.0, 0.5, 1.0])
    trainer.at = 0.5
    callback.on_step_end(trainer, Control())
    assert gates() == [1.0, 1.0, 1.0, 1.0]


def test_optimizer_groups_that_mix_layers_are_refused():
    _, groups = layered_groups()
    trainer = FakeTrainer([[p for g in groups for p in g]])
    with pytest.raises(ValueError, match="one optimizer parameter group per"):
        GradualUnfreezing(groups).on_train_start(trainer, Control())


def test_progress_that_falls_back_on_resume_never_refreezes_a_layer():
    layers, groups = layered_groups()
    callback, trainer = GradualUnfreezing(groups, span=0.3), FakeTrainer(groups)
    trainer.at = 0.25
    callback.on_train_start(trainer, Control())
    saved = callback.state_dict()
    resumed = GradualUnfreezing(groups, span=0.3)
    resumed.load_state_dict(saved)
    trainer.at = 0.05  # a larger budget on resume: the same run is now less far along
    resumed.on_train_start(trainer, Control())
    assert trainable(layers) == [False, True, True, True]


class LayeredTask:
    """Four stacked linear layers fitted to a fixed target: a real task for the real Trainer."""

    metric, metric_mode, unit = "loss", "min", "ex"

    def __init__(self):
        torch.manual_seed(0)
        self.model = nn.Sequential(*[nn.Linear(3, 3) for _ in range(4)])
        self.device = torch.device("cpu")
        self.x, self.y = torch.randn(8, 3), torch.randn(8, 3)
        self.remaining = 0

    def param_groups(self):
        return [{"params": list(layer.parameters()), "lr_scale": 1.0} for layer in self.model]

    def steps_per_epoch(self):
        return 20

    def start_epoch(self, epoch):
        self.remaining = 20

    def next_batch(self):
        if self.remaining == 0:
            return None
        self.remaining -= 1
        return self.remaining

    def training_step(self, batch):
        return StepOutput(loss=((self.model(self.x) - self.y) ** 2).mean(), units=8)

    def evaluate(self):
        return {"loss": 1.0}

    def save(self, directory, exact=False):
        directory.mkdir(parents=True, exist_ok=True)

    def state_dict(self):
        return {"remaining": self.remaining}

    def load_state_dict(self, state):
        self.remaining = state["remaining"]

    def data_files(self):
        return []


class RecordRates(Callback):
    def __init__(self, task):
        self.task, self.rates, self.bottom = task, [], []

    def on_step_end(self, trainer, control):
        self.rates.append([g["lr"] for g in trainer.optimizer.param_groups])
        self.bottom.append(self.task.model[0].weight.detach().clone())


def test_the_real_trainer_applies_the_gates_and_frozen_layers_do_not_move(tmp_path):
    task = LayeredTask()
    layers = [list(layer.parameters()) for layer in task.model]
    initial_bottom = task.model[0].weight.detach().clone()
    recorder = RecordRates(task)
    config = TrainerConfig(epochs=1, lr=0.01, schedule="constant", patience=None, progress=False)
    Trainer(task, config, tmp_path, callbacks=[GradualUnfreezing(layers, span=0.6), recorder]).fit()
    # span 0.6 over 20 steps: one group joins every 4 steps from the top, each warming up over 4 steps
    assert recorder.rates[0] == pytest.approx([0.0, 0.0, 0.0, 0.01])
    assert recorder.rates[5][1:] == pytest.approx([0.0, 0.0025, 0.01])
    assert recorder.rates[-1] == pytest.approx([0.01] * 4)
    bottom_joins = next(i for i, rates in enumerate(recorder.rates) if rates[0] > 0)
    assert bottom_joins >= 12
    assert torch.equal(recorder.bottom[bottom_joins - 1], initial_bottom)  # frozen until it joined
    assert not torch.equal(recorder.bottom[-1], initial_bottom)  # ... and trained after
