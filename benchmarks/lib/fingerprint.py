"""The machine a benchmark row was measured on: CPU, bf16 instructions, threads, GEMM ceilings, code version, command.

`report()` in benchmarks/lib/results.py stores it as the "machine" field of every newly measured row, so a number
can be judged against the hardware (and the commit) that produced it. Measuring takes well under a second
and is done once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
GEMM_SIZES = (256, 512, 1024)  # square matmul sizes for the fp32 / bf16 ceilings
GEMM_SECONDS = 0.25  # per dtype, spread over GEMM_SIZES

_cached: dict | None = None


def machine_fingerprint(refresh: bool = False) -> dict:
    """This machine and run, measured once per process (again with `refresh`); returns a fresh copy."""
    global _cached
    if _cached is None or refresh:
        import torch

        from benchmarks.lib.flops import matmul_ceiling_gflops
        from nlp_apps.precision import cpu_bf16_flags, cpu_model

        flags = cpu_bf16_flags()
        _cached = {
            "cpu": cpu_model(),
            "amx_bf16": "amx_bf16" in flags,
            "avx512_bf16": "avx512_bf16" in flags,
            "cores": len(os.sched_getaffinity(0)),
            "threads": torch.get_num_threads(),
            "fp32_gflops": round(matmul_ceiling_gflops(GEMM_SECONDS, GEMM_SIZES, torch.float32), 1),
            "bf16_gflops": round(matmul_ceiling_gflops(GEMM_SECONDS, GEMM_SIZES, torch.bfloat16), 1),
            "torch": torch.__version__,
            "git_commit": git_commit(),
            "command": " ".join(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]),
            "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        }
    return dict(_cached)


def git_commit() -> str | None:
    """`git rev-parse --short HEAD` of this repository, plus "+dirty" with uncommitted changes; None without git."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        return commit + ("+dirty" if _git("status", "--porcelain") else "")
    except (OSError, subprocess.SubprocessError):  # no git, or not a repository
        return None


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10).stdout.strip()


def machine_cell(machine: dict) -> str:
    """A short table cell, e.g. "AMD EPYC, avx512_bf16, 2 thr, fp32 95 / bf16 204 GFLOP/s, abc1234"."""
    parts = [machine.get("cpu") or "?"]
    parts += [flag for flag in ("amx_bf16", "avx512_bf16") if machine.get(flag)]
    if machine.get("threads") is not None:
        parts.append(f"{machine['threads']} thr")
    if machine.get("fp32_gflops") is not None and machine.get("bf16_gflops") is not None:
        parts.append(f"fp32 {machine['fp32_gflops']:.0f} / bf16 {machine['bf16_gflops']:.0f} GFLOP/s")
    if machine.get("git_commit"):
        parts.append(machine["git_commit"])
    return ", ".join(str(p) for p in parts).replace("|", "/")
