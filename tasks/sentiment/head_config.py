"""The classifier head's options (kept free of torch so that loading the plug-in stays cheap)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nlp_apps.configs import DictConfig


@dataclass
class HeadConfig(DictConfig):
    labels: list[str] = field(default_factory=list)  # index -> label name, stored in the model
    hidden_size: int = 50  # the MLP's hidden layer
    dropout: float = 0.2  # on the pooled features and the hidden layer
    chunk_size: int = 128  # tokens read at a time; the recurrent state carries over between chunks
    grad_chunks: int = 4  # only the last chunks of a long text get gradients (bounded memory)

    def __post_init__(self) -> None:
        if self.chunk_size < 1 or self.grad_chunks < 1:
            raise ValueError("chunk_size and grad_chunks must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
