"""Language pre-selection: decide from cheap signals whether a page can be in the target language at all.

Deliberately permissive: a page passes if *any* signal points at the target language (``<html lang>``,
``Content-Language``, Common Crawl's cld2 guess, or fastText on a quick plain-text rendering within its top-k
at a low probability). Only pages where every signal points elsewhere skip trafilatura.
"""

from __future__ import annotations

import re

from curation.builder.config import PreselectConfig
from curation.builder.lid import LanguageIdentifier
from curation.core.lang import UNDETERMINED, normalise

_SPLIT = re.compile(r"[,;\s]+")


def _codes(value: str) -> set[str]:
    return {normalise(tag) for tag in _SPLIT.split(value) if tag}


def preselect_reason(
    target: str,
    quick: str,
    html_lang: str,
    content_language: str,
    cc_languages: list[str],
    lid: LanguageIdentifier,
    cfg: PreselectConfig,
) -> tuple[str | None, str]:
    """(None if the page may be in ``target``, else the drop reason; the quick text's top language)."""
    guesses = lid.predict(quick, k=cfg.lid_top_k) if quick.strip() else []
    top = guesses[0][0] if guesses else UNDETERMINED
    if cfg.trust_markup and (
        target in _codes(html_lang)
        or target in _codes(content_language)
        or target in {c.lower() for c in cc_languages}
    ):
        return None, top
    if not guesses:
        return "preselect_no_text", top
    if any(code == target and prob >= cfg.min_target_prob for code, prob in guesses):
        return None, top
    return "preselect_other_language", top
