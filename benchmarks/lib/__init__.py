"""Helpers shared by the benchmark scripts; the entry points are benchmarks/*.py (`python -m benchmarks.NAME`).

keras_seed is also run on its own, by side_by_side in a separate process: `python -m benchmarks.lib.keras_seed`.
"""
