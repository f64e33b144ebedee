"""Defaults of the QA recipe, shared by the CLI, the Python API and the benchmark (torch-free).

The head is large and starts from random weights, so the LM stage is off by default (it costs time
the head needs); discriminative rates and gradual unfreezing protect the pretrained backbone.
"""

TRAINER_DEFAULTS = dict(epochs=10, lr=2e-3, schedule="slanted_triangular", patience=3, clip=1.0)
RECIPE_DEFAULTS = dict(lm_finetune=False, discriminative_lr=True, gradual_unfreezing=True, unfreeze_span=0.1,
                       backbone_dropout=0.2, batch_size=32)
