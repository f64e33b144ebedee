"""Batched beam search as a decode state machine (OpenNMT-py's design): it never calls the model.

The caller owns the model and its recurrent state and loops:

    search = BeamSearch(batch_size=B, beam_size=K, bos_id=..., eos_id=...)
    state = repeat each example's encoder state K times (rows = B * K)
    while not search.done:
        log_probs = step(search.current_tokens, state)      # (rows, vocab)
        search.advance(log_probs)
        state = reorder every per-row tensor by search.select_indices (index_select on the batch dim)
    search.hypotheses[b]  ->  [(score, token ids), ...] best first, n_best of them

Each step keeps the K best continuations of every example. A beam that emits </s> is finished and
scored with the GNMT length penalty, score = log p / ((5 + length) / 6) ** alpha (Wu et al. 2016).
An example is done when its best beam has finished and it holds n_best hypotheses (or at
max_length); its rows then leave the batch, so no compute is spent on it. `select_indices` tells the
caller which old row each new row continues, which covers both the reordering and the removal.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def length_penalty(length: int | torch.Tensor, alpha: float):
    """GNMT's ((5 + |Y|) / 6) ** alpha; alpha 0 scores by the plain log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


class BeamSearch:
    def __init__(
        self,
        batch_size: int,
        beam_size: int,
        *,
        bos_id: int,
        eos_id: int,
        n_best: int = 1,
        min_length: int = 0,
        max_length: int = 100,
        alpha: float = 0.0,
        block_ngram_repeat: int = 0,
        banned_ids: tuple[int, ...] = (),
        device: torch.device | str = "cpu",
    ):
        if beam_size < 1 or n_best < 1 or n_best > beam_size:
            raise ValueError(f"need 1 <= n_best ({n_best}) <= beam_size ({beam_size})")
        if max_length < 1 or min_length > max_length:
            raise ValueError(f"need min_length ({min_length}) <= max_length ({max_length}) and max_length >= 1")
        self.beam_size, self.eos_id, self.n_best = beam_size, eos_id, n_best
        self.min_length, self.max_length, self.alpha = min_length, max_length, alpha
        self.block_ngram_repeat, self.banned_ids = block_ngram_repeat, tuple(banned_ids)
        self.device = torch.device(device)
        self.hypotheses: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch_size)]
        self.active = torch.arange(batch_size, device=self.device)  # original index of each live example
        rows = batch_size * beam_size
        self.sequences = torch.full((rows, 1), bos_id, dtype=torch.long, device=self.device)  # with <s> first
        # Only the first beam of each example is live at the start, so the K beams do not start as K copies.
        start = torch.full((batch_size, beam_size), NEG_INF, device=self.device)
        start[:, 0] = 0.0
        self.log_probs = start  # (active, K): cumulative log-probability of each beam
        self.select_indices = torch.arange(rows, device=self.device)
        self.step = 0

    @property
    def done(self) -> bool:
        return self.active.numel() == 0

    @property
    def current_tokens(self) -> torch.Tensor:
        """(rows,) the token each live row feeds to the model next."""
        return self.sequences[:, -1]

    def advance(self, step_log_probs: torch.Tensor) -> None:
        """Take the model's (rows, vocab) log-probabilities for the next token and move one step."""
        active, beam = self.active.numel(), self.beam_size
        vocab = step_log_probs.size(-1)
        step_log_probs = step_log_probs.float().clone()
        if self.banned_ids:
            step_log_probs[:, list(self.banned_ids)] = NEG_INF
        if self.step < self.min_length:
            step_log_probs[:, self.eos_id] = NEG_INF
        if self.block_ngram_repeat > 0:
            self._block_repeats(step_log_probs)
        self.step += 1
        scores = (self.log_probs.reshape(-1, 1) + step_log_probs).view(active, beam * vocab)
        top_scores, top_ids = scores.topk(beam, dim=-1)  # (active, K)
        origin = top_ids // vocab  # the beam each new beam continues
        tokens = top_ids % vocab
        rows = (origin + torch.arange(active, device=self.device).unsqueeze(1) * beam).view(-1)
        self.sequences = torch.cat([self.sequences[rows], tokens.view(-1, 1)], dim=1)
        finished = tokens.eq(self.eos_id) & torch.isfinite(top_scores)
        if self.step >= self.max_length:
            finished = torch.isfinite(top_scores)
        top_scores = self._collect(top_scores, finished)
        done = self._examples_done(finished, top_scores)
        keep = (~done).nonzero().view(-1)
        self.log_probs = top_scores[keep]
        kept_rows = (keep.unsqueeze(1) * beam + torch.arange(beam, device=self.device)).view(-1)
        self.sequences = self.sequences[kept_rows]
        self.select_indices = rows.view(active, beam)[keep].view(-1)
        self.active = self.active[keep]

    def _collect(self, scores: torch.Tensor, finished: torch.Tensor) -> torch.Tensor:
        """Move finished beams into the hypotheses; they live on at -inf, so they never grow again."""
        for i, k in finished.nonzero().tolist():
            sequence = self.sequences[i * self.beam_size + k, 1:].tolist()
            length = len(sequence)
            if sequence and sequence[-1] == self.eos_id:
                sequence = sequence[:-1]
            score = float(scores[i, k]) / length_penalty(length, self.alpha)
            self.hypotheses[int(self.active[i])].append((score, sequence))
        return scores.masked_fill(finished, NEG_INF)

    def _examples_done(self, finished: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """An example is done when its best beam just finished with n_best hypotheses in hand, at
        max_length, or when no beam of it is left alive."""
        done = torch.zeros(finished.size(0), dtype=torch.bool, device=self.device)
        for i in range(finished.size(0)):
            example = int(self.active[i])
            enough = len(self.hypotheses[example]) >= self.n_best
            if (finished[i, 0] and enough) or self.step >= self.max_length or not torch.isfinite(scores[i]).any():
                done[i] = True
                self.hypotheses[example] = sorted(self.hypotheses[example], key=lambda h: -h[0])[: self.n_best]
        return done

    def _block_repeats(self, log_probs: torch.Tensor) -> None:
        """Forbid any token that would repeat an n-gram already in the beam (n = block_ngram_repeat)."""
        n = self.block_ngram_repeat
        for row, sequence in enumerate(self.sequences[:, 1:].tolist()):
            if len(sequence) < n - 1 or n < 1:
                continue
            prefix = tuple(sequence[len(sequence) - (n - 1):]) if n > 1 else ()
            banned = {sequence[i + n - 1] for i in range(len(sequence) - n + 1) if tuple(sequence[i : i + n - 1]) == prefix}
            if banned:
                log_probs[row, list(banned)] = NEG_INF


def greedy_search(
    step,
    state,
    batch_size: int,
    *,
    bos_id: int,
    eos_id: int,
    max_length: int = 100,
    min_length: int = 0,
    banned_ids: tuple[int, ...] = (),
    reorder=None,
    device: torch.device | str = "cpu",
) -> list[tuple[float, list[int]]]:
    """The most likely token at each step until </s>; finished examples leave the batch.

    step(tokens (rows,), state) -> ((rows, vocab) log-probabilities, new state);
    reorder(state, indices) -> the state of those rows (needed only to drop finished examples).
    Returns (summed log-probability, token ids without </s>) per example.
    """
    device = torch.device(device)
    active = torch.arange(batch_size, device=device)
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=device)
    outputs: list[list[int]] = [[] for _ in range(batch_size)]
    scores = [0.0] * batch_size
    for length in range(max_length):
        log_probs, state = step(tokens, state)
        log_probs = log_probs.float().clone()
        if banned_ids:
            log_probs[:, list(banned_ids)] = NEG_INF
        if length < min_length:
            log_probs[:, eos_id] = NEG_INF
        best, tokens = log_probs.max(-1)
        for i, token, score in zip(active.tolist(), tokens.tolist(), best.tolist()):
            scores[i] += score
            if token != eos_id:
                outputs[i].append(token)
        alive = tokens.ne(eos_id).nonzero().view(-1)
        if alive.numel() == 0:
            break
        if alive.numel() < active.numel():
            active, tokens = active[alive], tokens[alive]
            state = reorder(state, alive) if reorder is not None else state
    return list(zip(scores, outputs))
