"""Defaults of the summarization recipe, shared by the CLI and the Python API (torch-free).

Encoder and decoder start from the backbone and train at one rate: no discriminative rates and no
gradual unfreezing (the task has no options for them), and the LM stage only with --lm-finetune.
"""

TRAINER_DEFAULTS = dict(epochs=20, lr=2e-3, schedule="cosine", warmup=0.02, patience=6, clip=1.0)
RECIPE_DEFAULTS = dict(lm_finetune=False, discriminative_lr=False, gradual_unfreezing=False, backbone_dropout=0.2, batch_size=32)

# Decoding (`evaluate`, `predict`, the Python API). A GNMT length penalty of 2: with none (alpha 0, the default until
# 2026-12-06) the beam preferred to stop early, 1.5 words per AESLC subject line against the references' 4-5; on
# AESLC dev[500:] (e-mails early stopping never reads) alpha 2 gained 1.7 ROUGE-L against the annotations and 1.4
# ROUGE-1 against the subject lines; alpha 3 was level, a forced minimum length of 8 lost (docs/benchmarks.md, AESLC).
DECODE_DEFAULTS = dict(beam_size=4, alpha=2.0, min_length=1, max_length=30, block_ngram_repeat=3)
