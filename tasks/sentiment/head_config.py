"""The classifier head's options (kept free of torch so that loading the plug-in stays cheap)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nlp_apps.configs import DictConfig

NGRAM_COMBINE = ("joint", "stacked")


@dataclass
class HeadConfig(DictConfig):
    labels: list[str] = field(default_factory=list)  # index -> label name, stored in the model
    hidden_size: int = 50  # the MLP's hidden layer
    dropout: float = 0.2  # on the pooled features and the hidden layer
    chunk_size: int = 128  # tokens read at a time; the recurrent state carries over between chunks
    grad_chunks: int = 4  # only the last chunks of a long text get gradients (bounded memory)
    # The n-gram path (tasks/sentiment/head.py): hashed word uni- and bigrams, NB-weighted, a linear layer whose
    # logits add to the MLP's. Off: the head is exactly the RNN head (no n-gram weights in the model).
    ngram_features: bool = False
    ngram_buckets: int = 2**18  # hash buckets (zlib.crc32 of the lowercased n-gram, mod this)
    ngram_lr_scale: float = 10.0  # joint: the n-gram weights learn this many times faster than the head (a factor on their logits)
    # How the two paths combine. joint: trained together, logits added. stacked: the RNN head trains alone; then the n-gram
    # path is fitted on the training set as NBSVM (logistic regression, its L2 strength chosen on the validation set) and the
    # two paths' logits are mixed by weights fitted on the validation set (tasks/sentiment/stacking.py).
    ngram_combine: str = "joint"

    def __post_init__(self) -> None:
        if self.chunk_size < 1 or self.grad_chunks < 1:
            raise ValueError("chunk_size and grad_chunks must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.ngram_buckets < 1:
            raise ValueError(f"ngram_buckets must be at least 1, got {self.ngram_buckets}")
        if self.ngram_combine not in NGRAM_COMBINE:
            raise ValueError(f"ngram_combine must be one of {', '.join(NGRAM_COMBINE)}, got {self.ngram_combine!r}")
        if not self.ngram_lr_scale > 0.0:
            raise ValueError(f"ngram_lr_scale must be positive, got {self.ngram_lr_scale}")
