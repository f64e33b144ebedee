"""Defaults of the translation recipe, shared by the CLI and the Python API (torch-free).

Translation trains its encoder-decoder on the pairs themselves: no LM stage, one learning rate,
every layer trains from the start (the recipe's fine-tuning steps are options, off by default).
"""

TRAINER_DEFAULTS = dict(epochs=30, lr=2e-3, schedule="cosine", warmup=0.02, patience=6, clip=1.0)
RECIPE_DEFAULTS = dict(lm_finetune=False, discriminative_lr=False, gradual_unfreezing=False, backbone_dropout=0.2, batch_size=64)
