"""A plain PyTorch word-level LSTM language model, in the style of pytorch/examples'
word_language_model (200/200, tied, SGD lr 20, bptt 35, batch 20, clip 0.25, dropout 0.2,
lr / 4 when validation stops improving). The baseline that benchmarks/side_by_side.py races.

It deliberately uses nothing from nlp_apps.
"""

from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


class PlainLSTMLM(nn.Module):
    def __init__(self, vocab: int, size: int = 200, layers: int = 2, dropout: float = 0.2):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab, size)
        self.rnn = nn.LSTM(size, size, layers, dropout=dropout)
        self.decoder = nn.Linear(size, vocab)
        self.decoder.weight = self.encoder.weight  # tied
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x, hidden):
        # x: (T, B) time-major, as in the example
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)), hidden


def batchify(ids: torch.Tensor, batch: int) -> torch.Tensor:
    rows = ids.size(0) // batch
    return ids[: rows * batch].view(batch, rows).t().contiguous()  # (L, B)


def evaluate(model, data, bptt=35) -> float:
    model.eval()
    total, count, hidden = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            x, y = data[i : i + bptt], data[i + 1 : i + 1 + bptt]
            x = x[: y.size(0)]
            logits, hidden = model(x, hidden)
            total += F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return math.exp(total / count)


def train_for(train_ids, valid_ids, vocab: int, seconds: float, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = PlainLSTMLM(vocab)
    train, valid = batchify(train_ids, 20), batchify(valid_ids, 10)
    lr, bptt, best_val, tokens, train_time = 20.0, 35, float("inf"), 0, 0.0
    best_state = model.state_dict()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.train()
        hidden = None
        epoch_start = time.perf_counter()
        for i in range(0, train.size(0) - 1, bptt):
            x, y = train[i : i + bptt], train[i + 1 : i + 1 + bptt]
            x = x[: y.size(0)]
            hidden = None if hidden is None else tuple(h.detach() for h in hidden)
            model.zero_grad()
            logits, hidden = model(x, hidden)
            loss = F.cross_entropy(logits.view(-1, vocab), y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-lr)
            tokens += y.numel()
            if time.perf_counter() - start >= seconds:
                break
        train_time += time.perf_counter() - epoch_start
        val = evaluate(model, valid)
        if val < best_val:
            best_val, best_state = val, copy.deepcopy(model.state_dict())
        else:
            lr /= 4.0
    best = PlainLSTMLM(vocab)
    best.load_state_dict(best_state)  # the example keeps the best model by validation for its test score
    return {"tokens": tokens, "train_seconds": train_time, "valid_ppl": evaluate(model, valid),
            "best_valid_ppl": best_val, "model": model, "best_model": best}
