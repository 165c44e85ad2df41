"""The ``classifier.json`` card beside a trained model, and how class probabilities become one score.

A score is always one float per document:

- ``binary``: probability of the positive label;
- ``classes`` with numeric labels (e.g. 0-5): expected value, sum of p(label) * label;
- ``classes`` with names: probability of ``positive_label``;
- ``regression``: the predicted value.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curation.core import io
from curation.core.errors import CurationError
from curation.core.schema import CLASSIFIER_CARD

TARGETS = ("binary", "classes", "regression")
POSITIVE_NAMES = ("1", "true", "yes", "pos", "positive", "toxic", "hq", "high")
SCORE_DEFINITIONS = {
    "binary": "probability of the positive label",
    "classes": "expected value of the numeric label",
    "classes-named": "probability of positive_label",
    "regression": "predicted value",
}


def is_numeric(labels: list[str]) -> bool:
    try:
        [float(label) for label in labels]
    except ValueError:
        return False
    return True


def guess_positive(labels: list[str]) -> str:
    """The positive label of a binary label set: a known positive name, else the larger numeric label."""
    for label in labels:
        if label.lower() in POSITIVE_NAMES:
            return label
    if is_numeric(labels):
        return max(labels, key=float)
    raise CurationError(
        f"cannot tell the positive label among {labels}: set positive_label in {CLASSIFIER_CARD}"
    )


@dataclass
class ClassifierCard:
    """What a model predicts and how its output becomes the ``<task>_score`` column."""

    task: str
    backend: str
    target: str
    labels: list[str] = field(default_factory=list)
    positive_label: str | None = None
    model_file: str = ""
    score: str = ""
    created_at: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise CurationError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.target == "binary" and self.positive_label is None:
            self.positive_label = guess_positive(self.labels)
        named = self.target == "classes" and not is_numeric(self.labels)
        if named and self.positive_label is None:
            raise CurationError(f"named classes {self.labels} need positive_label")
        self.score = self.score or SCORE_DEFINITIONS["classes-named" if named else self.target]
        self.created_at = self.created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CLASSIFIER_CARD
        io.write_json(path, asdict(self))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> ClassifierCard:
        path = Path(directory) / CLASSIFIER_CARD
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise CurationError(f"unreadable classifier card {path}: {exc}") from exc

    def scores(self, proba: np.ndarray) -> np.ndarray:
        """Turn class probabilities (columns in ``self.labels`` order) into one score per row."""
        if self.target == "regression":
            return proba.reshape(-1).astype(np.float32)
        if self.positive_label is not None:
            return proba[:, self.labels.index(self.positive_label)].astype(np.float32)
        values = np.array([float(label) for label in self.labels])
        return (proba @ values).astype(np.float32)
