"""One interface for every classifier: ``load_scorer(path_or_id).score(texts) -> np.ndarray``.

A model is a directory written by ``curation classifier train`` (with ``classifier.json``), a fastText
``.bin``/``.ftz`` file, or a Hugging Face sequence-classification model (local directory or hub id). A spec
``TASK=MODEL`` names the task (and so the ``<task>_score`` column) of a model that has no card.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from curation.core import io
from curation.core.errors import CurationError
from curation.core.schema import CLASSIFIER_CARD
from curation.filters.card import ClassifierCard

FASTTEXT_SUFFIXES = (".bin", ".ftz")


class Scorer(Protocol):
    task: str
    card: ClassifierCard

    def score(self, texts: Sequence[str]) -> np.ndarray: ...


def split_spec(spec: str) -> tuple[str | None, str]:
    """``"edu=models/edu"`` -> ("edu", "models/edu"); a bare path or hub id has no task. A model on object
    storage (``s3://...``) is read from a local copy (made once per node)."""
    task, sep, target = spec.partition("=")
    if not (sep and task and "/" not in task):
        task, target = None, spec
    return task, io.local_mirror(target) if io.is_remote(target) else target


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~"))


def backend_of(spec: str) -> str:
    """Which backend a spec needs, without loading the model (``fasttext``, ``tfidf``, ``transformers``)."""
    path = Path(split_spec(spec)[1])
    if path.is_dir() and (path / CLASSIFIER_CARD).is_file():
        return ClassifierCard.load(path).backend
    if path.is_file() and path.suffix in FASTTEXT_SUFFIXES:
        return "fasttext"
    if (path.is_dir() and (path / "config.json").is_file()) or (
        not path.exists() and _looks_like_hub_id(str(path))
    ):
        return "transformers"
    raise CurationError(f"not a classifier (card dir, .bin/.ftz, HF model dir or hub id): {path}")


def load_scorer(
    spec: str, task: str | None = None, batch_size: int = 32, device: str | None = None
) -> Scorer:
    """Load the model named by ``spec`` (``[TASK=]PATH_OR_HUB_ID``) behind the common Scorer interface."""
    from curation.filters.backends import fasttext_model, hf_model, tfidf_model

    spec_task, target = split_spec(spec)
    task = task or spec_task
    path = Path(target)
    backend = backend_of(target)
    if (path / CLASSIFIER_CARD).is_file():
        card = ClassifierCard.load(path)
        card.task = task or card.task
        model_path = path / card.model_file
        if backend == "fasttext":
            return fasttext_model.FastTextScorer(model_path, card)
        if backend == "tfidf":
            return tfidf_model.TfidfScorer(model_path, card)
        if backend == "transformers":
            return hf_model.TransformersScorer(str(model_path), card, batch_size=batch_size, device=device)
        raise CurationError(f"unknown backend {backend!r} in {path / CLASSIFIER_CARD}")
    if backend == "fasttext":
        return fasttext_model.FastTextScorer(path, fasttext_model.card_from_model(path, task or path.stem))
    return hf_model.TransformersScorer(target, task=task, batch_size=batch_size, device=device)
