"""An exponential moving average of a model's weights (Polyak averaging; BiDAF's recipe, OpenNMT-py's
-average_decay). The Trainer validates and saves the best model with the averaged weights, while the
optimizer keeps stepping the raw ones; OUT/last/ holds both, so --resume continues exactly.

Early on the decay is lowered to (1 + n) / (10 + n) after n updates, so that a short run's average is
not dominated by its random start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the average's decay must lie between 0 and 1, got {decay}")
        self.model, self.decay = model, decay
        self.updates = 0
        self.averaged = {name: p.detach().clone() for name, p in model.named_parameters()}

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Call after each optimizer step."""
        self.updates += 1
        weight = 1.0 - self.current_decay()
        for name, p in self.model.named_parameters():
            self.averaged[name].lerp_(p.detach(), weight)

    @contextmanager
    @torch.no_grad()
    def applied(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block and its raw weights again after it."""
        raw = {name: p.detach().clone() for name, p in self.model.named_parameters()}
        try:
            for name, p in self.model.named_parameters():
                p.copy_(self.averaged[name])
            yield
        finally:
            for name, p in self.model.named_parameters():
                p.copy_(raw[name])

    def state_dict(self) -> dict:
        return {"updates": self.updates, "averaged": dict(self.averaged)}

    def load_state_dict(self, state: dict) -> None:
        missing = sorted(set(self.averaged) - set(state["averaged"]))
        if missing:
            raise ValueError(f"the saved weight average lacks {', '.join(missing[:3])}")
        self.updates = int(state["updates"])
        for name, tensor in self.averaged.items():
            tensor.copy_(state["averaged"][name])
