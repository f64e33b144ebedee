"""Peak resident memory of `nlp-apps pretrain` on the 100 MB Gutenberg corpus.

Runs the real command in a child process (tokenizer training, corpus encoding to a token file,
then a few hundred training steps streaming from it) and reports the child's peak RSS: its VmHWM,
read from /proc/PID/status while it runs (benchmarks/lib/memory.py says why not ru_maxrss).

    python -m benchmarks.pretrain_memory [--steps 300]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.lib.memory import run_peak_rss_mb
from benchmarks.lib.results import shared_data, store_row

NOTES = ("Peak RSS covers sentencepiece training (1M sampled lines), encoding and training from the memory-mapped token file: "
         "the child's VmHWM, read from /proc/PID/status every 0.05 s while it runs.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    data = shared_data("gutenberg-260")
    out = Path(tempfile.mkdtemp(prefix="pretrain_memory_")) / "run"
    command = [sys.executable, "-m", "nlp_apps.cli", "pretrain", "--train", str(data / "train.txt"),
               "--valid", str(data / "valid.txt"), "--out", str(out), "--bidirectional", "--hidden-size", "512",
               "--max-steps", str(args.steps), "--eval-every", str(args.steps), "--no-progress"]
    try:
        peak_mb = run_peak_rss_mb(command)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    if peak_mb is None:
        sys.exit("error: no /proc/PID/status VmHWM on this system (Linux only)")
    corpus_mb = (data / "train.txt").stat().st_size / 1e6
    # One row per step count: a short smoke run sits beside the 300-step row instead of replacing it.
    store_row("pretrain_memory", {
        "corpus_mb": round(corpus_mb, 1),
        "steps": args.steps,
        "peak_rss_mb": round(peak_mb, 1),
        "target_mb": 2048,
    }, order=lambda row: -row["steps"], notes=NOTES, key=lambda row: row["steps"])


if __name__ == "__main__":
    main()
