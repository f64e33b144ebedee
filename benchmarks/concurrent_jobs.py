"""Two training jobs at once on one machine: each one's speed against the same job alone.

Rows, one after another (run it alone: nothing else on the machine):
  alone          one `nlp-apps pretrain` job with the default threads
  two_default    two identical jobs started together with the default threads (the job board shares
                 the cores: each takes its share, see nlp_apps/threads.py)
  two_all_cores  two jobs that each insist on every core (NLP_APPS_THREADS=<cores>): what happened
                 before the job board, OpenMP threads spinning against each other
  two_one_thread two jobs with NLP_APPS_THREADS=1 each, the manual remedy

Each job pretrains the default LSTM (2x768) on the first 20,000 lines of PTB train, word level, for
--seconds of training; speed = training tokens/s from its metrics.json. Target: each of two jobs
>= 0.4x of its speed alone.

    python -m benchmarks.concurrent_jobs [--seconds 60] [--out runs/bench-concurrent]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.lib.fingerprint import machine_fingerprint
from benchmarks.lib.results import load_average, shared_data, store_row
from nlp_apps.threads import available_cores

ROWS = ["alone", "two_default", "two_all_cores", "two_one_thread"]
NOTES = ("Two `nlp-apps pretrain` jobs at once (default LSTM 2x768, 20,000 PTB lines, word level), each job's training "
         "tokens/s against one job alone, one row after another in one run. Target: >= 0.4x each.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", default="runs/bench-concurrent")
    args = parser.parse_args()
    machine_fingerprint()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, valid = out / "train.txt", out / "valid.txt"
    ptb = shared_data("ptb")
    train.write_text("".join((ptb / "ptb.train.txt").read_text(encoding="utf-8").splitlines(keepends=True)[:20_000]), encoding="utf-8")
    valid.write_text("".join((ptb / "ptb.valid.txt").read_text(encoding="utf-8").splitlines(keepends=True)[:500]), encoding="utf-8")
    cores = str(len(available_cores()))
    plans = {"alone": [{}], "two_default": [{}, {}], "two_all_cores": [{"NLP_APPS_THREADS": cores}] * 2,
             "two_one_thread": [{"NLP_APPS_THREADS": "1"}] * 2}
    alone = None
    for name, envs in plans.items():
        load_start = load_average()
        speeds = run_together(name, envs, train, valid, out, args.seconds)
        alone = alone or speeds[0]
        store_row("concurrent_jobs", {
            "row": name, "jobs": len(envs), "seconds": args.seconds, "tokens_per_s": speeds,
            "of_alone": [round(s / alone, 2) for s in speeds], "load_start": load_start, "load_end": load_average(),
        }, ROWS, NOTES)


def run_together(name: str, envs: list[dict], train: Path, valid: Path, out: Path, seconds: float) -> list[float]:
    """Start one job per env at once, wait for all, return each one's training tokens/s."""
    jobs = []
    for i, extra in enumerate(envs):
        run_dir = out / f"{name}-{i}"
        env = {k: v for k, v in os.environ.items() if k not in ("NLP_APPS_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        command = [sys.executable, "-m", "nlp_apps.cli", "pretrain", "--train", str(train), "--valid", str(valid),
                   "--out", str(run_dir), "--overwrite", "--tokenizer", "word", "--time-budget", f"{seconds}s",
                   "--layers", "2", "--emb-size", "256", "--hidden-size", "768",  # the 2x768 of the stored rows, not a picked size
                   "--no-progress", "--seed", "0", "--precision", "fp32"]
        log = open(out / f"{name}-{i}.log", "w")  # noqa: SIM115 (closed once the job ends)
        jobs.append((subprocess.Popen(command, env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT), run_dir, log))
    speeds = []
    for process, run_dir, log in jobs:
        if process.wait() != 0:
            sys.exit(f"error: job {run_dir} failed (see {log.name})")
        log.close()
        speeds.append(json.loads((run_dir / "metrics.json").read_text())["tok_per_s"])
    return speeds


if __name__ == "__main__":
    main()
