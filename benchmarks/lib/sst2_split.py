"""An honest held-out slice for GLUE SST-2: its training set holds phrases cut from the same sentences (every
node of the treebank's parse trees), so a phrase held out at random shares its sub-phrases with training
phrases, and held-out accuracy rewards remembering those (0.94 held-out while dev stays at 84-85).

`drop_overlapping` removes from train every phrase that is contained in, or contains, a held-out phrase:
whole tokens of the lower-cased token sequences, contiguous (so "good" is in "a good film", "goo" is not).
It indexes every token span of the held-out phrases (for "contained in") and the held-out phrases by first
token and length (for "contains"), so 65k training phrases take about a second. Meant for short phrases:
the index grows with the square of a held-out phrase's length (up to the longest training phrase).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def normalise(text: str) -> tuple[str, ...]:
    """The token sequence phrases are compared by: lower-cased, split on whitespace (SST-2 is PTB-tokenized)."""
    return tuple(text.lower().split())


def overlap_mask(heldout_texts: Sequence[str], train_texts: Sequence[str]) -> tuple[list[bool], list[bool]]:
    """For each training text: (is it contained in a held-out text, does it contain one). Empty texts match nothing."""
    train = [normalise(t) for t in train_texts]
    longest = max((len(t) for t in train), default=0)
    heldout = {h for h in map(normalise, heldout_texts) if h}
    spans = set()  # every contiguous token span of a held-out phrase, as long as a training phrase can be
    lengths: dict[str, set[int]] = {}  # first token -> the lengths of held-out phrases that start with it
    for h in heldout:
        lengths.setdefault(h[0], set()).add(len(h))
        for i in range(len(h)):
            spans.update(h[i:j] for j in range(i + 1, min(len(h), i + longest) + 1))
    inside = [bool(t) and t in spans for t in train]
    contains = [any(t[i : i + n] in heldout for i, token in enumerate(t) for n in lengths.get(token, ()) if i + n <= len(t)) for t in train]
    return inside, contains


def drop_overlapping(heldout: Sequence[T], train: Sequence[T], text: Callable[[T], str] = lambda e: e.text) -> tuple[list[T], dict]:
    """`train` without the examples whose text is contained in, or contains, a held-out example's text, and the counts:
    {"dropped": ..., "contained_in_heldout": ..., "containing_heldout": ..., "kept": ...} (a phrase both ways counts in both)."""
    inside, contains = overlap_mask([text(e) for e in heldout], [text(e) for e in train])
    kept = [e for e, a, b in zip(train, inside, contains) if not (a or b)]
    counts = {"dropped": len(train) - len(kept), "contained_in_heldout": sum(inside), "containing_heldout": sum(contains), "kept": len(kept)}
    return kept, counts


def take_long(examples: Sequence[T], n: int, min_words: int, text: Callable[[T], str] = lambda e: e.text) -> tuple[list[T], list[T]]:
    """The first `n` examples of at least `min_words` words (the held-out slice), and all the others in their order.

    SST-2's dev set is whole sentences (median 19 words) while most training phrases are short (mean 9): a slice of
    long phrases chooses checkpoints on text like the reported set's."""
    picked = [i for i, e in enumerate(examples) if len(text(e).split()) >= min_words][:n]
    chosen = set(picked)
    return [examples[i] for i in picked], [e for i, e in enumerate(examples) if i not in chosen]
