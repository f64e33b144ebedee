"""The attention heat map of one translated sentence (matplotlib, PNG)."""

from __future__ import annotations

import os
from pathlib import Path


def plot_attention(pipeline, text: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    source, target, weights = pipeline.attention(text)
    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(source), 1 + 0.4 * len(target)))
    ax.imshow(weights.numpy(), cmap="Greys", aspect="auto", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(source)), [p.replace("\u2581", "_") for p in source], rotation=90)
    ax.set_yticks(range(len(target)), [p.replace("\u2581", "_") for p in target])
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    fig.tight_layout()
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
