"""Gradual unfreezing (ULMFiT, Howard & Ruder 2018) as a Trainer callback.

The top parameter group trains from the start; the groups below join one at a time, each after
an equal share of the first `span` of training, so the whole model trains from then on. Keyed to
the Trainer's progress (steps or time budget, whichever is further along) rather than to epochs,
so a budget shorter than an epoch still unfreezes everything; a resumed run recomputes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from nlp_apps.train import Callback, Control, Trainer


class GradualUnfreezing(Callback):
    def __init__(self, groups: Sequence[Sequence[nn.Parameter]], span: float = 0.25):
        """groups: from the bottom (embedding) to the top (the task head)."""
        if not 0.0 < span <= 1.0:
            raise ValueError(f"the unfreezing span must be in (0, 1], got {span}")
        if not groups:
            raise ValueError("gradual unfreezing needs at least one parameter group")
        self.groups, self.span = [list(g) for g in groups], span
        self.trainable = 0

    def trainable_groups(self, progress: float) -> int:
        """How many groups, counted from the top, train at this point of the run."""
        below = len(self.groups) - 1
        if below == 0:
            return 1
        return min(len(self.groups), 1 + int(progress * below / self.span))

    def apply(self, progress: float) -> None:
        count = self.trainable_groups(progress)
        if count == self.trainable:
            return
        first = len(self.groups) - count
        for i, group in enumerate(self.groups):
            for param in group:
                param.requires_grad_(i >= first)
        self.trainable = count

    def on_train_start(self, trainer: Trainer, control: Control) -> None:
        self.apply(trainer.progress())

    def on_step_end(self, trainer: Trainer, control: Control) -> None:
        self.apply(trainer.progress())
