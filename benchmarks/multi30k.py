"""Multi30k task 1, German -> English: test_2016_flickr sacreBLEU after a training budget, and decoding speed.

Rows (each run on its own; record whether the machine was otherwise idle):
    ours          nlp-apps translation train, defaults (decoder from the default English backbone), --minutes
    no_lm_init    the same without LM initialisation (--tgt-backbone none)
    joeynmt       the peer (JoeyNMT 2.3, GRU + Bahdanau) from its working setup, same data, same budget and threads
    decode_speed  batched beam search (batches of 64) against the same beam search one sentence at a time

    python -m benchmarks.multi30k --row ours --minutes 60
    python -m benchmarks.multi30k --row decode_speed
Data: $NLP_APPS_DATA/multi30k (default ../shared/data/multi30k).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.lib.results import ROOT, load_average, shared_data, store_row

NOTES = ("Multi30k de->en, test_2016_flickr, sacreBLEU (13a, detokenised). Target: >= 35 BLEU after at most 60 minutes "
         "of training on 2 CPU threads, alone. threads = torch threads; load = 1-minute load average at the start and end "
         "of the run (about 1 per busy core), so rows measured while other work ran show it.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", required=True, choices=["ours", "no_lm_init", "joeynmt", "decode_speed"])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--out", default="runs/bench-multi30k")
    parser.add_argument("--model", help="decode_speed: the model to time [OUT/ours-60m]")
    parser.add_argument("--sentences", type=int, default=1000, help="decode_speed: how many test sentences")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="ours/no_lm_init: training and test precision (rows not in auto are stored beside auto's)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more options for `translation train`")
    args = parser.parse_args()
    data = shared_data("multi30k")
    rows = {"ours": run_ours, "no_lm_init": run_ours, "joeynmt": run_joeynmt, "decode_speed": run_decode_speed}
    row = rows[args.row](args, data)
    store_row("multi30k", row, list(rows), NOTES, key=row_key)


def row_key(row: dict) -> tuple:
    """Rows are told apart by name, budget, threads and the precision asked for (older rows: auto)."""
    return row["row"], row.get("budget_minutes"), row.get("threads"), row.get("precision_asked", "auto")


def run_ours(args, data: Path) -> dict:
    # one model per (row, budget, precision), like the stored rows
    out = Path(args.out) / (f"{args.row}-{args.minutes:g}m" + ("" if args.precision == "auto" else f"-{args.precision}"))
    shutil.rmtree(out, ignore_errors=True)
    load_start = load_average()
    command = [sys.executable, "-m", "nlp_apps.cli", "--precision", args.precision, "translation", "train",
               "--src", data / "train.de", "--tgt", data / "train.en",
               "--valid-src", data / "val.de", "--valid-tgt", data / "val.en", "--out", out, "--time-budget", f"{args.minutes}m",
               "--no-progress", *(["--tgt-backbone", "none"] if args.row == "no_lm_init" else []), *args.extra]
    started = time.time()
    subprocess.run([str(c) for c in command], check=True)
    wall = time.time() - started
    load_end = load_average()
    metrics = json.loads((out / "metrics.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    row = {"row": args.row, "system": "nlp-apps translation train" + (" --tgt-backbone none" if args.row == "no_lm_init" else ""),
           "budget_minutes": args.minutes, "wall_minutes": round(wall / 60, 1), "steps": metrics["steps"],
           "epochs": round(metrics["tok_trained"] / target_tokens(out, data), 2), "train_target_tok_per_s": metrics["tok_per_s"],
           "parameters": parameters(out), "threads": manifest["torch_threads"], "load_start": load_start, "load_end": load_end,
           "valid_bleu_greedy": metrics["best"].get("bleu"), "precision_asked": args.precision, "precision": metrics.get("precision")}
    for beam in (5, 1):
        scores = evaluate(out, data, beam, args.precision)
        row[f"test_bleu_beam{beam}"] = scores["bleu"]
        row[f"test_chrf_beam{beam}"] = scores["chrf"]
    row["signature"] = scores["bleu_signature"]
    return row


def evaluate(model: Path, data: Path, beam: int, precision: str = "auto") -> dict:
    command = [sys.executable, "-m", "nlp_apps.cli", "--precision", precision, "translation", "evaluate", "--model", model,
               "--src", data / "test_2016_flickr.de",
               "--ref", data / "test_2016_flickr.en", "--beam", beam, "--json", "--hyps", model / f"test2016.beam{beam}.en"]
    return json.loads(subprocess.run([str(c) for c in command], check=True, capture_output=True, text=True).stdout)


def target_tokens(out: Path, data: Path) -> int:
    """Target tokens of one epoch (+ one </s> per sentence), with the model's target tokenizer."""
    from nlp_apps.io.checkpoint import load_parts

    tokenizer = load_parts(out)["decoder"].tokenizer
    lines = (data / "train.en").read_text(encoding="utf-8").splitlines()
    return sum(len(ids) + 1 for ids in tokenizer.encode_batch(lines))


def parameters(out: Path) -> int:
    from tasks.translation.pipeline import load

    return sum(p.numel() for p in load(out).model.parameters())


def run_decode_speed(args, data: Path) -> dict:
    from tasks.translation.pipeline import load

    model = Path(args.model or Path(args.out) / "ours-60m")
    pipeline = load(model)
    sources = (data / "test_2016_flickr.de").read_text(encoding="utf-8").splitlines()[: args.sentences]
    load_start = load_average()
    started = time.perf_counter()
    batched = pipeline.predict(sources, beam_size=5, batch_size=64)
    batched_rate = len(sources) / (time.perf_counter() - started)
    started = time.perf_counter()
    single = [pipeline.predict([s], beam_size=5, batch_size=1)[0] for s in sources]
    single_rate = len(sources) / (time.perf_counter() - started)
    return {"row": "decode_speed", "system": f"beam 5 on {len(sources)} test sentences ({model.name})",
            "batched_sentences_per_s": round(batched_rate, 2), "one_at_a_time_sentences_per_s": round(single_rate, 2),
            "speedup": round(batched_rate / single_rate, 2), "same_output": batched == single,
            "threads": torch.get_num_threads(), "load_start": load_start, "load_end": load_average()}


# The peer's own config with the hidden size cut from 512 to 448 (12.15M parameters, within 10% of ours) and
# validation every 200 steps instead of 150; everything else as in its working setup.
PEER_CONFIG = ROOT / "benchmarks" / "peers" / "joeynmt-multi30k.yaml"


def run_joeynmt(args, data: Path) -> dict:
    """The peer's own setup (its README documents the install quirks it solves); outputs under OUT/joeynmt."""
    peer = ROOT.parent / "shared" / "peers" / "joeynmt"
    work = (Path(args.out) / "joeynmt").resolve()
    env = dict(os.environ, WORK=str(work), BUDGET=f"{int(args.minutes)}m")
    load_start = load_average()
    stages = ["setup", "prepare", "train", "test"] if not (work / "venv").is_dir() else ["prepare", "train", "test"]
    output = ""
    for stage in stages:
        output += subprocess.run(["bash", str(peer / "run.sh"), stage], env=env, check=True, capture_output=True, text=True).stdout
        if stage == "prepare":  # our peer config replaces the one prepare copies in (see PEER_CONFIG)
            (work / "config.yaml").write_text(PEER_CONFIG.read_text().replace("@WORK@", str(work)))
    start, end = (int((work / f"train.{e}").read_text()) for e in ("start", "end"))
    log = (work / "model" / "train.log").read_text(encoding="utf-8", errors="replace")
    bleu = {}
    for name in ("beam5", "greedy"):
        hyp = work / "out" / f"test2016.{name}.en"
        import sacrebleu

        refs = (data / "test_2016_flickr.en").read_text(encoding="utf-8").splitlines()
        bleu[name] = sacrebleu.corpus_bleu(hyp.read_text(encoding="utf-8").splitlines(), [refs]).score
    steps = [int(line.split("Step:")[1].split(",")[0]) for line in log.splitlines() if "Step:" in line]
    rates = sorted(float(line.split("Tokens per Sec:")[1].split(",")[0]) for line in log.splitlines() if "Tokens per Sec:" in line)
    params = [line.split("Total params:")[1].strip() for line in log.splitlines() if "Total params:" in line]
    return {"row": "joeynmt", "system": "JoeyNMT 2.3.0, 1-layer biGRU 448 + Bahdanau, benchmarks/peers/joeynmt-multi30k.yaml",
            "budget_minutes": args.minutes, "parameters": params[-1] if params else None,
            "median_target_tok_per_s": rates[len(rates) // 2] if rates else None,
            "wall_minutes": round((end - start) / 60, 1), "steps": max(steps) if steps else None,
            "test_bleu_beam5": bleu["beam5"], "test_bleu_beam1": bleu["greedy"], "threads": 2,
            "load_start": load_start, "load_end": load_average(), "log_tail": output.strip().splitlines()[-3:]}


if __name__ == "__main__":
    main()
