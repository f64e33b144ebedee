"""Training throughput of `nlp-apps pretrain` with one process and with data-parallel processes.

Runs the real command on PTB, with the same global batch each time: one process on one thread,
one process on N threads (intra-op parallelism), and N processes of one thread under torchrun
(gloo). Reports training tokens/s (evaluation and checkpoints excluded) and the speedup over one
thread, one after another in the same run.

    python -m benchmarks.data_parallel [--processes 2] [--steps 150]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.lib.results import ROOT, shared_data, store_row

MODEL = ["--tokenizer", "word", "--vocab-size", "10004", "--layers", "2", "--emb-size", "400", "--hidden-size", "400",
         "--batch-size", "32", "--bptt", "70", "--no-progress", "--checkpoint-every", "10h"]


def run(label: str, launcher: list[str], threads: int, steps: int, work: Path, code: Path = ROOT) -> dict:
    ptb = shared_data("ptb")
    out = work / label.replace(" ", "_").replace("/", "_")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), NLP_APPS_THREADS=str(threads), PYTHONPATH=str(code))
    command = [*launcher, "pretrain", "--train", str(ptb / "ptb.train.txt"), "--valid", str(ptb / "ptb.valid.txt"),
               "--out", str(out), "--max-steps", str(steps), *MODEL]
    subprocess.run(command, check=True, env=env, cwd=code, stdout=subprocess.DEVNULL)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"setup": label, "tokens_per_s": metrics["tok_per_s"], "steps": metrics["steps"],
            "valid_ppl": metrics["best"].get("word_ppl")}


def git_revision(checkout: Path) -> str:
    return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--before", type=Path, metavar="CHECKOUT",
                        help="another checkout (e.g. `git worktree add /tmp/before REV`): its data-parallel row runs in the same run, "
                             "before and after this checkout's, to compare engines")
    args = parser.parse_args()
    n, work = args.processes, Path(tempfile.mkdtemp(prefix="data_parallel_"))
    python = [sys.executable, "-m", "nlp_apps.cli"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n), "-m", "nlp_apps.cli"]
    rows = [
        run("1 process x 1 thread", python, 1, args.steps, work),
        run(f"1 process x {n} threads", python, n, args.steps, work),
        run(f"{n} processes x 1 thread (torchrun, gloo)", torchrun, 1, args.steps, work),
    ]
    if args.before:  # the other engine's row, then this one's again, so drift over the run shows
        label = f"{n} processes x 1 thread, code of {args.before.name} ({git_revision(args.before)})"
        rows += [run(label, torchrun, 1, args.steps, work, args.before.resolve()),
                 run(f"{n} processes x 1 thread (torchrun, gloo), again", torchrun, 1, args.steps, work)]
    shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        row["speedup_vs_1_thread"] = round(row["tokens_per_s"] / rows[0]["tokens_per_s"], 2)
    rows[-1]["notes"] = (f"PTB, word vocabulary, LSTM 2x400, global batch 32x70, {args.steps} steps each, one after another; "
                         "the same global batch, so the data-parallel run makes the same updates as one process.")
    store_row("data_parallel", rows, key=lambda row: (row["setup"], row.get("measured")))


if __name__ == "__main__":
    main()
