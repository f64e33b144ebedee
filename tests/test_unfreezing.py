import pytest
import torch
from torch import nn

from nlp_apps.training.trainer import Control
from nlp_apps.training.unfreezing import GradualUnfreezing


class FakeTrainer:
    def __init__(self, groups=()):
        self.at = 0.0
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
    gates = lambda: [g["lr_gate"] for g in trainer.optimizer.param_groups]
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
