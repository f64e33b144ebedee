import pytest
from torch import nn

from nlp_apps.train import Control
from nlp_apps.unfreezing import GradualUnfreezing


class FakeTrainer:
    def __init__(self):
        self.at = 0.0

    def progress(self):
        return self.at


def layered_groups():
    layers = [nn.Linear(3, 3) for _ in range(4)]  # bottom .. top
    return layers, [list(layer.parameters()) for layer in layers]


def trainable(layers):
    return [all(p.requires_grad for p in layer.parameters()) for layer in layers]


def test_the_top_group_trains_first_and_the_rest_join_by_the_span():
    layers, groups = layered_groups()
    callback, trainer = GradualUnfreezing(groups, span=0.3), FakeTrainer()
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
    trainer = FakeTrainer()
    trainer.at = 0.15
    GradualUnfreezing(groups, span=0.3).on_train_start(trainer, Control())
    assert trainable(layers) == [False, False, True, True]


def test_a_single_group_always_trains_and_bad_spans_are_refused():
    layer = nn.Linear(2, 2)
    callback = GradualUnfreezing([list(layer.parameters())])
    callback.on_train_start(FakeTrainer(), Control())
    assert all(p.requires_grad for p in layer.parameters())
    with pytest.raises(ValueError, match="span"):
        GradualUnfreezing([list(layer.parameters())], span=0.0)
