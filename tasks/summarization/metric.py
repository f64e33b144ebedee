"""ROUGE-1/2/L/Lsum F1 with stemming, computed by rouge-score, with several references and bootstrap
confidence intervals; and the lead baseline scored the same way.

Several references: each output is scored against every reference and the best F1 per ROUGE type
is kept (rouge-score's `score_multi`, "best-of"), then averaged over the corpus.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def rouge_scores(predictions: Sequence[str], references: Sequence[Sequence[str]], *, confidence: bool = True,
                 seed: int = 0) -> dict:
    """F1 x 100 per ROUGE type (the corpus mean), with 95% bootstrap intervals when `confidence`."""
    import numpy as np
    from rouge_score import rouge_scorer, scoring

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference sets")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    np.random.seed(seed)  # the bootstrap aggregator samples with numpy's global generator
    aggregator = scoring.BootstrapAggregator()
    means = {t: 0.0 for t in ROUGE_TYPES}
    for prediction, refs in zip(predictions, references):
        refs = list(refs) or [""]
        scores = scorer.score_multi(refs, prediction) if len(refs) > 1 else scorer.score(refs[0], prediction)
        aggregator.add_scores(scores)
        for t in ROUGE_TYPES:
            means[t] += scores[t].fmeasure
    result = {t: 100 * means[t] / max(1, len(predictions)) for t in ROUGE_TYPES}
    if confidence and predictions:
        aggregate = aggregator.aggregate()
        result["intervals"] = {t: [100 * aggregate[t].low.fmeasure, 100 * aggregate[t].high.fmeasure] for t in ROUGE_TYPES}
    result["rouge"] = (result["rouge1"] + result["rouge2"] + result["rougeL"]) / 3  # early stopping: their mean
    return result


def lead(text: str, words: int = 15) -> str:
    """The lead baseline: the first sentence of the text, at most `words` words."""
    first = _SENTENCE_END.split(" ".join(text.split()), maxsplit=1)[0]
    return " ".join(first.split()[:words])


def task_metric(predictions: Sequence, references: Sequence) -> dict:
    """The plug-in contract's metric(predictions, references); a reference is a string or a set of them,
    and so is a prediction given as perfect (its first reference is the output)."""
    references = [[r] if isinstance(r, str) else list(r) for r in references]
    predictions = [p if isinstance(p, str) else (list(p) or [""])[0] for p in predictions]
    return rouge_scores(predictions, references, confidence=False)
