"""Gradual unfreezing (ULMFiT, Howard & Ruder 2018) as a Trainer callback.

The top parameter group trains from the start; the groups below join one at a time, each after
an equal share of the first `span` of training, so the whole model trains from then on. Keyed to
the Trainer's progress (steps or time budget, whichever is further along) rather than to epochs,
so a budget shorter than an epoch still unfreezes everything; a resumed run recomputes it. With
`max_steps`, everything trains after at most that many steps, however long the run: a 30-minute run
need not spend 3 minutes with its lower layers frozen.

A group that joins mid-run warms up: its learning rate rises linearly from 0 over one share.
Without that, Adam's first steps on fresh moment estimates move every weight of the group by about
the full learning rate at once, which throws a fine-tuned model back to chance (measured on SST-2).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from nlp_apps.training.trainer import Callback, Control, Trainer


class GradualUnfreezing(Callback):
    def __init__(self, groups: Sequence[Sequence[nn.Parameter]], span: float = 0.1, max_steps: int | None = None):
        """groups: from the bottom (embedding) to the top (the task head)."""
        if not 0.0 < span <= 1.0:
            raise ValueError(f"the unfreezing span must be in (0, 1], got {span}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"the unfreezing steps must be at least 1, got {max_steps}")
        self.max_steps = max_steps
        if not groups:
            raise ValueError("gradual unfreezing needs at least one parameter group")
        self.groups, self.span = [list(g) for g in groups], span
        self.trainable = 0
        self.optimizer_index: dict[int, int] = {}  # optimizer group index -> unfreezing group index
        # The furthest progress seen: a resumed run whose budget grew (so progress fell) never
        # freezes a layer again.
        self.furthest = 0.0

    def trainable_groups(self, progress: float) -> int:
        """How many groups, counted from the top, train at this point of the run."""
        below = len(self.groups) - 1
        if below == 0:
            return 1
        return min(len(self.groups), 1 + int(progress * below / self.span))

    def share(self) -> float:
        return self.span / max(1, len(self.groups) - 1)

    def lr_gate(self, index: int, progress: float) -> float:
        """Learning-rate factor of group `index` (0 = bottom): 0 while frozen, then a linear warm-up."""
        from_top = len(self.groups) - 1 - index
        if from_top == 0:
            return 1.0
        joins_at = from_top * self.share()
        return min(1.0, max(0.0, (progress - joins_at) / self.share()))

    def apply(self, progress: float) -> None:
        progress = self.furthest = max(progress, self.furthest)
        count = self.trainable_groups(progress)
        if count != self.trainable:
            first = len(self.groups) - count
            for i, group in enumerate(self.groups):
                for param in group:
                    param.requires_grad_(i >= first)
            self.trainable = count

    def progress(self, trainer: Trainer) -> float:
        """The Trainer's progress, or further where max_steps ends the span sooner."""
        progress = trainer.progress()
        if self.max_steps is not None:
            progress = max(progress, min(1.0, trainer.step / self.max_steps * self.span))  # past the span: the last warm-up
        return progress

    def lr_factors(self, trainer: Trainer) -> list[float]:
        """Each optimizer group's gate at the furthest progress seen (the Trainer multiplies its rate by it)."""
        progress = max(self.progress(trainer), self.furthest)
        return [self.lr_gate(self.optimizer_index[i], progress) for i in range(len(trainer.optimizer.param_groups))]

    def on_train_start(self, trainer: Trainer, control: Control) -> None:
        self._match_groups(trainer.optimizer)
        self.apply(self.progress(trainer))

    def on_step_end(self, trainer: Trainer, control: Control) -> None:
        self.apply(self.progress(trainer))

    def state_dict(self) -> dict:
        return {"furthest": self.furthest}

    def load_state_dict(self, state: dict) -> None:
        self.furthest = float(state.get("furthest", 0.0))

    def _match_groups(self, optimizer) -> None:
        """Find each unfreezing group's optimizer group; each must be one of its own, or the gates would mix."""
        mine = sorted(sorted(id(p) for p in group) for group in self.groups if group)
        theirs = sorted(sorted(id(p) for p in group["params"]) for group in optimizer.param_groups)
        if mine != theirs:
            raise ValueError("gradual unfreezing needs one optimizer parameter group per unfreezing group")
        owner = {id(p): i for i, group in enumerate(self.groups) for p in group}
        self.optimizer_index = {i: owner[id(g["params"][0])] for i, g in enumerate(optimizer.param_groups)}
