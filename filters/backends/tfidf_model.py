"""TF-IDF linear backend (scikit-learn): the one that works with a few hundred labels.

Features are character 2-5 grams within word boundaries plus word uni- and bigrams (sublinear TF-IDF);
the model is a class-balanced logistic regression for labels, a ridge regression for numeric targets.
"""

from __future__ import annotations

import io as bytes_io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curation.core import io
from curation.filters.card import ClassifierCard

MODEL_FILE = "model.joblib"
DEFAULT_PARAMS: dict[str, Any] = {
    "char_ngrams": [2, 5],
    "word_ngrams": [1, 2],
    "min_df": 2,
    "C": 1.0,
    "alpha": 1.0,
    "max_features": 500_000,
}


def build_pipeline(target: str, params: dict[str, Any]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import FeatureUnion, Pipeline

    p = {**DEFAULT_PARAMS, **params}

    def tfidf(analyzer: str, ngrams: list[int]) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=tuple(ngrams),
            min_df=p["min_df"],
            sublinear_tf=True,
            max_features=p["max_features"],
            dtype=np.float32,
        )

    features = FeatureUnion(
        [("chars", tfidf("char_wb", p["char_ngrams"])), ("words", tfidf("word", p["word_ngrams"]))]
    )
    model = (
        Ridge(alpha=p["alpha"])
        if target == "regression"
        else LogisticRegression(C=p["C"], max_iter=2000, class_weight="balanced")
    )
    return Pipeline([("features", features), ("model", model)])


class TfidfScorer:
    """Scores texts with a fitted TF-IDF pipeline; class columns follow ``card.labels`` order."""

    def __init__(self, model_path: str | Path, card: ClassifierCard) -> None:
        import joblib

        self.pipeline = joblib.load(model_path)
        self.card = card
        self.task = card.task

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        if self.card.target == "regression":
            return np.asarray(self.pipeline.predict(list(texts)), dtype=np.float64).reshape(-1, 1)
        raw = self.pipeline.predict_proba(list(texts))
        order = [list(self.pipeline.classes_).index(label) for label in self.card.labels]
        return raw[:, order]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.card.scores(self.proba(texts))


def train_tfidf(
    texts: Sequence[str], labels: Sequence[Any], target: str, output_dir: Path, params: dict[str, Any]
) -> str:
    """Fit the pipeline (string labels, or floats for regression); write ``model.joblib`` atomically."""
    import joblib

    pipeline = build_pipeline(target, params)
    pipeline.fit(list(texts), np.asarray(labels))
    buf = bytes_io.BytesIO()
    joblib.dump(pipeline, buf)
    io.write_bytes(output_dir / MODEL_FILE, buf.getvalue())
    return MODEL_FILE
