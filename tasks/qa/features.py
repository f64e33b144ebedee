"""From (context, question) pairs to model inputs: passages cut into token windows that remember their
character offsets, questions, span targets, and batches that read each window once.

Offsets: a context is tokenised with `encode_with_offsets`, so token k covers the characters
context[spans[k][0]:spans[k][1]] of the original string, and tokens i..j are the exact substring
context[spans[i][0]:spans[j][1]]. Only tokens whose span holds visible characters may start or end
an answer (a whitespace piece never does), so an answer never begins or ends with a space.

Windows: a passage longer than `max_passage_len` tokens is read as overlapping windows of that size,
neighbours sharing `doc_stride` tokens (nlp_apps.data.windows), and every (question, window) pair is
one feature; `windows="first"` keeps only the first window (truncation, for comparison).

Targets: a feature's start and end are indices into [null, token 0, token 1, ...]: 0 (null) where
the window does not hold the whole answer or the question has none, else the answer's first and
last token in the window + 1.

Batches: the features of one passage usually share a batch, and each window in a batch is encoded
once (`Batch.rows` says which window row each question reads), since the backbone reads passages
and questions separately.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from nlp_apps.data.batching import pad_sequences
from nlp_apps.data.tokenizer import UNK_ID
from nlp_apps.data.windows import Window, sliding_windows
from tasks.qa.head_config import HeadConfig

Span = tuple[int, int]


@dataclass
class Passage:
    text: str
    spans: list[Span]  # per token: its characters in `text`
    windows: list[Window]
    answerable: list[bool]  # per token: may start or end an answer (its span holds visible characters)
    words: list[str]  # per token: its text, lowercased (for the question-match feature)

    def window_text(self, window: int, start: int, end: int) -> tuple[str, int, int]:
        """The substring that tokens start..end (inclusive) of window `window` cover, and its character span."""
        offset = self.windows[window].start
        first, last = self.spans[offset + start][0], self.spans[offset + end][1]
        return self.text[first:last], first, last


@dataclass(frozen=True)
class Feature:
    question: int  # index of the question (the pair)
    passage: int  # index of the (deduplicated) passage
    window: int  # which of its windows
    start: int = 0  # targets in [null, tokens...]: 0 = no answer in this window
    end: int = 0


@dataclass
class Batch:
    passages: torch.Tensor  # (P, T) the distinct windows of the batch
    passage_lengths: torch.Tensor  # (P,)
    questions: torch.Tensor  # (Q, L) one row per feature
    question_lengths: torch.Tensor  # (Q,)
    rows: torch.Tensor  # (Q,) the window row each question reads
    match: torch.Tensor  # (Q, T) 1.0 where the window's token occurs in the question
    starts: torch.Tensor  # (Q,) targets
    ends: torch.Tensor  # (Q,)

    def inputs(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The model's arguments, on `device`."""
        names = ("passages", "passage_lengths", "questions", "question_lengths", "rows", "match")
        return {name: getattr(self, name).to(device) for name in names}


@dataclass
class FeatureSet:
    passages: list[Passage]
    questions: list[list[int]]  # token ids, cut to max_question_len
    question_words: list[set[str]]
    features: list[Feature]
    unaligned: int = 0  # answers that cover no visible token (trained as "no answer")
    by_question: list[list[int]] = field(default_factory=list)  # feature indices of each question

    def batch(self, indices: Sequence[int]) -> Batch:
        features = [self.features[i] for i in indices]
        keys = list(dict.fromkeys((f.passage, f.window) for f in features))  # distinct windows, in order
        row_of = {key: row for row, key in enumerate(keys)}
        passages, lengths = pad_sequences([self.passages[p].windows[w].tokens for p, w in keys])
        questions, question_lengths = pad_sequences([self.questions[f.question] for f in features])
        match = torch.zeros(len(features), passages.size(1))
        for row, f in enumerate(features):
            passage, window = self.passages[f.passage], self.passages[f.passage].windows[f.window]
            asked = self.question_words[f.question]
            hits = [k for k, word in enumerate(passage.words[window.start : window.end]) if word in asked]
            match[row, hits] = 1.0
        return Batch(passages, lengths, questions, question_lengths, torch.tensor([row_of[(f.passage, f.window)] for f in features]),
                     match, torch.tensor([f.start for f in features]), torch.tensor([f.end for f in features]))


class Featurizer:
    """Tokenises passages and questions the way `config` says a model reads them."""

    def __init__(self, tokenizer, config: HeadConfig):
        self.tokenizer, self.config = tokenizer, config

    def passage(self, text: str) -> Passage:
        ids, spans = self.tokenizer.encode_with_offsets(text)
        windows = sliding_windows(ids, self.config.max_passage_len, self.config.doc_stride) if ids else [Window(0, [UNK_ID])]
        if self.config.windows == "first":
            windows = windows[:1]
        pieces = [text[a:b] for a, b in spans]
        return Passage(text, spans, windows, [bool(p.strip()) for p in pieces], [p.strip().lower() for p in pieces])

    def question(self, text: str) -> tuple[list[int], set[str]]:
        ids, spans = self.tokenizer.encode_with_offsets(text)
        ids = ids[: self.config.max_question_len] or [UNK_ID]
        return ids, {text[a:b].strip().lower() for a, b in spans if text[a:b].strip()}

    def build(self, pairs: Sequence[tuple[str, str]], answers: Sequence[Sequence] | None = None) -> FeatureSet:
        """Features of (context, question) pairs; with `answers` (per pair: its answers, each with
        .text and .start; the first one is the target), with targets."""
        passages, index = [], {}
        questions, question_words, features, by_question, unaligned = [], [], [], [], 0
        for q, (context, question) in enumerate(pairs):
            if context not in index:
                index[context] = len(passages)
                passages.append(self.passage(context))
            p = index[context]
            ids, words = self.question(question)
            questions.append(ids)
            question_words.append(words)
            span = None
            if answers is not None and answers[q]:
                answer = answers[q][0]
                span = token_span(passages[p], answer.start, answer.start + len(answer.text))
                unaligned += span is None
            by_question.append([])
            for w, window in enumerate(passages[p].windows):
                start = end = 0
                if span is not None and window.start <= span[0] and span[1] < window.end:
                    start, end = span[0] - window.start + 1, span[1] - window.start + 1
                by_question[q].append(len(features))
                features.append(Feature(q, p, w, start, end))
        return FeatureSet(passages, questions, question_words, features, unaligned, by_question)


def token_span(passage: Passage, start: int, end: int) -> tuple[int, int] | None:
    """The first and last visible tokens that overlap characters start..end-1 (None: no such token)."""
    first = bisect.bisect_right([b for _, b in passage.spans], start)  # first token ending after `start`
    last = bisect.bisect_left([a for a, _ in passage.spans], end) - 1  # last token starting before `end`
    while first <= last and not passage.answerable[first]:
        first += 1
    while last >= first and not passage.answerable[last]:
        last -= 1
    return (first, last) if first <= last else None


def training_batches(features: FeatureSet, batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Batches of feature indices for one epoch: passages in random order, each passage's features
    together, similar window lengths together (sorted inside stretches of 50 batches), batches shuffled."""
    by_passage: dict[int, list[int]] = {}
    for i, f in enumerate(features.features):
        by_passage.setdefault(f.passage, []).append(i)
    groups = [by_passage[p] for p in rng.permutation(list(by_passage)).tolist()]
    ordered, stretch, size = [], [], 0
    for group in groups + [None]:
        if group is None or size >= 50 * batch_size:
            stretch.sort(key=lambda g: len(features.passages[features.features[g[0]].passage].windows[0].tokens))
            ordered.extend(i for g in stretch for i in g)
            stretch, size = [], 0
        if group is not None:
            stretch.append(group)
            size += len(group)
    batches = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def reading_batches(features: FeatureSet, batch_size: int) -> Iterator[list[int]]:
    """Batches for prediction: features of a passage together, passages by length (less padding)."""
    def length(i: int) -> tuple[int, int, int]:
        f = features.features[i]
        return len(features.passages[f.passage].windows[f.window].tokens), f.passage, f.window

    order = sorted(range(len(features.features)), key=length)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
