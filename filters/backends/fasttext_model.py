"""fastText backend: supervised ``.bin``/``.ftz`` models, trained here or anywhere else.

Texts are flattened to one line (fastText reads line by line). Training uses a fixed seed; on very small
data fastText can diverge (``Encountered NaN``): training is then retried at half the learning rate, a few
times, with a warning, and reported as a user error naming the cause if it still diverges.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curation.core.errors import CurationError
from curation.filters.card import ClassifierCard, is_numeric

log = logging.getLogger(__name__)

LABEL_PREFIX = "__label__"
NAN_RETRIES = 3  # halvings of the learning rate after fastText diverges
MODEL_FILE = "model.bin"
# character 2-5 grams plus word bigrams: the setting that works for short, noisy web text
DEFAULT_PARAMS: dict[str, Any] = {
    "lr": 0.5,
    "epoch": 5,
    "dim": 64,
    "minn": 2,
    "maxn": 5,
    "wordNgrams": 2,
    "minCount": 1,
    "bucket": 1_000_000,
    "loss": "softmax",
    "thread": 1,
    "seed": 0,
}


def train_halving_lr_on_nan(train: Callable[..., Any], lr: float, **kwargs: Any) -> Any:
    """``train(lr=lr, **kwargs)`` (a fastText trainer); when it diverges (``Encountered NaN``: a learning rate too
    high for the data), again at half the rate, up to ``NAN_RETRIES`` times."""
    attempt = 0
    while True:
        try:
            return train(lr=lr, **kwargs)
        except RuntimeError as exc:
            if "NaN" not in str(exc) or attempt == NAN_RETRIES:
                raise CurationError(
                    f"fastText training failed at lr {lr:g} ({exc}); on tiny data try thread=1"
                ) from exc
        log.warning("fastText diverged at lr %g; retrying at lr %g", lr, lr / 2)
        lr, attempt = lr / 2, attempt + 1


def one_line(text: str) -> str:
    return " ".join(text.split())


def _load(path: str | Path) -> Any:
    import fasttext

    return fasttext.load_model(str(path))


class FastTextScorer:
    """Scores texts with a fastText classifier; probabilities follow ``card.labels`` order."""

    def __init__(self, model_path: str | Path, card: ClassifierCard) -> None:
        self.model = _load(model_path)
        self.card = card
        self.task = card.task
        self._index = {LABEL_PREFIX + label: i for i, label in enumerate(card.labels)}

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        labels, probs = self.model.predict([one_line(t) for t in texts], k=-1, threshold=0.0)
        out = np.zeros((len(texts), len(self.card.labels)), dtype=np.float64)
        for row, (names, values) in enumerate(zip(labels, probs, strict=True)):
            for name, value in zip(names, values, strict=True):
                out[row, self._index[name]] = value
        return out

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.card.scores(self.proba(texts))


def card_from_model(model_path: str | Path, task: str) -> ClassifierCard:
    """A card for a fastText model trained elsewhere: labels from the model, score from the label set."""
    labels = [name.removeprefix(LABEL_PREFIX) for name in _load(model_path).get_labels()]
    numeric = is_numeric(labels)
    if numeric:
        labels = sorted(labels, key=float)
    target = "binary" if len(labels) == 2 else "classes"
    return ClassifierCard(
        task=task, backend="fasttext", target=target, labels=labels, model_file=Path(model_path).name
    )


def train_fasttext(
    texts: Sequence[str], labels: Sequence[str], output_dir: Path, params: dict[str, Any]
) -> str:
    """Train a supervised model on (text, label) pairs; write ``model.bin`` atomically; return its name."""
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        raise CurationError("the installed `fasttext` module cannot train (fasttext-predict shadows it)")
    settings = {**DEFAULT_PARAMS, **params}
    with tempfile.TemporaryDirectory() as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as f:
            for text, label in zip(texts, labels, strict=True):
                f.write(f"{LABEL_PREFIX}{label} {one_line(text)}\n")
        settings["input"], settings["verbose"] = train_file, 0
        model = train_halving_lr_on_nan(fasttext.train_supervised, **settings)
        tmp_model = os.path.join(str(output_dir), f".{MODEL_FILE}.tmp")
        model.save_model(tmp_model)
        os.replace(tmp_model, output_dir / MODEL_FILE)
    return MODEL_FILE
