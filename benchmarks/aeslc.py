"""AESLC (e-mail body -> subject line): test ROUGE-1/2/L after a training budget, beside the lead baseline.

Rows (each trained on its own; record whether the machine was otherwise idle):
    ours         nlp-apps summarization train, defaults (copy, no coverage, encoder and decoder from the default backbone;
                 coverage was on by default until 2026-12-07, so stored "ours" rows from before had it)
    coverage     the same with --coverage (from the first step)
    no_copy      the same with --no-copy
    no_coverage  the same with --no-coverage (the defaults since 2026-12-07)
    last_coverage  the same with --coverage-from 0.8: coverage (feature and loss) joins for the last 20% of the budget only
    no_lm_init   the same with --random-init (no LM initialisation)
    lead         the first sentence of the body, at most 15 words (no training)

    python -m benchmarks.aeslc --row ours --minutes 60
    python -m benchmarks.aeslc --row no_copy --minutes 20
Data: $NLP_APPS_DATA/aeslc (default ../shared/data/aeslc). Training reads train.jsonl (email_body -> subject_line);
early stopping reads the first --valid-size examples of dev.jsonl against subject_line; test.jsonl is scored twice:
against ann0-ann2 (the headline: rouge-score's best-of-three per example, averaged) and against subject_line alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.lib.results import load_average, shared_data, store_row
from tasks.summarization.defaults import DECODE_DEFAULTS

ROWS = {"ours": [], "coverage": ["--coverage"], "no_copy": ["--no-copy"], "no_coverage": ["--no-coverage"], "last_coverage": ["--coverage-from", "0.8"],
        "no_lm_init": ["--random-init"], "lead": None}
NOTES = ("AESLC test, ROUGE F1 x 100 with stemming (rouge-score). ann = best of ann0-ann2 per e-mail, averaged (the headline); "
         "subject = against the original subject_line alone (the dataset paper's best system: 23.67 / 10.29 / 23.44). "
         "Target: >= 25 / 11 / 24 (ann) after at most 60 minutes of training on 2 CPU threads, alone. Decoding: beam 4, "
         "trigram blocking, batches of 32. load = 1-minute load average at the start and end (about 1 per busy core).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", required=True, choices=list(ROWS))
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--valid-size", type=int, default=500, help="dev examples used for early stopping")
    parser.add_argument("--out", default="runs/bench-aeslc")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more options for `summarization train`")
    args = parser.parse_args()
    data = shared_data("aeslc")
    row = run_lead(data) if args.row == "lead" else run_model(args, data)
    # Rows with --extra options are stored beside the plain row of the same name and budget.
    store_row("aeslc", row, list(ROWS), NOTES, key=lambda r: (r["row"], r.get("budget_minutes"), r.get("system", r["row"])))


def cli(*arguments) -> list[str]:
    return [sys.executable, "-m", "nlp_apps.cli", "summarization", *(str(a) for a in arguments)]


def run_model(args, data: Path) -> dict:
    out = Path(args.out) / f"{args.row}-{args.minutes:g}m"  # one model per (row, budget), like the stored rows
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    valid = out.parent / f"dev-first{args.valid_size}.jsonl"  # a slice of dev, kept outside the model directory
    with open(data / "dev.jsonl", encoding="utf-8") as lines:
        valid.write_text("".join(line for _, line in zip(range(args.valid_size), lines)), encoding="utf-8")
    load_start = load_average()
    started = time.time()
    subprocess.run(cli("train", "--train", data / "train.jsonl", "--valid", valid, "--text-field", "email_body",
                       "--summary-field", "subject_line", "--out", out, "--time-budget", f"{args.minutes}m", "--no-progress",
                       *ROWS[args.row], *args.extra), check=True)
    wall = time.time() - started
    load_end = load_average()
    metrics = json.loads((out / "metrics.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    row = {"row": args.row, "system": " ".join(["summarization train", *ROWS[args.row], *args.extra]).strip(),
           "budget_minutes": args.minutes, "wall_minutes": round(wall / 60, 1), "steps": metrics["steps"],
           "train_target_tok_per_s": metrics["tok_per_s"], "threads": manifest["torch_threads"],
           "load_start": load_start, "load_end": load_end, "valid_rouge1_greedy": metrics["best"].get("rouge1")}
    annotated = evaluate(out, data, ["--ref-fields", "ann0,ann1,ann2"], out / "test.ann.txt")
    subject = evaluate(out, data, ["--summary-field", "subject_line"], out / "test.subject.txt")
    row.update(scores("ann", annotated["model"]))
    row.update(scores("subject", subject["model"]))
    row["decode_docs_per_s"] = annotated["documents_per_s"]
    row["decode"] = "beam {beam_size}, alpha {alpha:g}, trigram blocking".format(**DECODE_DEFAULTS)  # rows before 2026-12-06: alpha 0
    row["test_documents"] = annotated["documents"]
    return row


def evaluate(model: Path, data: Path, references: list[str], hyps: Path) -> dict:
    command = cli("evaluate", "--model", model, "--data", data / "test.jsonl", "--text-field", "email_body", *references,
                  "--hyps", hyps, "--json")
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def scores(prefix: str, rouge: dict) -> dict:
    return {f"{prefix}_{t}": round(rouge[t], 2) for t in ("rouge1", "rouge2", "rougeL")}


def run_lead(data: Path) -> dict:
    """The lead baseline, scored by the task's own metric code (what `summarization evaluate` prints beside a model)."""
    from tasks.summarization.metric import lead, rouge_scores

    records = [json.loads(line) for line in (data / "test.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    leads = [lead(r["email_body"]) for r in records]
    row = {"row": "lead", "system": "first sentence of the body, at most 15 words"}
    row.update(scores("ann", rouge_scores(leads, [[r["ann0"], r["ann1"], r["ann2"]] for r in records], confidence=False)))
    row.update(scores("subject", rouge_scores(leads, [[r["subject_line"]] for r in records], confidence=False)))
    row["test_documents"] = len(records)
    return row


if __name__ == "__main__":
    main()
