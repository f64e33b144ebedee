"""NBSVM (Wang & Manning 2012, "Baselines and bigrams"), the strong linear baseline for sentiment, shown
beside TF-IDF + logistic regression on the same split in the same run.

Binarized word 1-2 grams, each feature scaled by its naive-Bayes log-count ratio
r = log((p / |p|_1) / (q / |q|_1)), p = alpha + the feature counts of the positive class, q = alpha + those
of the rest (alpha = 1), then a logistic regression on the scaled features. With more than two labels:
one-vs-rest, each class with its own r, the label with the highest score wins. C is chosen on a held-out
slice (never on the set that is reported); the vectorizer and the ratios do not depend on C, so they are
computed once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

# Words (with inner apostrophes, so PTB's "n't" and "isn't" stay one token), single letters included,
# and ! and ?; other punctuation is dropped, as in scikit-learn's default pattern.
TOKEN_PATTERN = r"(?u)\b\w+(?:'\w+)*|[!?]"
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def log_count_ratio(features, positive: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """r for binary `features` (documents x features, sparse) and a boolean mask of the positive documents."""
    p = alpha + np.asarray(features[positive].sum(axis=0)).ravel()
    q = alpha + np.asarray(features[~positive].sum(axis=0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


class NBSVM:
    """`fit(texts, labels, heldout_texts, heldout_labels)` then `predict(texts)`.

    `cs`: the values of C tried; with more than one, `fit` needs the held-out slice and keeps the C with the
    best held-out accuracy (the first of equals: the smallest C of the default grid). After `fit`: `C_`, `classes_`,
    `ratios_` (one r per binary problem), `heldout_accuracy_` ({C: accuracy})."""

    def __init__(self, cs: Sequence[float] = C_GRID, alpha: float = 1.0, ngram_range: tuple[int, int] = (1, 2),
                 token_pattern: str = TOKEN_PATTERN):
        self.cs, self.alpha, self.ngram_range, self.token_pattern = tuple(cs), alpha, ngram_range, token_pattern

    def fit(self, texts: Sequence[str], labels: Sequence, heldout_texts: Sequence[str] | None = None,
            heldout_labels: Sequence | None = None) -> NBSVM:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.metrics import accuracy_score

        if len(self.cs) > 1 and heldout_texts is None:
            raise ValueError("choosing C among several values needs a held-out slice (heldout_texts, heldout_labels)")
        self.vectorizer_ = CountVectorizer(ngram_range=self.ngram_range, binary=True, lowercase=True, token_pattern=self.token_pattern,
                                           dtype=np.float64)
        features = self.vectorizer_.fit_transform(list(texts))
        labels = np.asarray(list(labels))
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError(f"NBSVM needs at least two labels, got {list(self.classes_)}")
        # Two labels: one problem (the second label against the first); more: one against the rest per label.
        positives = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        self.ratios_ = [log_count_ratio(features, labels == c, self.alpha) for c in positives]
        heldout = None if heldout_texts is None else self.vectorizer_.transform(list(heldout_texts))
        self.heldout_accuracy_, best = {}, None
        for c in self.cs:
            models = [self._classifier(c).fit(features.multiply(r).tocsr(), labels == positive) for r, positive in zip(self.ratios_, positives)]
            if heldout is None:
                best = (c, models)
                break
            accuracy = float(accuracy_score(list(heldout_labels), self._predict(heldout, models)))
            self.heldout_accuracy_[c] = accuracy
            if best is None or accuracy > self.heldout_accuracy_[best[0]]:
                best = (c, models)
        self.C_, self.models_ = best
        return self

    @staticmethod
    def _classifier(c: float):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=c, solver="liblinear", max_iter=1000)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Scores, documents x binary problems (one column with two labels)."""
        return self._scores(self.vectorizer_.transform(list(texts)), self.models_)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self._predict(self.vectorizer_.transform(list(texts)), self.models_)

    def _scores(self, features, models) -> np.ndarray:
        return np.column_stack([m.decision_function(features.multiply(r).tocsr()) for m, r in zip(models, self.ratios_)])

    def _predict(self, features, models) -> np.ndarray:
        scores = self._scores(features, models)
        if len(self.classes_) == 2:
            return self.classes_[(scores[:, 0] > 0).astype(int)]
        return self.classes_[scores.argmax(axis=1)]


def nbsvm_baseline(train_texts: Sequence[str], train_labels: Sequence[str], test_texts: Sequence[str], test_labels: Sequence[str],
                   heldout_texts: Sequence[str], heldout_labels: Sequence[str], cs: Sequence[float] = C_GRID) -> dict:
    """Train on train (C chosen on the held-out slice), score on test: the row's figures, as `tfidf_logistic_regression` gives them."""
    from sklearn.metrics import accuracy_score

    started = time.perf_counter()
    model = NBSVM(cs=cs).fit(train_texts, train_labels, heldout_texts, heldout_labels)
    seconds = time.perf_counter() - started  # vectorizing, the ratios and one fit per C
    accuracy = accuracy_score(list(test_labels), model.predict(test_texts))
    return {"accuracy": float(accuracy), "heldout_accuracy": model.heldout_accuracy_[model.C_], "C": model.C_,
            "train_seconds": round(seconds, 1)}
