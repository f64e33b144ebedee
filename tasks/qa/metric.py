"""SQuAD exact match and F1, as the official evaluation scripts define them.

v1.1 (evaluate-v1.1.py): both strings are normalised (lowercase, punctuation of string.punctuation
removed, the articles a/an/the removed as whole words, whitespace collapsed); EM is 1 when the
normalised strings are equal, F1 the harmonic mean of token precision and recall over the bag of
normalised tokens (0 when no token is shared); each question scores its best gold answer; the
averages are x100.

v2.0 (evaluate-v2.0.py) differs in three ways: gold answers that normalise to nothing are dropped
and a question left with none (an unanswerable one) has the single gold "", the F1 of two empty
token lists is 1 (no answer predicted for no answer), and the scores are also given for the
questions with an answer (HasAns) and without (NoAns). `best_null_threshold` is the script's
find_best_thresh for F1.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (the scripts' normalize_answer)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


# ---- v1.1 ------------------------------------------------------------------------------------


def exact_match(prediction: str, gold: str) -> float:
    """The same in both versions."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_v1(prediction: str, gold: str) -> float:
    prediction_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    return _overlap_f1(prediction_tokens, gold_tokens)


# ---- v2.0 ------------------------------------------------------------------------------------


def _tokens_v2(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def f1_v2(prediction: str, gold: str) -> float:
    gold_tokens, prediction_tokens = _tokens_v2(gold), _tokens_v2(prediction)
    if not gold_tokens or not prediction_tokens:
        return float(gold_tokens == prediction_tokens)  # no answer: 1 if both agree
    return _overlap_f1(prediction_tokens, gold_tokens)


def _overlap_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


# ---- a data set ------------------------------------------------------------------------------


def answer_text(prediction) -> str:
    """A prediction as its answer string: a string, a pipeline result {"answer": ...}, or a list of
    answers (its first; [] is no answer), so that references score as perfect predictions."""
    if isinstance(prediction, dict):
        return prediction["answer"]
    if isinstance(prediction, (list, tuple)):
        return prediction[0] if prediction else ""
    return prediction


def question_scores(prediction: str, golds: Sequence[str], version: str) -> tuple[float, float]:
    """(EM, F1) of one question: its best gold answer, under the `version` script's rules; a missing
    prediction (None) scores 0 and still counts, as in the scripts."""
    if prediction is None:
        return 0.0, 0.0
    if version == "1.1":
        if not golds:
            raise ValueError("a SQuAD v1.1 question needs at least one gold answer (use version 2.0 for unanswerable ones)")
        return max(exact_match(prediction, g) for g in golds), max(f1_v1(prediction, g) for g in golds)
    golds = [g for g in golds if normalize_answer(g)] or [""]
    return max(exact_match(prediction, g) for g in golds), max(f1_v2(prediction, g) for g in golds)


def squad_metrics(predictions: Sequence, references: Sequence[Sequence[str]], version: str | None = None) -> dict:
    """exact_match, f1 (x100) and total; for v2.0 also has_ans_* and no_ans_* (where there are such questions).

    predictions[i] answers question i ("" = no answer; see `answer_text`); references[i] are its gold
    answer texts (empty: it has none). `version` None: "2.0" when a question has no gold answer.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} questions")
    if version is None:
        version = "2.0" if any(not golds for golds in references) else "1.1"
    if version not in ("1.1", "2.0"):
        raise ValueError(f"unknown SQuAD version {version!r}; choose 1.1 or 2.0")
    scores = [question_scores(answer_text(p), list(golds), version) for p, golds in zip(predictions, references)]
    result = {"version": version, **_averages(scores, "")}
    if version == "2.0":
        for prefix, keep in (("has_ans_", True), ("no_ans_", False)):
            subset = [s for s, golds in zip(scores, references) if bool(golds) == keep]
            if subset:
                result.update(_averages(subset, prefix))
    return result


def _averages(scores: list[tuple[float, float]], prefix: str) -> dict:
    total = len(scores)
    return {f"{prefix}exact_match": 100.0 * sum(em for em, _ in scores) / max(total, 1),
            f"{prefix}f1": 100.0 * sum(f1 for _, f1 in scores) / max(total, 1),
            f"{prefix}total": total}


def best_null_threshold(span_answers: Sequence[str], null_margins: Sequence[float], references: Sequence[Sequence[str]]) -> float:
    """The threshold on `null score - best span score` above which answering "" gives the best v2.0 F1.

    span_answers[i] is the best non-empty span of question i and null_margins[i] how much its null
    score beats that span's. As the script's find_best_thresh: start from no answer everywhere and
    answer questions in order of rising margin, keeping the best total.
    """
    empty = [question_scores("", list(g), "2.0")[1] for g in references]  # F1 of answering ""
    # What answering the span instead of "" changes; 0 when the question has no span at all.
    gain = [question_scores(a, list(g), "2.0")[1] - f1 for a, g, f1 in zip(span_answers, references, empty)]
    order = sorted(range(len(null_margins)), key=lambda i: null_margins[i])
    current = best = float(sum(empty))
    threshold = (min(null_margins) - 1.0) if null_margins else 0.0
    for rank, i in enumerate(order):
        current += gain[i]
        tied = rank + 1 < len(order) and null_margins[order[rank + 1]] == null_margins[i]
        if current > best and not tied:  # a threshold answers every question of equal margin alike
            best, threshold = current, float(null_margins[i])
    return threshold
