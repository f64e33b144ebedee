"""Beam search as a state machine, driven by fake step functions whose probabilities are written by hand."""

import math

import pytest
import torch

from nlp_apps.seq2seq.beam_search import BeamSearch, greedy_search, length_penalty

BOS, EOS, A, B, C = 0, 1, 2, 3, 4
VOCAB = 5


def table(prefix_probs: dict[tuple, dict[int, float]]):
    """A step function from prefixes (tokens after <s>) to next-token probabilities; unlisted tokens get ~0."""

    def log_probs_for(prefix: tuple) -> torch.Tensor:
        probs = torch.full((VOCAB,), 1e-9)
        for token, p in prefix_probs.get(prefix, {EOS: 1.0}).items():
            probs[token] = p
        return (probs / probs.sum()).log()

    return log_probs_for


def run(search: BeamSearch, model, batch_tables=None):
    """Drive the search; each row's prefix is read back from the search's own sequences."""
    while not search.done:
        rows = []
        for r, seq in enumerate(search.sequences.tolist()):
            example = int(search.active[r // search.beam_size])
            step = (batch_tables or {}).get(example, model)
            rows.append(step(tuple(seq[1:])))
        search.advance(torch.stack(rows))
    return search.hypotheses


# The classic case where beam search beats greedy: A looks best first, but every path after it is poor.
#   P(A) = .5, P(B) = .4;  P(EOS | A) = .3, P(C | A) = .3, ...;  P(EOS | B) = .9
#   greedy: A then (A's best next token) ... ; beam 2: B EOS has p = .36 > A EOS .15
GARDEN_PATH = table({
    (): {A: 0.5, B: 0.4, C: 0.1},
    (A,): {EOS: 0.3, C: 0.35, A: 0.35},
    (A, C): {EOS: 1.0},
    (A, A): {EOS: 1.0},
    (B,): {EOS: 0.9, C: 0.1},
    (B, C): {EOS: 1.0},
    (C,): {EOS: 1.0},
})


def test_beam_two_finds_the_sequence_greedy_misses():
    beam = run(BeamSearch(1, 2, bos_id=BOS, eos_id=EOS, n_best=2), GARDEN_PATH)[0]
    # On paper: step 1 keeps A (.5) and B (.4); step 2 candidates A C .175, A A .175, A EOS .15, B EOS .36, B C .04
    # -> B EOS finishes first with .36 (best beam, done).
    assert beam[0][1] == [B] and beam[0][0] == pytest.approx(math.log(0.4 * 0.9), abs=1e-6)
    assert greedy_with_table(GARDEN_PATH, 1)[0][1][0] == A  # greedy commits to A and ends on a .175 path


def greedy_with_table(model, batch):
    """greedy_search over a table model; the state is each row's prefix."""

    def step(tokens, state):
        state = [[] if prefix is None else prefix + [int(t)] for prefix, t in zip(state, tokens)]
        return torch.stack([model(tuple(p)) for p in state]), state

    return greedy_search(step, [None] * batch, batch, bos_id=BOS, eos_id=EOS, max_length=6,
                         reorder=lambda state, idx: [state[i] for i in idx.tolist()])


def test_beam_one_equals_greedy():
    model = table({(): {A: 0.6, B: 0.4}, (A,): {C: 0.7, EOS: 0.3}, (A, C): {B: 0.5, EOS: 0.5}, (A, C, B): {EOS: 1.0}})
    beam = run(BeamSearch(1, 1, bos_id=BOS, eos_id=EOS), model)[0][0][1]
    assert beam == greedy_with_table(model, 1)[0][1] == [A, C]  # ties broken by the lower id (EOS=1 < B=3)


def test_the_length_penalty_prefers_longer_hypotheses_as_alpha_grows():
    model = table({(): {EOS: 0.4, A: 0.6}, (A,): {EOS: 0.55, A: 0.45}, (A, A): {EOS: 1.0}})
    short = run(BeamSearch(1, 2, bos_id=BOS, eos_id=EOS, n_best=2, alpha=0.0), model)[0]
    assert short[0][1] == [] and short[0][0] == pytest.approx(math.log(0.4), abs=1e-6)  # "" at .4 beats "A" at .33
    long = run(BeamSearch(1, 2, bos_id=BOS, eos_id=EOS, n_best=2, alpha=2.0), model)[0]
    # "" has length 1 (its </s>): log .4 / (6/6)^2 = -.916; "A" has length 2: log .33 / (7/6)^2 = -.814
    assert long[0][1] == [A]
    assert long[0][0] == pytest.approx(math.log(0.6 * 0.55) / length_penalty(2, 2.0), abs=1e-6)


def test_min_and_max_length():
    model = table({(): {EOS: 0.9, A: 0.1}, (A,): {EOS: 0.9, B: 0.1}, (A, B): {C: 1.0}, (A, B, C): {A: 1.0}})
    assert run(BeamSearch(1, 2, bos_id=BOS, eos_id=EOS, min_length=1), model)[0][0][1] == [A]
    capped = run(BeamSearch(1, 1, bos_id=BOS, eos_id=EOS, min_length=3, max_length=3), model)[0][0][1]
    assert capped == [A, B, C]  # cut at max_length without </s>


def test_ngram_repeat_blocking():
    loop = table({(): {A: 1.0}, (A,): {B: 1.0}, (A, B): {A: 0.9, EOS: 0.1}, (A, B, A): {B: 0.9, C: 0.1},
                  (A, B, A, C): {EOS: 1.0}, (A, B, A, B): {EOS: 1.0}})
    assert run(BeamSearch(1, 1, bos_id=BOS, eos_id=EOS), loop)[0][0][1] == [A, B, A, B]
    assert run(BeamSearch(1, 1, bos_id=BOS, eos_id=EOS, block_ngram_repeat=2), loop)[0][0][1] == [A, B, A, C]


def test_finished_examples_leave_the_batch_and_select_indices_track_rows():
    quick = table({(): {EOS: 1.0}})
    slow = table({(): {A: 1.0}, (A,): {B: 1.0}, (A, B): {EOS: 1.0}})
    search = BeamSearch(2, 2, bos_id=BOS, eos_id=EOS)
    rows_seen = []
    while not search.done:
        rows_seen.append(search.sequences.size(0))
        step = [quick if int(search.active[r // 2]) == 0 else slow for r in range(search.sequences.size(0))]
        search.advance(torch.stack([s(tuple(seq[1:])) for s, seq in zip(step, search.sequences.tolist())]))
        assert search.select_indices.numel() == search.sequences.size(0)
    assert rows_seen == [4, 2, 2]  # example 0 finished at the first step; only example 1's two beams go on
    assert search.hypotheses[0][0][1] == [] and search.hypotheses[1][0][1] == [A, B]


def test_batched_beams_equal_one_example_at_a_time():
    models = {0: GARDEN_PATH, 1: table({(): {C: 0.7, A: 0.3}, (C,): {A: 0.6, EOS: 0.4}, (C, A): {EOS: 1.0}, (A,): {EOS: 1.0}}),
              2: table({(): {B: 1.0}, (B,): {B: 0.5, EOS: 0.5}, (B, B): {EOS: 1.0}})}
    batched = run(BeamSearch(3, 3, bos_id=BOS, eos_id=EOS, n_best=2, alpha=0.6), None, models)
    for example, model in models.items():
        alone = run(BeamSearch(1, 3, bos_id=BOS, eos_id=EOS, n_best=2, alpha=0.6), model)[0]
        assert [h[1] for h in batched[example]] == [h[1] for h in alone]
        assert [h[0] for h in batched[example]] == pytest.approx([h[0] for h in alone])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="n_best"):
        BeamSearch(1, 2, bos_id=BOS, eos_id=EOS, n_best=3)
    with pytest.raises(ValueError, match="min_length"):
        BeamSearch(1, 2, bos_id=BOS, eos_id=EOS, min_length=5, max_length=3)
