"""Defaults of the classifier recipe, shared by the CLI, the Python API and the benchmarks (torch-free).

One learning rate for every layer, 2e-3 (AdamW, slanted triangular schedule), since 2026-12-02. With
ULMFiT's discriminative rates (5e-3 at the head, each layer down 2.6 times slower) the classifier
sat at chance for its first 500-900 steps on SST-2: the head alone learns little from this
backbone's frozen features, and the lower layers, which must move first, learned too slowly. The
same rate everywhere leaves chance within 200-300 steps; at 5 minutes it scored 81.7-82.9 against
78.0 for the old rates in the same session (see docs/benchmarks.md, "SST-2"). At 30 minutes it
costs about a point (84.1, mean of three seeds, against 85.4): for long runs `--lr 5e-3 --lr-decay
2.6` brings ULMFiT's discriminative rates back.

The LM stage is off by default: the default backbone already read movie reviews, blogs and
Wikipedia in its pretraining, and on SST-2 the stage cost more than it gave at 5 minutes (76.6 with
it, 83.1 without) and did not help at 30. `--lm-finetune` turns it on, e.g. for a domain the
backbone has not read.
"""

TRAINER_DEFAULTS = dict(epochs=6, lr=2e-3, schedule="slanted_triangular", patience=3, clip=0.25)
RECIPE_DEFAULTS = dict(lm_finetune=False, lr_decay=1.0)
# The head's n-gram path (`--ngram-features`, tasks/sentiment/head.py), off: on SST-2 at 5 minutes (the benchmark's
# disjoint held-out slice, one thread each, run side by side) it lost, dev 80.4 / 80.1 against the RNN head alone's
# 82.5 / 83.3 (seeds 0 / 1), though it won short probes (the 80-sentence demo at 60 s, 0.713 against 0.667, mean of 3
# seeds; SST-2 at 2 minutes on a leaky random slice, 78.1 against 70.1). docs/benchmarks.md, SST-2.
HEAD_DEFAULTS = dict(ngram_features=False, ngram_combine="joint")
