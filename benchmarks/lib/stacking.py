"""Benchmark rows of a stacked sentiment head (`--ngram-combine stacked`): the mix and each path alone, from one model."""

from __future__ import annotations

from collections.abc import Sequence


def predict_labels(pipeline, texts: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(the model's labels, {path: labels}): for a stacked head the mix's labels and each path's alone ("rnn", "ngrams"),
    in one pass over the texts; for any other head its labels and {}."""
    if not pipeline.stacked:
        return [p["label"] for p in pipeline.predict(list(texts))], {}
    by_path = {name: [pipeline.labels[i] for i in logits.argmax(-1).tolist()] for name, logits in pipeline.path_logits(texts).items()}
    return by_path.pop("stacked"), by_path


def stacking_figures(metrics: dict, by_path: dict[str, list[str]], gold: Sequence[str], scored_on: str) -> dict:
    """A row's extra figures for a stacked head (none for other heads): each path's accuracy on the scored set, what the
    stacking chose on the validation slice, and the seconds it took after the training budget (an ensemble's: the paths'
    accuracies alone)."""
    if not by_path:
        return {}
    figures = {f"{scored_on}_accuracy_{name}": sum(p == g for p, g in zip(predicted, gold)) / len(gold) for name, predicted in by_path.items()}
    if "stacking" not in metrics:  # an ensemble: each member stacked itself (its row lists the members)
        return figures
    stacking = metrics["stacking"]
    return {**figures, "stacking_chosen": stacking["chosen"], "stacking_C": stacking["C"], "stacking_mix": stacking["mix"],
            "stacking_seconds": stacking.get("seconds"), "heldout_accuracy_rnn": stacking["valid_accuracy_rnn"],
            "heldout_accuracy_ngrams": stacking["valid_accuracy_ngrams"], "heldout_accuracy": stacking["valid_accuracy"]}
