"""The model `nlp-apps pretrain` picks when the user picks none (no --layers, --emb-size, --hidden-size
or --init-from): sized to the corpus and the time budget, so that a run learns in whatever budget it has.

Why: a model too big for its budget ends before it has learned anything. The old fixed default (LSTM
2x768, emb 256, batch 32x70, lr 0.003) took 20-47 steps of a 40-second run on 5,000 lines of PTB (one
CPU thread) and ended at word perplexity 15,702-21,380, far worse than a unigram model (730). The small
tier ends the same run at 692-706 (three seeds, one idle thread; 817-1,004 when another training job
shares the cores and the run gets about half the steps).

The rule: the corpus size names a tier, the time budget names a tier, and the run gets the smaller one.

    tier     model                  batch x BPTT   optimizer, peak lr   dropout   training tokens   time budget
    small    LSTM 1x192, emb 192    16 x 35        AdamW 0.01           0.1       (by budget only)  under 10 minutes
    compact  LSTM 2x200, emb 200    20 x 35        SGD 20               0.2       under 1M          under 1 hour
    medium   LSTM 2x512, emb 256    32 x 70        AdamW 0.003          0.1       under 20M         under 6 hours
    default  LSTM 2x768, emb 256    32 x 70        AdamW 0.003          0.1       20M or more       6 hours or more, or none

Training tokens are one epoch of the (mixed) training stream after tokenisation. The sizes assume a
CPU thread or two (one thread trains about 15,000 tokens/s of the small model and about 1,100 of the
default one); on a GPU, choose the size yourself.

The small tier is measured: runs of the real command on the first 5,000 lines of PTB (0.19M tokens with
the 4,337-piece vocabulary that corpus supports), one thread, word perplexity on the first 500
validation lines; recipes compared at equal steps (--max-steps), apart from the machine's load, then
confirmed in 40-second runs. Its parts: one tied layer (so the LSTM is as wide as the embedding); 192
wide (at equal time 1x192 beat 1x128 and 1x256); batch 16x35, four times the optimizer steps of 32x70
for the same tokens at about the same tokens/s (32x35 and 8x35 did worse); peak lr 0.01 (0.005, 0.007,
0.014 and 0.02 did worse); and, for every new model, the decoder bias started at the unigram
log-frequencies (`pretraining.init_unigram_bias`, about 8% lower perplexity at 40 s). Warm-up, no
dropout, fixed BPTT lengths, weight decay and clipping at 1 or not at all made no clear difference, a
linear schedule at most 3% (at 600 steps); dropout 0.2-0.25 and Adam beta2 0.99 did worse. The
vocabulary stays the largest the corpus supports: 2,000 or 1,000 pieces were faster per token but
worse per word (more tokens to predict per word).

The compact tier is pytorch/examples' word-language-model recipe (2x200 tied, SGD lr 20, batch 20x35,
dropout 0.2) on our code, for runs of ten minutes to an hour on a small corpus: the budget limits lean
on docs/benchmarks.md#ptb, where in 45 minutes on PTB (0.93M word tokens) an LSTM 2x512 did 3 epochs and
reached test perplexity 128.5 and that recipe in plain PyTorch 10 epochs and 104.0, and on the side-by-side
runs (docs/benchmarks.md#side-by-side), where at 10 minutes the same recipe through nlp-apps (row e:
137.8) was ahead of plain PyTorch (143.5) and AdamW 3e-3 at 32x70 far behind (row a: 216.5). The
small tier's recipe was measured at 40 seconds, the compact tier's at 10 minutes and more; the boundary
between them, 10 minutes, is not measured more finely. Below ten minutes the small tier is chosen
whatever the corpus size. The medium and default tiers are not measured against each other: medium is
the size of the shipped default backbone, default the old fixed default.

Only the settings the user left unset come from the tier: --lr, --batch-size and --bptt given on the
command line win. The optimizer is picked unless --optimizer, --lr or --weight-decay is given (a rate or a
weight decay given for the documented default, AdamW, would wreck SGD); the peak rate unless --lr is
given, and only where the run's optimizer is the tier's (an SGD rate means nothing to AdamW: `--optimizer
adamw` on a compact-tier run keeps AdamW's default rate, `--optimizer sgd` gets the compact tier's 20); the
dropouts unless a dropout option is given; and with a time budget, the epochs unless --epochs is given: the run
has no epoch cap, so the budget ends it and the learning-rate schedule spans the whole budget (on PTB, with the
dataclass cap of 10 epochs, a 45-minute compact-tier run stopped after 18 minutes at test perplexity 93.8, behind
the plain PyTorch example's 89.9 in 45 minutes; without the cap it trained 23 epochs and reached 87.1, ahead;
docs/benchmarks.md#ptb). Early stopping (--patience) still ends a run whose validation stops improving. Any size
option (or --init-from) turns the rule off; the run then gets the dataclass defaults (BackboneConfig,
PretrainConfig, TrainerConfig), the default tier. The Python API (`PretrainConfig`) picks only when asked
(`auto_size`). The pick is recorded in run_config.json (the settings themselves, `auto_size` and the logged
line, `size_note`), so --resume rebuilds the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

# What the rule may set: "model" = layers, emb and hidden size; "lr" = the peak rate, set only where the run's optimizer
# is the tier's (an SGD rate means nothing to AdamW); "dropout" = the locked dropouts (input, hidden, output).
# "epochs" = no epoch cap, so that the time budget ends the run (picked only where a budget is given).
AUTO_SETTINGS = ("model", "batch_size", "bptt", "optimizer", "lr", "dropout", "epochs")
BUDGET_EPOCHS = 1_000_000  # an epoch cap no time budget reaches: the budget ends the run and the schedule spans it


@dataclass(frozen=True)
class SizeTier:
    name: str
    num_layers: int
    emb_size: int
    hidden_size: int
    batch_size: int
    bptt: int
    lr: float
    below_tokens: float  # a corpus with fewer training tokens gets this tier (or a smaller one)
    below_budget: float  # a time budget (seconds) under this gets this tier (or a smaller one)
    optimizer: str = "adamw"
    dropout: float = 0.1  # the locked dropouts on the embeddings, between layers and on the top layer

    def describe(self, cell: str = "lstm") -> str:
        return f"{cell.upper()} {self.num_layers}x{self.hidden_size}, emb {self.emb_size}"


INF = float("inf")
TIERS = (
    SizeTier("small", num_layers=1, emb_size=192, hidden_size=192, batch_size=16, bptt=35, lr=1e-2,
             below_tokens=0, below_budget=600),
    SizeTier("compact", num_layers=2, emb_size=200, hidden_size=200, batch_size=20, bptt=35, lr=20.0,
             below_tokens=1e6, below_budget=3600, optimizer="sgd", dropout=0.2),
    SizeTier("medium", num_layers=2, emb_size=256, hidden_size=512, batch_size=32, bptt=70, lr=3e-3,
             below_tokens=20e6, below_budget=6 * 3600),
    SizeTier("default", num_layers=2, emb_size=256, hidden_size=768, batch_size=32, bptt=70, lr=3e-3,
             below_tokens=INF, below_budget=INF),
)


def choose_tier(train_tokens: int, time_budget: float | None) -> SizeTier:
    """The smaller of the tier the corpus size names and the tier the time budget names (no budget: no limit)."""
    by_tokens = next(i for i, t in enumerate(TIERS) if train_tokens < t.below_tokens)
    by_budget = len(TIERS) - 1 if time_budget is None else next(i for i, t in enumerate(TIERS) if time_budget < t.below_budget)
    return TIERS[min(by_tokens, by_budget)]


def format_tokens(tokens: int) -> str:
    if tokens >= 1e9:
        return f"{tokens / 1e9:.3g}B"
    if tokens >= 1e5:
        return f"{tokens / 1e6:.2g}M"
    return f"{tokens:,}"


def format_budget(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g}s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g}h"


def describe_pick(tier: SizeTier, settings, train_tokens: int, time_budget: float | None, cell: str = "lstm") -> str:
    """The one line a run logs about its pick, e.g. `model: LSTM 1x192, emb 192; batch 16x35, AdamW lr 0.01, dropout 0.1 (auto,
    small tier: 0.19M training tokens, 40s budget); set --layers/--emb-size/--hidden-size to choose`."""
    picked = []
    if "batch_size" in settings and "bptt" in settings:
        picked.append(f"batch {tier.batch_size}x{tier.bptt}")
    elif "batch_size" in settings:
        picked.append(f"batch size {tier.batch_size}")
    elif "bptt" in settings:
        picked.append(f"bptt {tier.bptt}")
    optimizer = "SGD" if tier.optimizer == "sgd" else "AdamW"
    if "optimizer" in settings and "lr" in settings:
        picked.append(f"{optimizer} lr {tier.lr:g}")
    elif "optimizer" in settings:
        picked.append(optimizer)
    elif "lr" in settings:
        picked.append(f"lr {tier.lr:g}")
    if "dropout" in settings:
        picked.append(f"dropout {tier.dropout:g}")
    if "epochs" in settings:
        picked.append("epochs until the budget")
    if "model" in settings:
        head = f"model: {tier.describe(cell)}" + (f"; {', '.join(picked)}" if picked else "")
    else:
        head = f"picked: {', '.join(picked)}"
    budget = f"{format_budget(time_budget)} budget" if time_budget else "no time budget"
    return (f"{head} (auto, {tier.name} tier: {format_tokens(train_tokens)} training tokens, {budget}); "
            f"set --layers/--emb-size/--hidden-size to choose")
