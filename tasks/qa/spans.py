"""Choosing answers from pointer logits: the best span of each window, then the best over a question's windows.

In a window, start and end logits are turned into log-probabilities over [null, tokens...], and a
span's score is log p(start) + log p(end), for start <= end < start + max_answer_len over tokens
that may bound an answer. Over the windows of a question the best span wins; its null score is the
lowest null score of its windows (the window that most believes it holds the answer decides).
A model that may answer "no answer" does so when that null score beats the best span by more than
its threshold (`null_margin > null_threshold`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tasks.qa.features import FeatureSet


@dataclass
class WindowBest:
    score: float  # log p(start) + log p(end) of the best span (-inf: the window has no candidate)
    start: int  # token index in the window
    end: int
    null: float  # log p(null start) + log p(null end)


@dataclass
class Reading:
    """What a model read for one question."""

    span: str  # the best span's text ("" when no window has a candidate)
    start: int | None  # its character span in the context
    end: int | None
    score: float  # log-probability of that span in its window
    null: float  # the question's null score (lowest over its windows)

    @property
    def null_margin(self) -> float:
        return self.null - self.score

    def answer(self, no_answer: bool, threshold: float) -> dict:
        """The result shown to a user: {"answer", "start", "end", "score"} ("" and None for no answer)."""
        if not self.span or (no_answer and self.null_margin > threshold):
            return {"answer": "", "start": None, "end": None, "score": math.exp(self.null)}
        return {"answer": self.span, "start": self.start, "end": self.end, "score": math.exp(self.score)}


def best_in_windows(start_logits: torch.Tensor, end_logits: torch.Tensor, candidates: torch.Tensor,
                    max_answer_len: int) -> list[WindowBest]:
    """start/end logits (N, 1 + T) over [null, tokens]; candidates (N, T): tokens that may bound an answer."""
    start_logp, end_logp = torch.log_softmax(start_logits.float(), -1), torch.log_softmax(end_logits.float(), -1)
    steps = candidates.size(1)
    scores = start_logp[:, 1:].unsqueeze(2) + end_logp[:, 1:].unsqueeze(1)  # (N, T start, T end)
    ones = torch.ones(steps, steps, dtype=torch.bool, device=scores.device)
    band = torch.triu(ones) & ~torch.triu(ones, diagonal=max_answer_len)  # 0 <= end - start < max_answer_len
    allowed = band & candidates.unsqueeze(2) & candidates.unsqueeze(1)
    scores = scores.masked_fill(~allowed, float("-inf"))
    best, flat = scores.flatten(1).max(dim=1)
    null = (start_logp[:, 0] + end_logp[:, 0]).tolist()
    return [WindowBest(s, i // steps, i % steps, n) for s, i, n in zip(best.tolist(), flat.tolist(), null)]


def window_candidates(features: FeatureSet, indices: list[int], steps: int) -> torch.Tensor:
    """(N, steps) True at the tokens of each feature's window that may bound an answer."""
    mask = torch.zeros(len(indices), steps, dtype=torch.bool)
    for row, i in enumerate(indices):
        f = features.features[i]
        passage = features.passages[f.passage]
        window = passage.windows[f.window]
        flags = passage.answerable[window.start : window.end]  # none for the placeholder window of a context without tokens
        mask[row, : len(flags)] = torch.tensor(flags, dtype=torch.bool)
    return mask


def combine(features: FeatureSet, bests: dict[int, WindowBest]) -> list[Reading]:
    """One Reading per question from the best span of each of its windows (`bests`: feature index -> best)."""
    readings = []
    for indices in features.by_question:
        null = min(bests[i].null for i in indices)
        winner = max(indices, key=lambda i: bests[i].score)
        best = bests[winner]
        if best.score == float("-inf"):
            readings.append(Reading("", None, None, best.score, null))
            continue
        f = features.features[winner]
        text, start, end = features.passages[f.passage].window_text(f.window, best.start, best.end)
        readings.append(Reading(text, start, end, best.score, null))
    return readings
