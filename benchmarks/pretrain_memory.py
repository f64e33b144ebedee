"""Peak resident memory of `nlp-apps pretrain` on the 100 MB Gutenberg corpus.

Runs the real command in a child process (tokenizer training, corpus encoding to a token file,
then a few hundred training steps streaming from it) and reports the child's peak RSS.

    python -m benchmarks.pretrain_memory [--steps 300]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.results import report, shared_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    data = shared_data("gutenberg-260")
    out = Path(tempfile.mkdtemp(prefix="pretrain_memory_")) / "run"
    command = [sys.executable, "-m", "nlp_apps.cli", "pretrain", "--train", str(data / "train.txt"),
               "--valid", str(data / "valid.txt"), "--out", str(out), "--bidirectional", "--hidden-size", "512",
               "--max-steps", str(args.steps), "--eval-every", str(args.steps), "--no-progress"]
    subprocess.run(command, check=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    corpus_mb = (data / "train.txt").stat().st_size / 1e6
    shutil.rmtree(out.parent, ignore_errors=True)
    report("pretrain_memory", [{
        "corpus_mb": round(corpus_mb, 1),
        "steps": args.steps,
        "peak_rss_mb": round(peak_mb, 1),
        "target_mb": 2048,
        "notes": "Peak RSS covers sentencepiece training (1M sampled lines), encoding and training from the memory-mapped token file.",
    }])


if __name__ == "__main__":
    main()
