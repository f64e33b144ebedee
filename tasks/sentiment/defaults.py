"""Trainer defaults of the classifier recipe, shared by the CLI, the Python API and the benchmark.

lr 5e-3 (AdamW, top group) measured ahead of 2e-3 and 1e-2 in 5-minute SST-2 probes.
"""

TRAINER_DEFAULTS = dict(epochs=6, lr=5e-3, schedule="slanted_triangular", patience=3, clip=0.25)
