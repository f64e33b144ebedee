"""The obvious baseline every sentiment benchmark shows beside the recipe: scikit-learn's TF-IDF of
word 1-2 grams and a logistic regression, trained and scored on the same split in the same run."""

from __future__ import annotations

import time
from collections.abc import Sequence


def tfidf_logistic_regression(train_texts: Sequence[str], train_labels: Sequence[str], test_texts: Sequence[str],
                              test_labels: Sequence[str]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.pipeline import make_pipeline

    started = time.perf_counter()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), LogisticRegression(C=4.0, max_iter=2000))
    model.fit(list(train_texts), list(train_labels))
    seconds = time.perf_counter() - started
    accuracy = accuracy_score(list(test_labels), model.predict(list(test_texts)))
    return {"accuracy": float(accuracy), "train_seconds": round(seconds, 1)}
