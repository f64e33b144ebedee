"""FLOP accounting for recurrent LMs, and the matmul ceiling (fp32 or bf16) of this machine, measured now."""

from __future__ import annotations

import time

import torch

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def lm_macs_per_token(cell: str, layer_sizes: list[tuple[int, int]], output_size: int, vocab: int) -> int:
    """Multiply-adds to predict one token: every layer's gates plus the softmax projection."""
    recurrent = sum(GATES[cell] * n_out * (n_in + n_out) for n_in, n_out in layer_sizes)
    return recurrent + output_size * vocab


def train_flops_per_token(macs: int) -> int:
    """Forward (2 FLOPs per MAC) plus backward (twice the forward)."""
    return 6 * macs


def matmul_ceiling_gflops(seconds: float = 3.0, sizes=(512, 1024, 2048), dtype: torch.dtype = torch.float32) -> float:
    """Best GEMM throughput (GFLOP/s) in `dtype` over a few square sizes, with torch's current threads."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.mm(a, b)  # warm-up
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / len(sizes):
            torch.mm(a, b)
            runs += 1
        best = max(best, 2 * n**3 * runs / (time.perf_counter() - start) / 1e9)
    return best
