"""The classifier head: concat pooling [last, max, mean] of the backbone's top layer, read in
bounded chunks, then a small MLP (ULMFiT, Howard & Ruder 2018).

With a bidirectional backbone the features of both reading directions are concatenated.

With `ngram_features`, an n-gram path runs beside it (NBSVM, Wang & Manning 2012): the text's word
uni- and bigrams (lowercased regex words, independent of the backbone's tokenizer), each present one
hashed into one of `ngram_buckets` buckets (zlib.crc32: the same in every process and on every
machine), weighted by their naive-Bayes log-count ratios (each class against the rest, from the
training set, stored in the model) and by 1/sqrt(number of n-grams), feed a linear layer. Two ways to
combine it with the RNN head (`ngram_combine`):
- joint: its logits add to the MLP's and both train together. Its weights start at zero, so training
  starts exactly where the RNN head alone would.
- stacked: the RNN head trains alone (the n-gram path is left out of the optimizer and the batches); then
  tasks/sentiment/stacking.py fits the linear layer on the training set (NBSVM) and the mix
  logits = mix[0] * RNN logits + mix[1] * n-gram logits + bias on the validation set. Until then the mix
  is (1, 0) and the bias 0: exactly the RNN head.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import zlib
from collections.abc import Sequence

import torch
from torch import nn

from nlp_apps.data.batching import bucket_batches, pad_sequences
from nlp_apps.models.backbone import RNNBackbone, detach_state, reverse_padded
from tasks.sentiment.head_config import HeadConfig


class SentimentClassifier(nn.Module):
    """logits = MLP([last; max; mean] of the top layer, per direction). Owns its backbone."""

    def __init__(self, backbone: RNNBackbone, config: HeadConfig):
        super().__init__()
        if len(config.labels) < 2:
            raise ValueError(f"a classifier needs at least two labels, got {config.labels}")
        self.backbone, self.config = backbone, config
        features = 3 * backbone.output_size * len(backbone.config.directions)
        self.classifier = nn.Sequential(
            nn.LayerNorm(features),
            nn.Dropout(config.dropout),
            nn.Linear(features, config.hidden_size),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_size, len(config.labels)),
        )
        if config.ngram_features:  # only then: without it the parameters are exactly the RNN head's
            lr_scale = config.ngram_lr_scale if config.ngram_combine == "joint" else 1.0
            self.ngrams = NgramFeatures(config.ngram_buckets, len(config.labels), lr_scale)
        if self.stacked:
            self.ngrams.weight.requires_grad_(False)  # fitted after training (tasks/sentiment/stacking.py), never by the optimizer
            self.register_buffer("stack_mix", torch.tensor([1.0, 0.0]))  # (RNN, n-gram) logit weights
            self.register_buffer("stack_bias", torch.zeros(len(config.labels)))

    @property
    def stacked(self) -> bool:
        return self.config.ngram_features and self.config.ngram_combine == "stacked"

    @property
    def trains_ngrams(self) -> bool:
        """Whether training batches need the texts' n-grams (the joint path; a stacked one is fitted after training)."""
        return self.config.ngram_features and not self.stacked

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, ngrams: NgramBatch | None = None) -> torch.Tensor:
        # tokens: (B, T) right-padded, lengths: (B,), ngrams: the texts' hashed n-grams (with ngram_features) -> logits (B, C)
        logits = self.rnn_logits(tokens, lengths)
        if not self.config.ngram_features:
            return logits
        if self.stacked:
            if ngrams is None and not bool(self.stack_mix[1]):  # not fitted yet: the RNN head alone
                return logits
            return self.mix(logits, self.ngram_logits(ngrams))  # float: the mix is fitted on float logits
        return logits + self.ngram_logits(ngrams).to(logits.dtype)

    def rnn_logits(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The RNN head's logits alone (B, C), whatever n-gram path the head has."""
        pooled = [self.pool(tokens, lengths, d) for d in self.backbone.config.directions]
        return self.classifier(torch.cat(pooled, dim=-1))

    def ngram_logits(self, ngrams: NgramBatch | None) -> torch.Tensor:
        if ngrams is None:
            raise ValueError("this classifier has n-gram features: pass ngrams=ngram_batch(texts' ngram_ids, device)")
        return self.ngrams(*ngrams)

    def mix(self, rnn_logits: torch.Tensor, ngram_logits: torch.Tensor) -> torch.Tensor:
        """The stacked head's logits from its two paths' (B, C) logits."""
        mix, bias = self.stack_mix.to(rnn_logits.device), self.stack_bias.to(rnn_logits.device)
        return mix[0] * rnn_logits.float() + mix[1] * ngram_logits.float().to(rnn_logits.device) + bias

    def pool(self, tokens: torch.Tensor, lengths: torch.Tensor, direction: str) -> torch.Tensor:
        """[last, max, mean] of the top layer over each text, read chunk by chunk. -> (B, 3*O)."""
        if direction == "backward":
            tokens = reverse_padded(tokens, lengths)
        batch, steps = tokens.shape
        lengths = lengths.to(tokens.device)
        size = self.backbone.output_size
        running_max = tokens.new_full((batch, size), float("-inf"), dtype=torch.float)
        running_sum = tokens.new_zeros((batch, size), dtype=torch.float)
        last = tokens.new_zeros((batch, size), dtype=torch.float)
        n_chunks = math.ceil(steps / self.config.chunk_size)
        state = self.backbone.initial_state(batch, direction)
        for i in range(n_chunks):
            start = i * self.config.chunk_size
            chunk = tokens[:, start : start + self.config.chunk_size]  # (B, t)
            with_grad = i >= n_chunks - self.config.grad_chunks
            with torch.set_grad_enabled(with_grad and torch.is_grad_enabled()):
                out = self.backbone(chunk, state, direction)
                hidden = out.layer_outputs[-1]  # (B, t, O), before the backbone's output dropout
                positions = torch.arange(start, start + chunk.size(1), device=tokens.device)  # (t,)
                real = positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, t)
                running_max = torch.maximum(running_max, hidden.masked_fill(~real.unsqueeze(-1), float("-inf")).amax(1))
                running_sum = running_sum + (hidden * real.unsqueeze(-1)).sum(1)
                ends_here = (lengths - 1 >= start) & (lengths - 1 < start + chunk.size(1))  # (B,)
                index = (lengths - 1 - start).clamp(0, chunk.size(1) - 1)  # (B,)
                at_end = hidden[torch.arange(batch, device=tokens.device), index]  # (B, O)
                last = torch.where(ends_here.unsqueeze(-1), at_end, last)
            state = out.state if with_grad else detach_state(out.state)
        mean = running_sum / lengths.clamp(min=1).unsqueeze(-1).float()
        return torch.cat([last, running_max, mean], dim=-1)  # (B, 3*O)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups from the bottom (embedding) to the top (classifier), for per-layer LRs."""
        top = list(self.classifier.parameters())
        if self.trains_ngrams:  # part of the head: trains from the first step under gradual unfreezing
            top.append(self.ngrams.weight)
        return self.backbone.layer_groups() + [top]


# ---- the n-gram path ------------------------------------------------------------------------

WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")  # words (with inner apostrophes: "can't", SST-2's "n't") and single punctuation marks

NgramBatch = tuple[torch.Tensor, torch.Tensor]  # (ids (N,), offsets (B,)): the bags of a batch, EmbeddingBag-style


def ngram_ids(text: str, buckets: int) -> list[int]:
    """The buckets of the text's distinct word unigrams and bigrams, sorted (crc32 of the n-gram, a space between words)."""
    words = WORD.findall(text.lower())
    grams = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
    return sorted({zlib.crc32(gram.encode("utf-8")) % buckets for gram in grams})


def ngram_batch(bags: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> NgramBatch:
    """(ids, offsets) of the bags, each bag a list of bucket ids (as `ngram_ids` returns)."""
    counts = torch.tensor([len(b) for b in bags], dtype=torch.long)
    offsets = torch.cumsum(counts, 0) - counts
    ids = torch.tensor([i for b in bags for i in b], dtype=torch.long)
    return ids.to(device), offsets.to(device)


def nb_ratios(bags: Sequence[Sequence[int]], targets: Sequence[int], classes: int, buckets: int, alpha: float = 1.0) -> torch.Tensor:
    """(buckets, classes) naive-Bayes log-count ratios of binarized features, each class against the rest:
    r[f, c] = log((p_c[f] / |p_c|) / (q_c[f] / |q_c|)), p_c = alpha + presence counts in class c, q_c the same in the
    other classes, the norms over the buckets seen in training. A bucket never seen in training gets 0."""
    ids, _ = ngram_batch(bags)
    counts = torch.tensor([len(b) for b in bags], dtype=torch.long)
    rows = torch.repeat_interleave(torch.tensor(list(targets), dtype=torch.long), counts)
    present = torch.zeros(buckets, classes, dtype=torch.float64)
    present.index_put_((ids, rows), torch.ones(len(ids), dtype=torch.float64), accumulate=True)
    seen = present.sum(1) > 0  # (buckets,)
    rest = present.sum(1, keepdim=True) - present
    p, q = (alpha + present) * seen.unsqueeze(1), (alpha + rest) * seen.unsqueeze(1)
    ratios = torch.log(p / p.sum(0)) - torch.log(q / q.sum(0))
    return torch.where(seen.unsqueeze(1), ratios, torch.zeros_like(ratios)).float()


@torch.no_grad()
def text_logits(model: SentimentClassifier, ids: Sequence[Sequence[int]], bags: Sequence[Sequence[int]] | None = None,
                batch_size: int = 64, rnn_only: bool = False) -> torch.Tensor:
    """(N, C) float logits of N token-id lists (and their n-gram bags, for a head that uses them), in their order,
    in batches of similar length; with `rnn_only`, the RNN head's alone. Runs under the caller's precision context."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = torch.zeros(len(ids), len(model.config.labels))
    for batch in bucket_batches([len(x) for x in ids], batch_size, shuffle=False):
        tokens, lengths = pad_sequences([ids[i] for i in batch])
        if rnn_only:
            out[batch] = model.rnn_logits(tokens.to(device), lengths).float().cpu()
            continue
        ngrams = None if bags is None else ngram_batch([bags[i] for i in batch], device)
        out[batch] = model(tokens.to(device), lengths, ngrams).float().cpu()
    model.train(was_training)
    return out


def ngram_bags(config: HeadConfig, texts: Sequence[str]) -> list[list[int]] | None:
    """Each text's `ngram_ids` when the head has the n-gram path, else None."""
    return [ngram_ids(t, config.ngram_buckets) for t in texts] if config.ngram_features else None


class NgramFeatures(nn.Module):
    """logits[b, c] = lr_scale * sum over the n-grams f of text b of weight[f, c] * ratios[f, c] / sqrt(n_b).

    `lr_scale` multiplies the weights in the forward pass but not their gradient (a straight-through factor):
    under Adam they learn `lr_scale` times faster than the head's other weights, while gradient clipping sees
    the gradient of the effective weights."""

    def __init__(self, buckets: int, classes: int, lr_scale: float = 1.0):
        super().__init__()
        self.lr_scale = lr_scale
        self.weight = nn.Parameter(torch.zeros(buckets, classes))
        self.register_buffer("ratios", torch.zeros(buckets, classes))  # naive-Bayes ratios, set once from the training set

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        # ids: (N,) bucket ids of all texts' n-grams, offsets: (B,) where each text's start -> (B, C)
        batch = offsets.numel()
        counts = torch.diff(offsets, append=offsets.new_tensor([ids.numel()]))  # (B,)
        bag = torch.repeat_interleave(torch.arange(batch, device=ids.device), counts)  # (N,)
        rows = self.weight[ids]  # (N, C)
        rows = rows + (self.lr_scale - 1.0) * rows.detach()  # forward: lr_scale * weight; gradient: as for the weight
        norm = counts.clamp(min=1).float().rsqrt()[bag].unsqueeze(1)  # (N, 1)
        values = rows.float() * self.ratios[ids] * norm
        return torch.zeros(batch, self.weight.size(1), device=ids.device, dtype=values.dtype).index_add_(0, bag, values)


def set_ngram_ratios(model: SentimentClassifier, texts: Sequence[str], labels: Sequence[str]) -> None:
    """The model's naive-Bayes ratios from its training texts and their labels."""
    index = {label: i for i, label in enumerate(model.config.labels)}
    bags = [ngram_ids(t, model.config.ngram_buckets) for t in texts]
    ratios = nb_ratios(bags, [index[label] for label in labels], len(index), model.config.ngram_buckets)
    with torch.no_grad():
        model.ngrams.ratios.copy_(ratios)


def build_head(backbone: RNNBackbone, config: HeadConfig, examples=()) -> SentimentClassifier:
    """The classifier on `backbone`; without labels in `config`, the label set of `examples`. With n-gram
    features, their naive-Bayes ratios come from `examples` (the training set)."""
    examples = list(examples)
    if not config.labels:
        labels = sorted({e.label for e in examples})
        if len(labels) < 2:
            raise ValueError(f"a classifier needs at least two labels; the examples have {labels or 'none'}")
        config = dataclasses.replace(config, labels=labels)
    model = SentimentClassifier(backbone, config)
    if config.ngram_features:
        if not examples:
            raise ValueError("a classifier with n-gram features needs its training examples (for the naive-Bayes ratios)")
        set_ngram_ratios(model, [e.text for e in examples], [e.label for e in examples])
    return model
