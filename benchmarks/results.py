"""Shared by the benchmark scripts: print one JSON line, store it, refresh the tables in docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

from benchmarks.fingerprint import machine_cell, machine_fingerprint

ROOT = Path(__file__).resolve().parents[1]
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
    With NLP_APPS_BENCH_DRY=1 (smoke runs) the rows are printed and nothing is stored."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = utc_stamp()
    for row in rows:
        if "measured" not in row:
            row.setdefault("machine", machine_fingerprint())
        row.setdefault("measured", stamp)
        print(json.dumps({"benchmark": name, **row}), flush=True)
    if os.environ.get("NLP_APPS_BENCH_DRY", "") not in ("", "0"):
        return
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(rows, indent=2) + "\n")
    refresh_tables()


def store_row(name: str, row: dict, order: list[str], notes: str) -> None:
    """Add `row` to the stored rows of `name`, one per (row, budget_minutes), so a short ablation sits beside
    the headline instead of replacing it; rows sorted by `order`, then longest budget first; `notes` on the last."""
    stored = RESULTS_DIR / f"{name}.json"
    table = {(r["row"], r.get("budget_minutes")): r for r in (json.loads(stored.read_text()) if stored.exists() else [])}
    table[(row["row"], row.get("budget_minutes"))] = row
    ordered = sorted(table.values(), key=lambda r: (order.index(r["row"]), -(r.get("budget_minutes") or 0)))
    for r in ordered:
        r.pop("notes", None)
    ordered[-1]["notes"] = notes
    report(name, ordered)


def load_average() -> float:
    """The 1-minute load average (about 1 per busy core), recorded at the start and end of timed rows."""
    return round(os.getloadavg()[0], 2)


def refresh_tables() -> None:
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
    text = TABLES.read_text(encoding="utf-8")
    if START not in text or END not in text:
        sys.exit(f"error: {TABLES} lacks the {START} ... {END} markers the tables go between")
    body = "\n\n".join(sections) or "(no results yet)"
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{START}\n{body}\n{END}", text, flags=re.DOTALL)
    TABLES.write_text(text, encoding="utf-8")


def _cell(value, column: str = "") -> str:
    if column == "machine" and isinstance(value, dict):
        return machine_cell(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
