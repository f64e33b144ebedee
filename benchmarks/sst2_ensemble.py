"""SST-2 dev accuracy of an ensemble: the average of several trained sentiment models' class probabilities.

A 30-minute budget spent as three 10-minute runs (three seeds, one after another) against one 30-minute run:
the members are model directories that `python -m benchmarks.sst2` left (`--out DIR`, one per seed and budget).
Each member is scored alone and the ensemble averages the members' probabilities, for the mix of a stacked head and,
from the same models, for the RNN head alone. Nothing is chosen on dev.

    python -m benchmarks.sst2_ensemble --name 3x10min runs/bench-sst2-stacked/no_lm_stacked_10min \\
        runs/bench-sst2-stacked/no_lm_stacked_seed1_10min runs/bench-sst2-stacked/no_lm_stacked_seed2_10min
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from benchmarks.lib.fingerprint import machine_fingerprint
from benchmarks.lib.results import load_average, shared_data, store_row, utc_stamp
from tasks.sentiment.adapter import read_dataset
from tasks.sentiment.pipeline import load
from tasks.sentiment.stacking import accuracy

NOTES = ("An ensemble averages its members' class probabilities on SST-2 dev (the stacked mix, and the RNN head alone from "
         "the same models); train_minutes sums the members' training time. Members come from `python -m benchmarks.sst2` runs.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("members", nargs="+", help="trained sentiment model directories")
    parser.add_argument("--name", required=True, help="the row's name, e.g. 3x10min")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="prediction precision (as benchmarks.sst2's)")
    args = parser.parse_args()
    dev = read_dataset(shared_data("sst2", "dev.tsv"), format="sst2")
    texts = [e.text for e in dev]
    averaged: dict[str, torch.Tensor] = {}
    members, labels = [], None
    for directory in args.members:
        pipeline = load(directory)
        pipeline.precision = args.precision
        if labels is not None and pipeline.labels != labels:
            raise SystemExit(f"error: {directory}: labels {pipeline.labels} differ from the first member's {labels}")
        if labels is None:
            labels = pipeline.labels
            gold = torch.tensor([labels.index(e.label) for e in dev])
        by_path = pipeline.path_logits(texts, rnn_only=not pipeline.stacked)
        member = {"model": directory, "train_minutes": round(train_seconds(directory) / 60, 1)}
        for path in ("stacked", "rnn"):
            if path in by_path:
                probabilities = by_path[path].float().softmax(-1)
                averaged[path] = averaged.get(path, 0) + probabilities / len(args.members)
                member[f"dev_accuracy_{path}"] = round(accuracy(probabilities, gold), 4)
        members.append(member)
        print(json.dumps(member), flush=True)
    row = {"row": args.name, "members": len(members), "train_minutes": round(sum(m["train_minutes"] for m in members), 1),
           **{f"dev_accuracy_{path}": round(accuracy(p, gold), 4) for path, p in averaged.items()},
           **{f"member_mean_{path}": round(sum(m[f"dev_accuracy_{path}"] for m in members) / len(members), 4)
              for path in averaged},
           "member_models": [m["model"] for m in members], "precision": args.precision, "load_average": load_average(),
           "measured": utc_stamp(), "machine": machine_fingerprint()}
    store_row("sst2_ensemble", row, notes=NOTES, key=lambda r: r["row"])


def train_seconds(directory: str) -> float:
    metrics = Path(directory) / "metrics.json"
    return json.loads(metrics.read_text()).get("train_seconds", 0.0) if metrics.exists() else 0.0


if __name__ == "__main__":
    main()
