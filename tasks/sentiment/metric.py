"""Classification scores, all computed by scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence


def classification_metrics(references: Sequence[str], predictions: Sequence[str], labels: Sequence[str]) -> dict:
    """accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows = truth)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        references, predictions, labels=labels, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(references, predictions)),
        "macro_f1": float(f1_score(references, predictions, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "labels": labels,
        "confusion_matrix": confusion_matrix(references, predictions, labels=labels).tolist(),
    }


def task_metric(predictions: Sequence[str | dict], references: Sequence[str], labels: Sequence[str] | None = None) -> dict:
    """The plug-in contract's metric(predictions, references): a prediction is a label or what `predict` returns."""
    predictions = [p["label"] if isinstance(p, dict) else p for p in predictions]
    return classification_metrics(references, predictions, labels or sorted(set(references) | set(predictions)))
