"""Defaults of the summarization recipe, shared by the CLI and the Python API (torch-free).

Encoder and decoder start from the backbone and train at one rate: no discriminative rates and no
gradual unfreezing (the task has no options for them), and the LM stage only with --lm-finetune.
"""

TRAINER_DEFAULTS = dict(epochs=20, lr=2e-3, schedule="cosine", warmup=0.02, patience=6, clip=1.0)
RECIPE_DEFAULTS = dict(lm_finetune=False, discriminative_lr=False, gradual_unfreezing=False, backbone_dropout=0.2, batch_size=32)
