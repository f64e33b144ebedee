"""Shared by the benchmark scripts: print one JSON line per row and store the rows in benchmarks/results/NAME.json.

The tables in docs/benchmarks.md are refreshed from the stored rows by `python -m benchmarks.tables`
(`refresh_tables` below), not by every run."""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.lib.fingerprint import machine_cell, machine_fingerprint

ROOT = Path(__file__).resolve().parents[2]  # the checkout
RESULTS_DIR = ROOT / "benchmarks" / "results"
# Benchmarks read public datasets from here; NLP_APPS_DATA points them elsewhere.
SHARED_DATA = Path(os.environ.get("NLP_APPS_DATA", ROOT.parent / "shared" / "data"))
TABLES = ROOT / "docs" / "benchmarks.md"  # the generated tables live between the markers there
START, END = "<!-- results:start -->", "<!-- results:end -->"


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        sys.exit(f"error: {path} not found (benchmarks read {SHARED_DATA}; set NLP_APPS_DATA to another folder)")
    return path


def utc_stamp() -> str:
    """The time a row was measured, as stored in its "measured" field."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def report(name: str, rows: list[dict]) -> None:
    """Store `rows` (one per measured configuration) as results/<name>.json and print them as JSON lines.

    Rows without a "measured" field are the newly measured ones: they get it, and a "machine" fingerprint
    (unless the script put its own there, taken at the row's start). Stored rows keep theirs.
    With NLP_APPS_BENCH_DRY=1 (smoke runs) the rows are printed and nothing is stored. The tables in
    docs/benchmarks.md are left alone: `python -m benchmarks.tables` refreshes them."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = utc_stamp()
    for row in rows:
        if "measured" not in row:
            row.setdefault("machine", machine_fingerprint())
        row.setdefault("measured", stamp)
        print(json.dumps({"benchmark": name, **row}), flush=True)
    if os.environ.get("NLP_APPS_BENCH_DRY", "") not in ("", "0"):
        return
    path = RESULTS_DIR / f"{name}.json"
    path.with_suffix(".json.tmp").write_text(json.dumps(rows, indent=2) + "\n")
    path.with_suffix(".json.tmp").replace(path)


def row_and_budget(row: dict) -> tuple:
    """What identifies a row by default: its "row" name and its budget, so a short ablation sits beside the headline."""
    return row["row"], row.get("budget_minutes")


def store_row(name: str, row: dict | list[dict], order: list[str] | Callable[[dict], Any] | None = None, notes: str | None = None, *,
              key: Callable[[dict], Any] = row_and_budget, last: bool = False) -> None:
    """Merge `row` (or the rows of one run, a list) into the stored rows of `name`, then `report` them all.

    A stored row whose `key(row)` equals a new row's is replaced: the new rows with that key take the place of the
    first such stored row (with `last`, they go to the end instead), and rows with a new key are appended.
    `order`: a list of "row" names, sorting by that name's position, then longest budget first; or a sort key
    (a stable sort, so rows it ranks equal keep their stored order); None keeps the merged order.
    `notes`: set on the last row after removing every row's notes; None leaves the rows' own notes as they are."""
    new = [row] if isinstance(row, dict) else list(row)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    # Rows measured side by side (two processes at once) may be stored at the same moment: one at a time.
    with open(RESULTS_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _merge_and_report(name, new, order, notes, key, last)


def _merge_and_report(name: str, new: list[dict], order, notes, key, last) -> None:
    path = RESULTS_DIR / f"{name}.json"
    stored = json.loads(path.read_text()) if path.exists() else []
    keys = [key(r) for r in new]
    merged, placed = [], []
    for old in stored:
        k = key(old)
        if k not in keys:
            merged.append(old)
        elif not last and k not in placed:  # the first stored row of a replaced key: the new rows go there
            merged.extend(r for r, rk in zip(new, keys) if rk == k)
            placed.append(k)
    merged.extend(r for r, rk in zip(new, keys) if rk not in placed)
    if isinstance(order, list):
        merged.sort(key=lambda r: (order.index(r["row"]), -(r.get("budget_minutes") or 0)))
    elif order is not None:
        merged.sort(key=order)
    if notes is not None and merged:
        for r in merged:
            r.pop("notes", None)
        merged[-1]["notes"] = notes
    report(name, merged)


def load_average() -> float:
    """The 1-minute load average (about 1 per busy core), recorded at the start and end of timed rows."""
    return round(os.getloadavg()[0], 2)


def refresh_tables(write: bool = True) -> bool:
    """Regenerate the tables between the markers of docs/benchmarks.md from results/*.json (`python -m benchmarks.tables`).

    Returns whether the page changed (with `write=False`, whether it would)."""
    sections = []
    for path in sorted(RESULTS_DIR.glob("*.json")):
        rows = json.loads(path.read_text())
        if not rows:
            continue
        columns = [c for c in rows[0] if c != "notes"]
        for row in rows[1:]:
            columns.extend(c for c in row if c not in columns and c != "notes")
        lines = [f"**{path.stem}** (`python -m benchmarks.{path.stem}`)", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in rows:
            lines.append("| " + " | ".join(_cell(row.get(c, ""), c) for c in columns) + " |")
        notes = [row["notes"] for row in rows if row.get("notes")]
        lines.extend(["", *notes] if notes else [])
        sections.append("\n".join(lines))
    before = text = TABLES.read_text(encoding="utf-8")
    if START not in text or END not in text:
        sys.exit(f"error: {TABLES} lacks the {START} ... {END} markers the tables go between")
    body = "\n\n".join(sections) or "(no results yet)"
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{START}\n{body}\n{END}", text, flags=re.DOTALL)
    if write and text != before:
        TABLES.write_text(text, encoding="utf-8")
    return text != before


def _cell(value, column: str = "") -> str:
    if column == "machine" and isinstance(value, dict):
        return machine_cell(value)
    if column == "members" and isinstance(value, list):  # an ensemble's members: each one's dev accuracy alone
        return " / ".join(_cell(m.get("dev_accuracy")) if isinstance(m, dict) else str(m) for m in value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
