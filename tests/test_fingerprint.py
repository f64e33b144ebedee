"""benchmarks/lib/results.py: every newly stored benchmark row carries the machine it was measured on; store_row merges rows by key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.lib import fingerprint, results


@pytest.fixture
def small_gemms(monkeypatch):
    monkeypatch.setattr(fingerprint, "GEMM_SIZES", (64, 128))
    monkeypatch.setattr(fingerprint, "GEMM_SECONDS", 0.05)


def test_machine_fingerprint_keys_and_types(small_gemms):
    machine = fingerprint.machine_fingerprint(refresh=True)
    assert set(machine) == {"cpu", "amx_bf16", "avx512_bf16", "cores", "threads", "fp32_gflops", "bf16_gflops",
                            "torch", "git_commit", "command", "measured_at"}
    assert isinstance(machine["cpu"], str) and machine["cpu"]
    assert isinstance(machine["amx_bf16"], bool) and isinstance(machine["avx512_bf16"], bool)
    assert machine["cores"] >= 1 and machine["threads"] >= 1
    assert machine["fp32_gflops"] > 0 and machine["bf16_gflops"] > 0
    assert machine["git_commit"] is None or isinstance(machine["git_commit"], str)
    assert machine["command"] == " ".join(sys.orig_argv) and machine["measured_at"].endswith("UTC")  # this process's command line
    # cached per process: a second call measures nothing and returns an equal, independent copy
    again = fingerprint.machine_fingerprint()
    assert again == machine and again is not machine


def test_machine_cell_is_short():
    machine = {"cpu": "AMD EPYC", "amx_bf16": False, "avx512_bf16": True, "threads": 2,
               "fp32_gflops": 95.4, "bf16_gflops": 204.2, "git_commit": "abc1234"}
    assert fingerprint.machine_cell(machine) == "AMD EPYC, avx512_bf16, 2 thr, fp32 95 / bf16 204 GFLOP/s, abc1234"


def test_report_fingerprints_new_rows_only(tmp_path: Path, monkeypatch, small_gemms):
    tables = tmp_path / "benchmarks.md"
    tables.write_text(f"# Benchmarks\n\n{results.START}\n{results.END}\n", encoding="utf-8")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(results, "TABLES", tables)
    monkeypatch.delenv("NLP_APPS_BENCH_DRY", raising=False)
    fingerprint.machine_fingerprint(refresh=True)

    old = {"row": "old", "score": 0.5, "measured": "2024-01-01 00:00 UTC"}
    own = {"cpu": "Own CPU", "threads": 3, "fp32_gflops": 1.0, "bf16_gflops": 2.0, "git_commit": "0000000"}
    rows = [dict(old), {"row": "new", "score": 0.75}, {"row": "own", "score": 0.25, "machine": own}]
    results.report("demo", rows)

    stored = json.loads((tmp_path / "results" / "demo.json").read_text())
    assert stored[0] == old  # an older stored row is left as it was
    assert stored[1]["machine"]["cpu"] and stored[1]["machine"]["fp32_gflops"] > 0 and "measured" in stored[1]
    assert stored[2]["machine"] == own  # a script's own fingerprint is kept
    assert "| machine |" not in tables.read_text(encoding="utf-8")  # a run leaves the docs alone: `python -m benchmarks.tables`
    assert results.refresh_tables() is True and results.refresh_tables() is False
    text = tables.read_text(encoding="utf-8")
    assert "| machine |" in text and "Own CPU, 3 thr, fp32 1 / bf16 2 GFLOP/s, 0000000" in text
    assert "{" not in text  # no raw dict in the markdown


def test_store_row_replaces_rows_by_key(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(results, "report", lambda name, rows: (tmp_path / f"{name}.json").write_text(json.dumps(rows)))

    def load():
        return json.loads((tmp_path / "demo.json").read_text())

    (tmp_path / "demo.json").write_text(json.dumps([{"v": "a", "x": 1}, {"v": "b", "x": 1}, {"v": "b", "x": 2, "notes": "old"}]))
    results.store_row("demo", [{"v": "b", "x": 3}], notes="N", key=lambda r: r["v"])  # in place of the first "b"
    assert load() == [{"v": "a", "x": 1}, {"v": "b", "x": 3, "notes": "N"}]
    results.store_row("demo", [{"v": "a", "x": 4}, {"v": "c", "x": 5}], notes="N", key=lambda r: r["v"])
    assert load() == [{"v": "a", "x": 4}, {"v": "b", "x": 3}, {"v": "c", "x": 5, "notes": "N"}]
    results.store_row("demo", [{"v": "a", "x": 6}], key=lambda r: r["v"], last=True)  # notes=None: rows keep theirs
    assert load() == [{"v": "b", "x": 3}, {"v": "c", "x": 5, "notes": "N"}, {"v": "a", "x": 6}]
    results.store_row("demo", {"v": "d", "x": 0}, order=lambda r: r["x"], key=lambda r: r["v"])
    assert [r["v"] for r in load()] == ["d", "b", "c", "a"]
    # the default: one row per ("row", budget_minutes), sorted by `order`, longest budget first
    (tmp_path / "demo.json").unlink()
    for row in ({"row": "y", "budget_minutes": 5}, {"row": "x", "budget_minutes": 5}, {"row": "x", "budget_minutes": 20},
                {"row": "x", "budget_minutes": 5, "score": 1}):
        results.store_row("demo", row, ["x", "y"], "N")
    assert load() == [{"row": "x", "budget_minutes": 20}, {"row": "x", "budget_minutes": 5, "score": 1}, {"row": "y", "budget_minutes": 5, "notes": "N"}]


def test_results_import_does_not_import_torch():
    code = "import sys, benchmarks.lib.results; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], check=True)
