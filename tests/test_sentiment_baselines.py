"""The sentiment benchmarks' baselines (benchmarks/lib/nbsvm.py) and SST-2's honest held-out slice (benchmarks/lib/sst2_split.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from benchmarks.lib.nbsvm import NBSVM, log_count_ratio, nbsvm_baseline
from benchmarks.lib.sst2_split import drop_overlapping, normalise, overlap_mask, take_long
from tests.conftest import SHARED_DATA

FILLER = ["the", "film", "plot", "actor", "scene", "story", "music", "ending", "cast", "script", "camera", "light"]


def bigram_only(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Every text holds "not", "good" and "bad" once each: only the bigram "not bad" / "not good" tells the label."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        positive = rng.random() < 0.5
        cue, other = ("not bad", "good") if positive else ("not good", "bad")
        words = rng.sample(FILLER, 6)
        words.insert(rng.randrange(len(words) + 1), cue)
        words.insert(rng.randrange(len(words) + 1), other)
        text = " ".join(words)
        if f"not {other}" in text:  # the lone word landed right after the cue: ambiguous, draw again
            continue
        texts.append(text)
        labels.append("pos" if positive else "neg")
    return texts, labels


def test_nbsvm_learns_a_label_carried_by_a_bigram_only():
    train, heldout, test = bigram_only(400, 0), bigram_only(100, 1), bigram_only(200, 2)
    scores = nbsvm_baseline(*train, *test, *heldout)
    assert scores["accuracy"] >= 0.95
    assert scores["C"] in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0) and scores["heldout_accuracy"] >= 0.95
    # The same model on unigrams alone sees identical word counts in both classes: chance.
    unigrams = NBSVM(cs=(1.0,), ngram_range=(1, 1)).fit(*train)
    chance = float(np.mean(unigrams.predict(test[0]) == np.asarray(test[1])))
    assert chance <= 0.65 < scores["accuracy"]


def test_log_count_ratio_and_one_vs_rest():
    from scipy.sparse import csr_matrix

    features = csr_matrix(np.array([[1, 0], [1, 1], [0, 1]], dtype=float))
    r = log_count_ratio(features, np.array([True, True, False]))
    p, q = np.array([3.0, 2.0]), np.array([1.0, 2.0])  # alpha 1 + counts
    assert np.allclose(r, np.log((p / p.sum()) / (q / q.sum())))
    words = {"pos": "great", "neg": "awful", "mid": "okay"}
    rng = random.Random(0)
    labels = [rng.choice(list(words)) for _ in range(90)]
    texts = [f"{rng.choice(FILLER)} {words[label]} {rng.choice(FILLER)}" for label in labels]
    model = NBSVM(cs=(1.0,)).fit(texts, labels)
    assert len(model.ratios_) == 3 and model.decision_function(texts).shape == (90, 3)
    assert list(model.predict(["the awful film", "okay music", "great cast"])) == ["neg", "mid", "pos"]
    with pytest.raises(ValueError, match="held-out"):
        NBSVM().fit(texts, labels)


def contained(small: tuple, big: tuple) -> bool:
    """Whole-token containment, checked the slow, obvious way (padded strings) against the indexed one."""
    return f" {' '.join(small)} " in f" {' '.join(big)} "


def test_split_drops_every_training_phrase_inside_or_around_a_held_out_one():
    heldout = ["a good film", "Terribly   dull"]
    train = ["good", "a good film", "a good film indeed", "good film", "film", "a good", "not terribly dull at all", "terribly",
             "goodfilm", "a film", "dull story", "the good , the bad", "films", ""]
    kept, counts = drop_overlapping(heldout, train, text=lambda t: t)
    # whole tokens only: "goodfilm", "films", "a film" (not contiguous) and the rest share words but no span
    assert kept == ["goodfilm", "a film", "dull story", "the good , the bad", "films", ""]
    assert counts == {"dropped": 8, "contained_in_heldout": 6, "containing_heldout": 3, "kept": 6}
    for t in kept:
        for h in heldout:
            assert not contained(normalise(t), normalise(h)) or not t
            assert not contained(normalise(h), normalise(t))
    inside, contains = overlap_mask(["x y"], ["x y", "w x y z", "y"])
    assert inside == [True, False, True] and contains == [True, True, False]


@pytest.mark.skipif(not (SHARED_DATA / "sst2" / "train.tsv").exists(), reason="no ../shared/data/sst2")
def test_split_on_real_sst2_phrases():
    lines = (SHARED_DATA / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:4001]
    phrases = [line.split("\t")[0] for line in lines]
    heldout, train = phrases[:300], phrases[300:]
    kept, counts = drop_overlapping(heldout, train, text=lambda t: t)
    assert 0 < counts["dropped"] < len(train) and len(kept) == counts["kept"]
    # Checked independently of the index: padded phrases joined by newlines, so no match spans two phrases.
    padded = lambda texts: [f" {' '.join(normalise(t))} " for t in texts]
    held_blob, kept_blob = "\n".join(padded(heldout)), "\n".join(padded(kept))
    assert not any(t in held_blob for t in padded(kept))
    assert not any(h in kept_blob for h in padded(heldout))


def test_long_slice_takes_the_first_long_phrases_and_keeps_the_rest_in_order():
    phrases = ["a b c", "short", "one two three four", "x y z", "tiny", "p q r s t"]
    heldout, rest = take_long(phrases, 2, 3, text=lambda t: t)
    assert heldout == ["a b c", "one two three four"]
    assert rest == ["short", "x y z", "tiny", "p q r s t"]
    heldout, rest = take_long(phrases, 10, 5, text=lambda t: t)  # fewer long ones than asked: all of them
    assert heldout == ["p q r s t"] and len(rest) == 5
