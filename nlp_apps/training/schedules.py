"""Learning-rate schedules as plain functions of training progress p in [0, 1].

Progress is the larger of steps done / planned steps and time spent / time budget, so a
schedule ends on time whichever limit comes first. Each returns a multiplier of the peak LR.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "linear", "cosine", "slanted_triangular")


SLANTED_CUT = 0.1  # the slanted triangle's rise: ULMFiT's cut_frac


def lr_multiplier(schedule: str, progress: float, warmup: float | None = None) -> float:
    """`warmup`: the fraction of training spent rising [0; for slanted_triangular, its own 0.1]."""
    p = min(max(progress, 0.0), 1.0)
    if schedule == "slanted_triangular":
        return slanted_triangular(p, SLANTED_CUT if warmup is None else warmup)
    warmup = warmup or 0.0
    if warmup > 0 and p < warmup:
        return p / warmup
    rest = (p - warmup) / (1 - warmup) if warmup < 1 else 1.0
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 1.0 - rest
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * rest))
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


def slanted_triangular(p: float, cut_frac: float = SLANTED_CUT, ratio: float = 32.0) -> float:
    """ULMFiT (Howard & Ruder 2018, eq. 3): a short linear rise, then a long linear decay to 1/ratio."""
    if cut_frac <= 0:
        rise = 1 - p
    elif p < cut_frac:
        rise = p / cut_frac
    else:
        rise = 1 - (p - cut_frac) / (1 - cut_frac)
    return (1 + rise * (ratio - 1)) / ratio
