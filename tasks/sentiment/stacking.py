"""The stacked n-gram path (`--ngram-features --ngram-combine stacked`), fitted after the RNN head has trained.

1. NBSVM (Wang & Manning 2012) on the training set: the head's hashed word 1-2 grams scaled by their
   naive-Bayes log-count ratios, a linear layer trained as L2-regularised logistic regression (full-batch
   L-BFGS; the inverse strength C, as scikit-learn's, chosen from `C_GRID` by validation accuracy; no intercept,
   the mix's bias below plays its part).
2. The mix on the validation set: logits = a * RNN logits + b * n-gram logits + bias, fitted by L-BFGS on
   the validation cross-entropy; kept when its validation accuracy is at least that of either path alone
   (ties keep the mix), else the better path alone is kept ((1, 0) or (0, 1)).

Every choice is made on the validation set, which is also what chose the RNN head's checkpoint: the
validation accuracy this reports is optimistic, like any figure a set chose; score a held-out set.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from tasks.sentiment.head import NgramBatch, SentimentClassifier, nb_ratios, ngram_batch, ngram_ids

C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # inverse L2 strengths tried for the n-gram path, weakest regularisation last
LBFGS_STEPS = 100  # per fit; a logistic regression this size converges well within it


def fit_stacking(model: SentimentClassifier, rnn_valid_logits: torch.Tensor, train_texts: Sequence[str], train_targets: Sequence[int],
                 valid_texts: Sequence[str], valid_targets: Sequence[int], log: Callable[[str], None] = print) -> tuple[dict, torch.Tensor]:
    """Fit `model`'s stacked n-gram path and mix in place (the model may live on any device; the fit runs on the CPU).
    `rnn_valid_logits` (N_valid, C): the trained RNN head's logits on the validation texts. -> (what was chosen with the
    validation accuracy of each path and of what was kept, the kept head's (N_valid, C) logits on the validation texts)."""
    if not model.stacked:
        raise ValueError("this classifier has no stacked n-gram path (HeadConfig(ngram_features=True, ngram_combine='stacked'))")
    buckets, classes = model.config.ngram_buckets, len(model.config.labels)
    train_bags = [ngram_ids(t, buckets) for t in train_texts]
    valid_batch = ngram_batch([ngram_ids(t, buckets) for t in valid_texts])
    train_y, valid_y = torch.tensor(list(train_targets)), torch.tensor(list(valid_targets))
    path = copy.deepcopy(model.ngrams).cpu()  # fitted on the CPU, then copied into the model wherever it lives
    with torch.no_grad():
        path.ratios.copy_(nb_ratios(train_bags, train_targets, classes, buckets))  # the training texts' (as build_head set them)
    train_batch = ngram_batch(train_bags)

    best = None
    weight = torch.zeros_like(path.weight, device="cpu")
    for c in C_GRID:  # each fit starts from the previous one (a weaker penalty moves the optimum outward)
        weight = fit_logistic_regression(path, weight, train_batch, train_y, c)
        with torch.no_grad():
            logits = path_logits(path, weight, valid_batch)
        score = (accuracy(logits, valid_y), -F.cross_entropy(logits, valid_y).item())
        log(f"stacking: n-gram path C={c:g}: validation accuracy {score[0]:.4f}")
        if best is None or score > best[0]:
            best = (score, c, weight.clone())
    _, c, weight = best
    with torch.no_grad():
        model.ngrams.weight.copy_(weight)
        model.ngrams.ratios.copy_(path.ratios)
        ngram_valid_logits = path_logits(path, weight, valid_batch)

    rnn_valid_logits = rnn_valid_logits.float().cpu()
    candidates = {
        "rnn": (torch.tensor([1.0, 0.0]), torch.zeros(classes)),
        "ngrams": (torch.tensor([0.0, 1.0]), torch.zeros(classes)),
        "mix": fit_mix(rnn_valid_logits, ngram_valid_logits, valid_y),
    }
    scores = {name: accuracy(mixed(rnn_valid_logits, ngram_valid_logits, *params), valid_y) for name, params in candidates.items()}
    chosen = "mix" if scores["mix"] >= max(scores["rnn"], scores["ngrams"]) else max(("rnn", "ngrams"), key=scores.get)
    mix, bias = candidates[chosen]
    with torch.no_grad():
        model.stack_mix.copy_(mix)
        model.stack_bias.copy_(bias)
    report = {"chosen": chosen, "C": c, "mix": [round(float(v), 4) for v in mix], "bias": [round(float(v), 4) for v in bias],
              "valid_accuracy_rnn": scores["rnn"], "valid_accuracy_ngrams": scores["ngrams"], "valid_accuracy": scores[chosen]}
    log(f"stacking: validation accuracy RNN head {scores['rnn']:.4f}, n-gram path {scores['ngrams']:.4f} (C={c:g}), "
        f"mix {scores['mix']:.4f} (a={report['mix'][0]}, b={report['mix'][1]}); kept: {chosen}")
    return report, mixed(rnn_valid_logits, ngram_valid_logits, mix, bias)


def path_logits(path, weight: torch.Tensor, batch: NgramBatch) -> torch.Tensor:
    """The n-gram path's logits with `weight` in place of its own (the ratios and normalisation are the path's)."""
    ids, offsets = batch
    return torch.func.functional_call(path, {"weight": weight}, (ids, offsets))


def fit_logistic_regression(path, start: torch.Tensor, batch: NgramBatch, targets: torch.Tensor, c: float) -> torch.Tensor:
    """Weights minimising mean cross-entropy + ||w||^2 / (2 C N), scikit-learn's objective divided by C N."""
    weight = start.clone().requires_grad_(True)
    penalty = 1.0 / (2.0 * c * len(targets))
    optimizer = torch.optim.LBFGS([weight], lr=1.0, max_iter=LBFGS_STEPS, history_size=10, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-6, tolerance_change=1e-9)

    def objective():
        optimizer.zero_grad()
        loss = F.cross_entropy(path_logits(path, weight, batch), targets) + penalty * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(objective)
    return weight.detach()


def fit_mix(rnn: torch.Tensor, ngrams: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b), bias minimising the cross-entropy of a * rnn + b * ngrams + bias on (N, C) logits, from (1, 1), 0."""
    mix = torch.ones(2, requires_grad=True)
    bias = torch.zeros(rnn.size(1), requires_grad=True)
    optimizer = torch.optim.LBFGS([mix, bias], lr=1.0, max_iter=LBFGS_STEPS, line_search_fn="strong_wolfe")

    def objective():
        optimizer.zero_grad()
        loss = F.cross_entropy(mixed(rnn, ngrams, mix, bias), targets)
        loss.backward()
        return loss

    optimizer.step(objective)
    return mix.detach(), bias.detach()


def mixed(rnn: torch.Tensor, ngrams: torch.Tensor, mix: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return mix[0] * rnn + mix[1] * ngrams + bias


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return float((logits.argmax(-1) == targets).float().mean()) if len(targets) else 0.0
