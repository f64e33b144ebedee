"""BLEU and chrF of detokenised output, computed by sacreBLEU (default 13a tokenisation), with signatures."""

from __future__ import annotations

from collections.abc import Sequence


def translation_metrics(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict:
    """hypotheses: one detokenised string per segment; references: one or more reference streams,
    each a list parallel to the hypotheses (sacreBLEU's argument order)."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf = BLEU(), CHRF()
    hypotheses, references = list(hypotheses), [list(r) for r in references]
    for stream in references:
        if len(stream) != len(hypotheses):
            raise ValueError(f"{len(hypotheses)} hypotheses but a reference stream of {len(stream)} lines")
    bleu_score = bleu.corpus_score(hypotheses, references)
    chrf_score = chrf.corpus_score(hypotheses, references)
    return {
        "bleu": bleu_score.score,
        "chrf": chrf_score.score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "bleu_detail": str(bleu_score),
    }


def task_metric(predictions: Sequence[str], references: Sequence[str]) -> dict:
    """The plug-in contract's metric(predictions, references): one reference per segment."""
    return translation_metrics(predictions, [references])
